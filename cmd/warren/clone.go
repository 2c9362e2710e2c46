package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenp2p/warren/hyperdrive"
	"github.com/warrenp2p/warren/keyid"
)

// errInterrupted is clone's error when Ctrl-C ends it before the copy is
// complete: what was fetched stays in the storage directory for the next
// run.
var errInterrupted = errors.New("interrupted before the copy was complete (run clone again to resume)")

// syncSettle is how long a command that already held a version of a drive
// waits, once a peer is replicating it, for a newer version to arrive.
const syncSettle = 2 * time.Second

func newCloneCmd(g *globals) *cobra.Command {
	var live, prune bool
	cmd := &cobra.Command{
		Use:   "clone KEY [DIR]",
		Short: "Download a hyperdrive into a folder",
		Long: "clone finds peers sharing the drive KEY (hex or z-base32) on the swarm and\n" +
			"downloads it into DIR (default: the key in z-base32), verifying every block.\n" +
			"Progress (files, bytes, rate, peers) goes to stderr: one line redrawn on a\n" +
			"terminal, a plain line every few seconds otherwise. Every block is kept in\n" +
			"the storage directory's corestore and every file is written atomically, so an\n" +
			"interrupted clone resumes where it stopped when run again. When the copy is\n" +
			"complete it prints \"cloned version=V files=N bytes=B fetched-blocks=K\" on\n" +
			"stdout and exits 0; with --live it keeps following the drive and prints\n" +
			"\"updated version=V changed=N removed=M\" for each new version mirrored.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseKey(args[0])
			if err != nil {
				return err
			}
			dir := keyid.ZBase32Encode(key[:])
			if len(args) == 2 {
				dir = args[1]
			}
			return runClone(cmd, g, key, dir, live, prune)
		},
	}
	cmd.Flags().BoolVar(&live, "live", false, "keep following the drive and mirror every new version")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete files in DIR that the drive does not have")
	return cmd
}

// parseKey reads a 32-byte key in hex or z-base32.
func parseKey(s string) ([32]byte, error) {
	var key [32]byte
	b, err := keyid.Decode(s)
	if err != nil {
		return key, fmt.Errorf("invalid key %q (want 64 hex digits or 52 z-base32 characters)", s)
	}
	copy(key[:], b)
	return key, nil
}

func runClone(cmd *cobra.Command, g *globals, key [32]byte, dir string, live, prune bool) error {
	ctx := cmd.Context()
	local, err := hyperdrive.NewLocalDir(dir)
	if err != nil {
		return err
	}
	n, err := openPeerNode(ctx, g)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := removeStaleTemps(local.Root()); err != nil {
		return err
	}
	drive, err := hyperdrive.Open(ctx, n.store, key[:], nil)
	if err != nil {
		return fmt.Errorf("opening the drive: %w", err)
	}
	defer drive.Close()
	dk := drive.DiscoveryKey()
	if _, err := n.join(dk, false, true); err != nil {
		return err
	}
	pr := newProgress(cmd.ErrOrStderr(), "cloning", n.peers)
	pr.begin()
	c := &cloner{n: n, drive: drive, local: local, pr: pr}
	err = waitSynced(ctx, n, drive.Core(), dk, syncSettle)
	if err == nil {
		err = c.full(ctx, prune)
	}
	// Versions published while we mirrored.
	for err == nil && drive.Version() != c.version {
		err = c.update(ctx)
	}
	pr.end()
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "cloned version=%d files=%d bytes=%d fetched-blocks=%d\n",
		c.version, c.files, c.bytes, c.fetched(ctx))
	if !live {
		return nil
	}
	for {
		if err := drive.WaitVersion(ctx, c.version+1); err != nil {
			return nil // Ctrl-C: the last version is complete on disk
		}
		if err := c.update(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		fmt.Fprintf(out, "updated version=%d changed=%d removed=%d\n", c.version, c.changed, c.removed)
	}
}

// tempSuffix ends the names of the temporary files hyperdrive.LocalDir
// writes a file to before renaming it into place.
const tempSuffix = ".warren-tmp"

// removeStaleTemps deletes the temporary files a killed clone left in dir
// (".name.NNNN.warren-tmp"): their content is in the corestore, and the
// file is written again.
func removeStaleTemps(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		name := d.Name()
		if !d.IsDir() && strings.HasPrefix(name, ".") && strings.HasSuffix(name, tempSuffix) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cleaning %s: %w", dir, err)
	}
	return nil
}

// cloner mirrors a drive into a local folder, first in full, then version
// by version.
type cloner struct {
	n     *peerNode
	drive *hyperdrive.Drive
	local *hyperdrive.LocalDir
	pr    *progress

	version          uint64 // the version the folder holds
	files            int64
	bytes            int64
	changed, removed int // of the last update
}

// full mirrors the drive's current version: the whole drive is fetched in
// the background (runs of blobs as ranges, from every peer at once) while
// the mirror writes files out in order as their blocks arrive.
func (c *cloner) full(ctx context.Context, prune bool) error {
	snap := c.drive.Checkout(c.drive.Version())
	var files, bytes int64
	for e, err := range snap.List(ctx, "/", true) {
		if err != nil {
			return err
		}
		files++
		bytes += int64(e.Size())
	}
	c.pr.reset(files, bytes)
	dctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := snap.Download(dctx, "/"); err != nil && dctx.Err() == nil {
			c.n.log.Debug("prefetch", "err", err)
		}
	}()
	err := c.mirrorParallel(ctx, snap, prune)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	c.version, c.files, c.bytes = snap.Version(), files, bytes
	return nil
}

// mirrorWorkers is how many mirrors write files out at once: each file is
// written to a temporary file, synced and renamed, and with several at
// once the syncs of small files overlap each other and the download of
// large ones.
const mirrorWorkers = 4

// mirrorParallel mirrors snap into the folder with mirrorWorkers mirrors,
// each taking the keys that hash to it; the first also prunes.
func (c *cloner) mirrorParallel(ctx context.Context, snap *hyperdrive.Drive, prune bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, mirrorWorkers)
	for w := range mirrorWorkers {
		go func() {
			opts := &hyperdrive.MirrorOptions{
				Prune:  prune && w == 0,
				Filter: func(k string) bool { return keyWorker(k) == w },
			}
			_, err := hyperdrive.Mirror(ctx, countingFS{snap, c.pr}, c.local, opts)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for range mirrorWorkers {
		if err := <-errs; err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	return first
}

// keyWorker spreads keys over the mirror workers (FNV-1a).
func keyWorker(k string) int {
	h := uint32(2166136261)
	for i := 0; i < len(k); i++ {
		h ^= uint32(k[i])
		h *= 16777619
	}
	return int(h % mirrorWorkers)
}

// update mirrors what changed between the version the folder holds and the
// drive's current one: changed files are written, deleted ones removed.
func (c *cloner) update(ctx context.Context) error {
	cur := c.drive.Checkout(c.drive.Version())
	var changed []string
	removed := 0
	for de, err := range cur.Diff(ctx, c.version, "/") {
		if err != nil {
			return err
		}
		if de.Left == nil {
			if err := c.local.Del(ctx, de.Key); err != nil {
				return err
			}
			removed++
			continue
		}
		changed = append(changed, de.Key)
	}
	if len(changed) > 0 {
		set := make(map[string]bool, len(changed))
		for _, k := range changed {
			set[k] = true
		}
		if _, err := hyperdrive.Mirror(ctx, countingFS{cur, c.pr}, c.local,
			&hyperdrive.MirrorOptions{Filter: func(k string) bool { return set[k] }}); err != nil {
			return err
		}
	}
	var files, bytes int64
	for e, err := range cur.List(ctx, "/", true) {
		if err != nil {
			return err
		}
		files++
		bytes += int64(e.Size())
	}
	c.version, c.files, c.bytes = cur.Version(), files, bytes
	c.changed, c.removed = len(changed), removed
	return nil
}

// fetched counts the blocks of the drive's two cores received from peers in
// this run.
func (c *cloner) fetched(ctx context.Context) uint64 {
	dks := [][32]byte{c.drive.DiscoveryKey()}
	if ck, err := c.drive.ContentKey(ctx); err == nil {
		dks = append(dks, discoveryKeyOf(ck))
	}
	return c.n.blocksFetched(dks...)
}

// countingFS is a mirror source whose file contents are counted into a
// progress display as they are read.
type countingFS struct {
	hyperdrive.FS
	p *progress
}

func (c countingFS) OpenEntry(ctx context.Context, e *hyperdrive.Entry) (io.ReadCloser, error) {
	r, err := c.FS.OpenEntry(ctx, e)
	if err != nil {
		return nil, err
	}
	return &countingReader{r: r, p: c.p}, nil
}
