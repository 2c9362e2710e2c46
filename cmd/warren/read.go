package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenp2p/warren/hyperdrive"
)

// readFlags are the flags ls and cat share.
type readFlags struct {
	timeout time.Duration
}

func (f *readFlags) add(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.timeout, "timeout", time.Minute, "give up when no peer serves the drive within this time (0: wait forever)")
}

// openRemoteDrive opens the drive key sparsely on a peer node, looks it up
// on the swarm and waits until a peer replicates it and we have its
// length. Only the blocks later reads touch are fetched.
func openRemoteDrive(ctx context.Context, g *globals, key [32]byte, timeout time.Duration) (*peerNode, *hyperdrive.Drive, error) {
	n, err := openPeerNode(ctx, g)
	if err != nil {
		return nil, nil, err
	}
	d, err := hyperdrive.Open(ctx, n.store, key[:], nil)
	if err != nil {
		n.Close()
		return nil, nil, fmt.Errorf("opening the drive: %w", err)
	}
	fail := func(err error) (*peerNode, *hyperdrive.Drive, error) {
		d.Close()
		n.Close()
		return nil, nil, err
	}
	// A blobs core stored by an earlier run is opened by the corestore on
	// demand when a peer offers it: sparse, so it fetches only what the
	// reads below ask for.
	if _, err := n.join(d.DiscoveryKey(), false, true); err != nil {
		return fail(err)
	}
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := waitSynced(wctx, n, d.Core(), d.DiscoveryKey(), syncSettle); err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		if d.Core().Length() == 0 {
			return fail(fmt.Errorf("no peer served the drive within %v", timeout))
		}
		// We hold a version from an earlier run: read that.
	}
	return n, d, nil
}

func newLsCmd(g *globals) *cobra.Command {
	var f readFlags
	var long, recursive bool
	cmd := &cobra.Command{
		Use:   "ls KEY [PATH]",
		Short: "List a folder of a hyperdrive without downloading it",
		Long: "ls lists the folder PATH (default /) of the drive KEY (hex or z-base32): one name\n" +
			"per line, sub-folders with a trailing /, symlinks as \"name -> target\". With -l\n" +
			"each file's size comes first; with -R every file below PATH is listed by its\n" +
			"full path. Only the drive's index blocks the listing touches are fetched.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseKey(args[0])
			if err != nil {
				return err
			}
			folder := "/"
			if len(args) == 2 {
				folder = args[1]
			}
			return runLs(cmd, g, key, folder, long, recursive, f.timeout)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show file sizes")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "list every file below PATH by its full path")
	return cmd
}

func runLs(cmd *cobra.Command, g *globals, key [32]byte, folder string, long, recursive bool, timeout time.Duration) error {
	ctx := cmd.Context()
	n, d, err := openRemoteDrive(ctx, g, key, timeout)
	if err != nil {
		return err
	}
	defer n.Close()
	defer d.Close()
	norm := "/"
	if p, err := hyperdrive.Normalize(folder); err == nil {
		norm = p
	}
	out := cmd.OutOrStdout()
	line := func(name string, e *hyperdrive.Entry) {
		switch {
		case e == nil:
			name += "/"
		case e.IsSymlink():
			name += " -> " + e.Linkname
		}
		if long {
			size := "-"
			if e != nil && !e.IsSymlink() {
				size = fmt.Sprint(e.Size())
			}
			fmt.Fprintf(out, "%12s  %s\n", size, name)
			return
		}
		fmt.Fprintln(out, name)
	}
	found := false
	for e, err := range d.List(ctx, norm, recursive) {
		if err != nil {
			return err
		}
		found = true
		if recursive {
			line(e.Key, e)
			continue
		}
		// Without recursion a sub-folder shows up as its first entry.
		rest := strings.TrimPrefix(e.Key, strings.TrimSuffix(norm, "/")+"/")
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			line(rest[:i], nil)
			continue
		}
		line(rest, e)
	}
	if !found && norm != "/" {
		// PATH may be a file.
		e, err := d.Entry(ctx, norm)
		if err != nil {
			return err
		}
		if e == nil {
			return fmt.Errorf("%s: no such file or folder in the drive", folder)
		}
		name := path.Base(e.Key)
		if recursive {
			name = e.Key
		}
		line(name, e)
	}
	return nil
}

func newCatCmd(g *globals) *cobra.Command {
	var f readFlags
	cmd := &cobra.Command{
		Use:   "cat KEY PATH",
		Short: "Print a file of a hyperdrive, fetching only its blocks",
		Long: "cat writes the file PATH of the drive KEY (hex or z-base32) to stdout, fetching\n" +
			"only the blocks it is made of (each verified) as it goes.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseKey(args[0])
			if err != nil {
				return err
			}
			return runCat(cmd, g, key, args[1], f.timeout)
		},
	}
	f.add(cmd)
	return cmd
}

func runCat(cmd *cobra.Command, g *globals, key [32]byte, name string, timeout time.Duration) error {
	ctx := cmd.Context()
	n, d, err := openRemoteDrive(ctx, g, key, timeout)
	if err != nil {
		return err
	}
	defer n.Close()
	defer d.Close()
	r, err := d.NewReader(ctx, name, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer r.Close()
	if _, err := io.Copy(cmd.OutOrStdout(), r); err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		return err
	}
	return nil
}

// lockedWriter serialises prints from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}
