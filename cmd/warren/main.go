// Command warren is the one binary of the Warren peer-to-peer stack: every
// user-facing job is a subcommand.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit code. Ctrl-C and
// SIGTERM cancel the commands' context: they close what they opened and
// end with status 0. A second signal kills the process.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal gets the default behaviour
	}()
	root := newRootCmd()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "warren:", err)
		return 1
	}
	return 0
}
