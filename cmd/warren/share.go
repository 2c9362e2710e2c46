package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/hyperdrive"
	"github.com/warrenp2p/warren/keyid"
	"github.com/warrenp2p/warren/swarm"
)

// peerNode is what share, clone, seed, ls and cat run on: the corestore of
// the storage directory, replicated over every connection of a swarm on
// a HyperDHT node. Close releases all of it.
type peerNode struct {
	store *corestore.Store
	dht   *hyperdht.DHT
	sw    *swarm.Swarm
	log   *slog.Logger

	ctx    context.Context // ends the accept loop and replications
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	reps    map[*corestore.Replication]struct{}
	fetched map[[32]byte]uint64 // blocks received per discovery key from ended replications
}

// errStorageBusy is what a second warren process on one storage directory
// gets: the corestore is locked by the first.
var errStorageBusy = errors.New("the storage directory is in use by another warren process (give this one its own --storage)")

// openStore opens the corestore of the storage directory.
func openStore(g *globals) (*corestore.Store, error) {
	dir, err := g.storageDir()
	if err != nil {
		return nil, err
	}
	store, err := corestore.Open(filepath.Join(dir, "corestore"), nil)
	if errors.Is(err, corestore.ErrLocked) {
		return nil, errStorageBusy
	}
	if err != nil {
		return nil, fmt.Errorf("opening the corestore: %w", err)
	}
	return store, nil
}

// openPeerNode opens the store, joins the DHT and starts a swarm whose
// every connection replicates the store.
func openPeerNode(ctx context.Context, g *globals) (*peerNode, error) {
	store, err := openStore(g)
	if err != nil {
		return nil, err
	}
	d, err := g.openDHT(ctx)
	if err != nil {
		store.Close()
		return nil, err
	}
	log := g.logger()
	sw, err := swarm.New(&swarm.Config{DHT: d, Logger: log.With("part", "swarm")})
	if err != nil {
		d.Close()
		store.Close()
		return nil, err
	}
	n := &peerNode{store: store, dht: d, sw: sw, log: log,
		reps: map[*corestore.Replication]struct{}{}, fetched: map[[32]byte]uint64{}}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(1)
	go n.acceptLoop()
	return n, nil
}

func (n *peerNode) acceptLoop() {
	defer n.wg.Done()
	for {
		c, err := n.sw.Accept(n.ctx)
		if err != nil {
			return
		}
		n.wg.Add(1)
		go n.replicate(c)
	}
}

// replicate runs the store's replication on one swarm connection until it
// ends.
func (n *peerNode) replicate(c *swarm.Conn) {
	defer n.wg.Done()
	peer := keyid.ZBase32Encode(c.Info.PublicKey)
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	rep, err := n.store.Replicate(ctx, c.Conn)
	cancel()
	if err != nil {
		n.log.Debug("replication did not start", "peer", peer, "err", err)
		c.Close()
		return
	}
	n.log.Debug("replicating", "peer", peer, "client", c.IsClient())
	n.mu.Lock()
	n.reps[rep] = struct{}{}
	n.mu.Unlock()
	select {
	case <-rep.Done():
	case <-c.Done():
	case <-n.ctx.Done():
	}
	rep.Close()
	c.Close()
	n.mu.Lock()
	delete(n.reps, rep)
	n.mu.Unlock()
	n.log.Debug("replication ended", "peer", peer)
}

// peers is the number of open swarm connections.
func (n *peerNode) peers() int { return len(n.sw.Connections()) }

// hasPeer reports whether some connection replicates the core with
// discovery key dk.
func (n *peerNode) hasPeer(dk [32]byte) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for rep := range n.reps {
		if rep.Peer(dk) != nil {
			return true
		}
	}
	return false
}

// blocksFetched sums the blocks received for the cores with the given
// discovery keys over the live replications.
func (n *peerNode) blocksFetched(dks ...[32]byte) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	var total uint64
	for rep := range n.reps {
		for _, dk := range dks {
			if p := rep.Peer(dk); p != nil {
				total += p.Stats().Blocks
			}
		}
	}
	return total
}

// Close leaves the swarm, ends the replications and closes the store and
// the DHT node.
func (n *peerNode) Close() error {
	n.cancel()
	err := n.sw.Close()
	n.wg.Wait()
	if cerr := n.store.Close(); err == nil {
		err = cerr
	}
	n.dht.Close()
	return err
}

// join announces (server) and/or looks up (client) a drive's or core's
// discovery key, as hyperdrive apps do with swarm.join(drive.discoveryKey).
func (n *peerNode) join(dk [32]byte, server, client bool) (*swarm.Discovery, error) {
	return n.sw.Join(dk, &swarm.JoinOptions{Server: server, Client: client})
}

// waitSynced waits until a peer replicates the core with discovery key dk
// and our copy has its length: a core that was empty here has taken the
// peer's first upgrade (which covers the peer's whole length); one we held
// before gets settle for a newer length to arrive.
func waitSynced(ctx context.Context, n *peerNode, core interface{ Length() uint64 }, dk [32]byte, settle time.Duration) error {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	var since time.Time
	start := core.Length()
	for {
		if n.hasPeer(dk) {
			if since.IsZero() {
				since = time.Now()
			}
			l := core.Length()
			if (start == 0 && l > 0) || (start > 0 && (l != start || time.Since(since) >= settle)) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func newShareCmd(g *globals) *cobra.Command {
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "share DIR",
		Short: "Share a folder as a hyperdrive, publishing changes live",
		Long: "share mirrors DIR into a hyperdrive kept in the storage directory (the same folder\n" +
			"gets the same drive key on every run), announces the drive on the swarm under its\n" +
			"discovery key and serves it to every peer that connects. The first line on stdout\n" +
			"is the drive key (z-base32); then \"ready version=V files=N bytes=B\" once the\n" +
			"folder is mirrored and announced, and \"version V\" for every change published.\n\n" +
			"The folder is polled every --interval (no inotify): files whose size, mode or\n" +
			"modification time changed are mirrored into the drive, and deleted files are\n" +
			"deleted from it. Ctrl-C stops sharing.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return fmt.Errorf("invalid --interval %v", interval)
			}
			return runShare(cmd, g, args[0], interval)
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often the folder is checked for changes")
	return cmd
}

// shareNamespace is the corestore namespace of shared folders' drives; each
// folder's drive lives in a namespace named by its absolute path below it.
const shareNamespace = "warren/share"

func runShare(cmd *cobra.Command, g *globals, dir string, interval time.Duration) error {
	ctx := cmd.Context()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(abs); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	local, err := hyperdrive.NewLocalDir(abs)
	if err != nil {
		return err
	}
	n, err := openPeerNode(ctx, g)
	if err != nil {
		return err
	}
	defer n.Close()
	drive, err := hyperdrive.Open(ctx, n.store.Namespace(shareNamespace).Namespace(abs), nil, nil)
	if err != nil {
		return fmt.Errorf("opening the drive: %w", err)
	}
	defer drive.Close()
	key := drive.Key()
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, keyid.ZBase32Encode(key[:]))

	// A storage directory inside the shared folder is not shared.
	var ignore []string
	if sd, err := g.storageDir(); err == nil {
		if sa, err := filepath.Abs(sd); err == nil {
			if rel, err := filepath.Rel(abs, sa); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
				ignore = []string{"/" + filepath.ToSlash(rel)}
			}
		}
	}
	snap, err := scanFolder(abs, ignore)
	if err != nil {
		return err
	}
	pr := newProgress(cmd.ErrOrStderr(), "sharing", n.peers)
	pr.setTotals(int64(len(snap)), snap.bytes())
	pr.begin()
	_, err = hyperdrive.Mirror(ctx, countingFS{local, pr}, drive, &hyperdrive.MirrorOptions{Prune: true, Ignore: ignore})
	if err == nil {
		pr.files.Store(int64(len(snap))) // symlinks and unchanged files are not read
	}
	pr.end()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("mirroring %s into the drive: %w", dir, err)
	}
	if _, err := n.join(drive.DiscoveryKey(), true, true); err != nil {
		return err
	}
	if err := n.sw.Flush(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("announcing the drive", "err", err)
	}
	if ctx.Err() != nil {
		return nil
	}
	fmt.Fprintf(out, "ready version=%d files=%d bytes=%d\n", drive.Version(), len(snap), snap.bytes())
	g.logger().Info("sharing", "dir", abs, "key", keyid.ZBase32Encode(key[:]))

	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		next, err := scanFolder(abs, ignore)
		if err != nil {
			n.log.Warn("scanning the folder", "err", err)
			continue
		}
		changed, removed := snap.diff(next)
		if len(changed) == 0 && len(removed) == 0 {
			continue
		}
		if err := publish(ctx, local, drive, changed, removed); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// A file changing while it is read fails the mirror of that
			// round; the next scan sees it again.
			n.log.Warn("publishing changes", "err", err)
			continue
		}
		snap = next
		fmt.Fprintf(out, "version %d\n", drive.Version())
	}
}

// publish writes the changed files into the drive and deletes the removed
// ones.
func publish(ctx context.Context, local *hyperdrive.LocalDir, drive *hyperdrive.Drive, changed, removed []string) error {
	for _, k := range removed {
		if err := drive.Del(ctx, k); err != nil {
			return err
		}
	}
	if len(changed) == 0 {
		return nil
	}
	set := make(map[string]bool, len(changed))
	for _, k := range changed {
		set[k] = true
	}
	_, err := hyperdrive.Mirror(ctx, local, drive, &hyperdrive.MirrorOptions{Filter: func(k string) bool { return set[k] }})
	return err
}

// fileState is what a scan remembers of a file to notice changes.
type fileState struct {
	size  int64
	mtime int64 // UnixNano
	mode  fs.FileMode
}

// folderSnap maps drive keys ("/a/b.txt") to file states.
type folderSnap map[string]fileState

// scanFolder records every regular file and symlink below root, as
// hyperdrive.LocalDir lists them (folders are not entries, symlinked
// folders are not followed), except below the keys in ignore.
func scanFolder(root string, ignore []string) (folderSnap, error) {
	snap := folderSnap{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if len(ignore) > 0 && p != root {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			key := "/" + filepath.ToSlash(rel)
			for _, ig := range ignore {
				if key == ig || strings.HasPrefix(key, ig+"/") {
					if d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
			}
		}
		if strings.Contains(d.Name(), tempSuffix) {
			return nil // a clone's temporary file, which LocalDir skips too
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		snap["/"+filepath.ToSlash(rel)] = fileState{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
		return nil
	})
	return snap, err
}

func (s folderSnap) bytes() int64 {
	var n int64
	for _, f := range s {
		if f.mode.IsRegular() {
			n += f.size
		}
	}
	return n
}

// diff returns the keys new or changed in next and the keys gone from it,
// sorted.
func (s folderSnap) diff(next folderSnap) (changed, removed []string) {
	for k, f := range next {
		if old, ok := s[k]; !ok || old != f {
			changed = append(changed, k)
		}
	}
	for k := range s {
		if _, ok := next[k]; !ok {
			removed = append(removed, k)
		}
	}
	sort.Strings(changed)
	sort.Strings(removed)
	return changed, removed
}

// discoveryKeyOf is the discovery key of a core key.
func discoveryKeyOf(key [32]byte) [32]byte { return crypto.DiscoveryKey(key) }
