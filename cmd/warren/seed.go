package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/hyperbee"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/hyperdrive"
	"github.com/warrenp2p/warren/keyid"
)

func newSeedCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "seed KEY...",
		Short: "Keep hyperdrives or hypercores fully downloaded and serve them",
		Long: "seed opens each KEY (hex or z-base32) in the storage directory's corestore,\n" +
			"joins its discovery key on the swarm as client and server, downloads every\n" +
			"block its peers have and serves them, until Ctrl-C. A key whose first block is\n" +
			"a hyperbee header is seeded as a hyperdrive: its blobs core is downloaded and\n" +
			"served too. Prints \"seeding KEY\" for each key, then \"drive KEY\" once a key\n" +
			"is known to be a drive.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var keys [][32]byte
			for _, a := range args {
				k, err := parseKey(a)
				if err != nil {
					return err
				}
				keys = append(keys, k)
			}
			return runSeed(cmd, g, keys)
		},
	}
}

func runSeed(cmd *cobra.Command, g *globals, keys [][32]byte) error {
	ctx := cmd.Context()
	n, err := openPeerNode(ctx, g)
	if err != nil {
		return err
	}
	defer n.Close()
	out := &lockedWriter{w: cmd.OutOrStdout()}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, key := range keys {
		// The core is opened eagerly (not sparse): every block peers
		// have is fetched, and kept open by the store until Close.
		sess, err := n.store.Get(ctx, corestore.GetOptions{Key: key[:]})
		if err != nil {
			return fmt.Errorf("opening %s: %w", keyid.ZBase32Encode(key[:]), err)
		}
		defer sess.Close()
		if _, err := n.join(sess.DiscoveryKey(), true, true); err != nil {
			return err
		}
		out.printf("seeding %s\n", keyid.ZBase32Encode(key[:]))
		wg.Add(1)
		go func() {
			defer wg.Done()
			seedDrive(ctx, n, sess.Core, key, out)
		}()
	}
	<-ctx.Done()
	return nil
}

// seedDrive waits for the core's first block and, if it is a hyperbee
// header, opens the core as a drive with eager downloads so its blobs core
// is fetched and served as well. It returns when ctx ends.
func seedDrive(ctx context.Context, n *peerNode, core *hypercore.Core, key [32]byte, out *lockedWriter) {
	b, err := core.Get(ctx, 0, hypercore.GetOptions{Wait: true})
	if err != nil {
		return
	}
	if _, err := hyperbee.DecodeHeader(b); err != nil {
		return // a plain core
	}
	d, err := hyperdrive.Open(ctx, n.store, key[:], &hyperdrive.Options{Eager: true})
	if err != nil {
		n.log.Warn("opening the drive", "key", keyid.ZBase32Encode(key[:]), "err", err)
		return
	}
	defer d.Close()
	if _, err := d.Blobs(ctx); err != nil {
		if ctx.Err() == nil {
			n.log.Warn("opening the drive's blobs", "key", keyid.ZBase32Encode(key[:]), "err", err)
		}
		return
	}
	out.printf("drive %s\n", keyid.ZBase32Encode(key[:]))
	<-ctx.Done()
}
