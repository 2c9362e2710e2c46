package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenp2p/warren/hyperdht"
)

func newDHTCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dht",
		Short: "Run HyperDHT nodes",
	}
	cmd.AddCommand(newDHTBootstrapCmd(g), newDHTNodeCmd(g))
	return cmd
}

func newDHTBootstrapCmd(g *globals) *cobra.Command {
	var host string
	var port uint16
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Run a bootstrap node others join the network through",
		Long: "Run a persistent HyperDHT node at --host:--port that other nodes bootstrap from\n" +
			"(pass it to them with --bootstrap host:port). It prints `listening host:port`\n" +
			"on stdout and logs its table size and request counts at info level.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := netip.ParseAddr(host)
			if err != nil || !addr.Is4() || addr.IsUnspecified() {
				return fmt.Errorf("--host must be a concrete IPv4 address, not %q", host)
			}
			cfg, err := g.dhtConfig()
			if err != nil {
				return err
			}
			cfg.DHT.Bootstrap = nil
			cfg.DHT.Host = host
			d, err := hyperdht.NewBootstrapper(host, port, cfg)
			if err != nil {
				return fmt.Errorf("starting the bootstrap node: %w", err)
			}
			defer d.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "listening %s\n", d.Node().LocalAddr())
			runNode(cmd.Context(), g, d, every)
			return nil
		},
	}
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "IPv4 address to bind and announce (the address others reach it at)")
	cmd.Flags().Uint16Var(&port, "port", 49737, "UDP port")
	cmd.Flags().DurationVar(&every, "stats-interval", time.Minute, "how often to log stats at info level")
	return cmd
}

func newDHTNodeCmd(g *globals) *cobra.Command {
	var host string
	var port uint16
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a long-lived DHT node",
		Long: "Run a HyperDHT node that joins the network through --bootstrap and helps it: it\n" +
			"starts ephemeral and becomes persistent once it proves reachable and stable.\n" +
			"It prints `listening host:port` on stdout and logs stats at info level.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.dhtConfig()
			if err != nil {
				return err
			}
			if host != "" {
				cfg.DHT.Host = host
			}
			cfg.DHT.Port = port
			d, err := g.openDHTWith(cmd.Context(), cfg)
			if err != nil {
				if cmd.Context().Err() != nil {
					return nil
				}
				return err
			}
			defer d.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "listening %s\n", d.Node().LocalAddr())
			runNode(cmd.Context(), g, d, every)
			return nil
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "IPv4 address to bind (default: all interfaces, or 127.0.0.1 when every bootstrap node is on loopback)")
	cmd.Flags().Uint16Var(&port, "port", 0, "preferred UDP port (default any)")
	cmd.Flags().DurationVar(&every, "stats-interval", time.Minute, "how often to log stats at info level")
	return cmd
}

// runNode logs d's stats every interval until ctx ends.
func runNode(ctx context.Context, g *globals, d *hyperdht.DHT, every time.Duration) {
	log := g.logger()
	n := d.Node()
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	persistent := n.Persistent()
	for {
		select {
		case <-ctx.Done():
			log.Info("closing the node")
			return
		case <-persistent:
			log.Info("node is persistent", "public", n.PublicAddr())
			persistent = nil
		case <-t.C:
			s := n.Stats()
			log.Info("stats", "nodes", len(n.Nodes()), "ephemeral", n.Ephemeral(), "firewalled", n.Firewalled(),
				"requests_received", s.RequestsReceived, "requests_sent", s.RequestsSent,
				"responses", s.Responses, "timeouts", s.Timeouts)
		}
	}
}
