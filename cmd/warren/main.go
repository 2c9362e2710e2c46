// Command warren is the one binary of the Warren peer-to-peer stack: every
// user-facing job is a subcommand.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "warren:", err)
		os.Exit(1)
	}
}
