package main

import (
	"context"
	"fmt"
	"sync"
	"time"

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
			"served too. Prints \"seeding KEY\" for each key, \"drive KEY\" once a key is\n" +
			"known to be a drive, and \"synced KEY length=L\" whenever every block up to a\n" +
			"new length L is stored.",
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
			seedKey(ctx, n, sess.Core, key, out)
		}()
	}
	<-ctx.Done()
	return nil
}

// seedKey waits for the core's first block and, if it is a hyperbee
// header, opens the core as a drive with eager downloads so its blobs core
// is fetched and served as well. Then it prints "synced KEY length=L" each
// time every block of the core (and of the blobs core) is stored at a new
// length. It returns when ctx ends.
func seedKey(ctx context.Context, n *peerNode, core *hypercore.Core, key [32]byte, out *lockedWriter) {
	zkey := keyid.ZBase32Encode(key[:])
	b, err := core.Get(ctx, 0, hypercore.GetOptions{Wait: true})
	if err != nil {
		return
	}
	cores := []*hypercore.Core{core}
	if _, err := hyperbee.DecodeHeader(b); err == nil {
		d, err := hyperdrive.Open(ctx, n.store, key[:], &hyperdrive.Options{Eager: true})
		if err != nil {
			n.log.Warn("opening the drive", "key", zkey, "err", err)
			return
		}
		defer d.Close()
		blobs, err := d.Blobs(ctx)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("opening the drive's blobs", "key", zkey, "err", err)
			}
			return
		}
		out.printf("drive %s\n", zkey)
		cores = append(cores, blobs.Core())
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var reported uint64
	for {
		complete := true
		for _, c := range cores {
			if c.Length() == 0 || c.ContiguousLength() != c.Length() {
				complete = false
			}
		}
		if l := core.Length(); complete && l != reported {
			reported = l
			out.printf("synced %s length=%d\n", zkey, l)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
