package swarm

import (
	"log/slog"
	"os"
)

// dbgLogger logs the swarm's debug messages to stderr when SWARM_DEBUG is set.
var dbgLogger = func() *slog.Logger {
	if os.Getenv("SWARM_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}()
