package swarm

import (
	"log/slog"
	"os"
	"sync/atomic"
)

// dbgLogger logs the swarm's debug messages to stderr when SWARM_DEBUG is set.
var dbgLogger = func() *slog.Logger {
	if os.Getenv("SWARM_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}()

var dhtNodes atomic.Int64

// dhtLogger logs a hyperdht node's debug messages to stderr, tagged with a
// node number, when DHT_DEBUG is set; nil otherwise.
func dhtLogger() *slog.Logger {
	if os.Getenv("DHT_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", dhtNodes.Add(1))
}
