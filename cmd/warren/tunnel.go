package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenp2p/warren/tunnel"
)

func newTunnelCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tunnel",
		Short: "Expose and reach TCP and UDP services by key (holesail compatible)",
		Long: "Tunnels carry TCP connections (or UDP datagrams, with --udp) over HyperDHT, end to\n" +
			"end encrypted, through NATs, compatible with holesail 2: `tunnel serve` exposes a\n" +
			"local port and prints a key, `tunnel connect KEY` opens a local port that reaches it.",
	}
	cmd.AddCommand(newTunnelServeCmd(g), newTunnelConnectCmd(g))
	return cmd
}

// startTimeout bounds joining the DHT and publishing or fetching the record.
const startTimeout = 60 * time.Second

func newTunnelServeCmd(g *globals) *cobra.Command {
	var (
		host, key       string
		port            int
		public, private bool
		force, udp      bool
	)
	cmd := &cobra.Command{
		Use:   "serve --port PORT",
		Short: "Expose a local TCP or UDP service; prints its connection key",
		Long: "Expose the TCP service at --host:--port to whoever holds the connection key,\n" +
			"printed on stdout: first the key (z-base-32), then the hs:// URL holesail takes.\n\n" +
			"--udp exposes a UDP service instead (as holesail --udp): the published record says\n" +
			"so, clients then forward datagrams, and each client sender gets its own socket to\n" +
			"the service; a sender's session ends after 2 minutes without a datagram.\n\n" +
			"Private mode (the default, as in holesail) hands out the seed of the server's key\n" +
			"pair and admits only clients using that key pair; --public hands out the public\n" +
			"key and admits anyone. --key SECRET keeps the same key across runs: the seed is\n" +
			"SHA-256(SECRET), as holesail --key (at least 32 characters unless --force).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if public && private {
				return errors.New("--public and --private exclude each other")
			}
			if port <= 0 || port > 65535 {
				return fmt.Errorf("--port: need the local service's port (1-65535), got %d", port)
			}
			priv := !public
			var seed []byte
			secret := key
			switch {
			case key != "":
				if err := tunnel.CheckSecret(key, force); err != nil {
					return err
				}
			case priv:
				var err error
				if secret, err = tunnel.NewSecret(); err != nil {
					return err
				}
			}
			if secret != "" {
				seed = tunnel.SeedFromSecret(secret)
			}
			ctx := cmd.Context()
			sctx, cancel := context.WithTimeout(ctx, startTimeout)
			defer cancel()
			d, err := g.openDHT(sctx)
			if err != nil {
				return quiet(ctx, err)
			}
			defer d.Close()
			srv, err := tunnel.Serve(sctx, d, tunnel.ServerConfig{
				Host: host, Port: port, Seed: seed, Private: priv, UDP: udp,
				Logger: g.logger().With("part", "tunnel"),
			})
			if err != nil {
				return quiet(ctx, err)
			}
			defer srv.Close()
			url := tunnel.URL(false, srv.Key())
			if priv {
				url = tunnel.URL(true, secret)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, srv.Key())
			fmt.Fprintln(out, url)
			mode := "public"
			if priv {
				mode = "private"
			}
			proto := "tcp"
			if udp {
				proto = "udp"
			}
			g.logger().Info("serving", "target", srv.Target(), "protocol", proto, "mode", mode)
			<-ctx.Done()
			g.logger().Info("closing the tunnel")
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 0, "port of the local TCP service to expose (required)")
	f.StringVar(&host, "host", "127.0.0.1", "host of the local TCP service")
	f.BoolVar(&public, "public", false, "anyone with the public key may connect")
	f.BoolVar(&private, "private", false, "only holders of the seed may connect (default)")
	f.StringVar(&key, "key", "", "secret the key pair is derived from (SHA-256), as holesail --key")
	f.BoolVar(&force, "force", false, "allow a --key shorter than 32 characters")
	f.BoolVar(&udp, "udp", false, "expose a UDP service instead of a TCP one")
	return cmd
}

func newTunnelConnectCmd(g *globals) *cobra.Command {
	var (
		host            string
		port            int
		public, private bool
		udp             bool
	)
	cmd := &cobra.Command{
		Use:   "connect KEY",
		Short: "Open a local TCP or UDP port forwarding to a served service",
		Long: "Listen on --host:--port and forward every connection to the tunnel server KEY\n" +
			"(a z-base-32 or hex key from `warren tunnel serve`, or a holesail hs:// URL).\n" +
			"If the server's record says it serves UDP (or with --udp), listen on a UDP port\n" +
			"instead and forward datagrams: each local sender gets its own connection to the\n" +
			"server, whose replies go back to it, until 2 minutes pass without a datagram.\n" +
			"Prints `listening host:port` on stdout. Without --port the port the server\n" +
			"published is used (else 8989), as holesail does; --port 0 picks a free one.\n" +
			"A bare key is tried as a private key first, then as a public key, unless\n" +
			"--private or --public says which it is.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if public && private {
				return errors.New("--public and --private exclude each other")
			}
			mode := tunnel.Auto
			if public {
				mode = tunnel.Public
			} else if private {
				mode = tunnel.Private
			}
			keys, err := tunnel.ParseKey(args[0], mode)
			if err != nil {
				return err
			}
			lport := port
			if !cmd.Flags().Changed("port") {
				lport = 0 // the record's port, else 8989
			} else if port == 0 {
				lport = -1 // any free port
			} else if port < 0 || port > 65535 {
				return fmt.Errorf("--port: invalid port %d", port)
			}
			cfg, err := g.dhtConfig()
			if err != nil {
				return err
			}
			if kp, ok := keys[0].KeyPair(); ok {
				cfg.KeyPair = &kp // a private server admits only its own key pair
			}
			ctx := cmd.Context()
			sctx, cancel := context.WithTimeout(ctx, startTimeout)
			defer cancel()
			d, err := g.openDHTWith(sctx, cfg)
			if err != nil {
				return quiet(ctx, err)
			}
			defer d.Close()
			k, rec, err := tunnel.Resolve(sctx, d, keys)
			if err != nil {
				return quiet(ctx, err)
			}
			if kp, ok := k.KeyPair(); ok && !kp.PublicKey.Equal(d.KeyPair().PublicKey) {
				// Another private reading of the key had the record: the
				// node must identify with its key pair (hyperdht's Connect
				// takes no per-call key pair), so it starts again with it.
				d.Close()
				cfg.KeyPair = &kp
				if d, err = g.openDHTWith(sctx, cfg); err != nil {
					return quiet(ctx, err)
				}
				defer d.Close()
			}
			if rec == nil {
				g.logger().Warn("the server published no host record; using defaults")
			} else {
				g.logger().Info("server record", "host", rec.Host, "port", rec.Port, "udp", rec.UDP, "private", k.Private())
			}
			cl, err := tunnel.Listen(sctx, d, tunnel.ClientConfig{
				Key: k, Record: rec, Host: host, Port: lport, UDP: udp,
				Logger: g.logger().With("part", "tunnel"),
			})
			if err != nil {
				return err
			}
			defer cl.Close()
			if cl.UDP() {
				g.logger().Info("forwarding UDP datagrams")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "listening %s\n", cl.Addr())
			<-ctx.Done()
			g.logger().Info("closing the tunnel")
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 0, "local port to listen on (default: the served port, else 8989; 0: any)")
	f.StringVar(&host, "host", "", "local address to listen on (default: the served host, else 127.0.0.1)")
	f.BoolVar(&public, "public", false, "KEY is a public key")
	f.BoolVar(&private, "private", false, "KEY is a private seed (or a holesail secret)")
	f.BoolVar(&udp, "udp", false, "forward UDP datagrams (default: what the server's record says)")
	return cmd
}

// quiet turns an error caused by Ctrl-C during start-up into a clean exit.
func quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
