package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = ""

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "warren",
		Short: "Warren: the Holepunch peer-to-peer stack in Go",
		Long: "Warren speaks the Holepunch wire protocols (HyperDHT, Hyperswarm, Hypercore, ...)\n" +
			"so that a Go node is a full member of the same peer-to-peer network.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g := &globals{}
	g.addFlags(root)
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return g.validate() }
	// One line per command; each gets the shared globals (see globals.go).
	root.AddCommand(newVersionCmd())
	root.AddCommand(newDHTCmd(g))
	root.AddCommand(newTunnelCmd(g))
	root.AddCommand(newKeysCmd(g))
	root.AddCommand(newShareCmd(g))
	root.AddCommand(newCloneCmd(g))
	root.AddCommand(newSeedCmd(g))
	root.AddCommand(newLsCmd(g))
	root.AddCommand(newCatCmd(g))
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the warren version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "warren %s (%s, %s/%s)\n",
				buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

// buildVersion reports the link-time version, else the module version or VCS
// revision recorded by the Go toolchain.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}
