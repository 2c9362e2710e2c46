package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
)

// Environment variables standing in for the global flags.
const (
	envBootstrap = "WARREN_BOOTSTRAP"
	envStorage   = "WARREN_STORAGE"
)

// publicBootstrap are HyperDHT's public bootstrap nodes (hyperdht's
// BOOTSTRAP_NODES), in dht.Config's "ip@name:port" form.
var publicBootstrap = []string{
	"88.99.3.86@node1.hyperdht.org:49737",
	"142.93.90.113@node2.hyperdht.org:49737",
	"138.68.147.8@node3.hyperdht.org:49737",
}

// globals holds the global flags every command shares. Commands get it from
// newRootCmd and use its helpers instead of reading flags themselves:
//
//	d, err := g.openDHT(ctx)      // a HyperDHT node on --bootstrap, logging to --log-level
//	defer d.Close()
//	dir, err := g.storageDir()    // --storage, created (0700) on first use
//	kp, err := g.identity()       // the identity key pair kept in the storage dir
//	log := g.logger()             // slog to stderr at --log-level
//
// cmd.Context() is cancelled on Ctrl-C / SIGTERM (see main): long-running
// commands wait on it, then close what they opened and return nil (exit 0).
// Errors are returned from RunE; main prints them as one line on stderr
// and exits 1.
type globals struct {
	bootstrap string // comma-separated host:port list; "" means env, then the public nodes
	storage   string // "" means env, then the user's data directory
	logLevel  string
	stderr    io.Writer // where logs go; os.Stderr unless a test sets it
	log       *slog.Logger
}

// addFlags registers the global flags on the root command.
func (g *globals) addFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&g.bootstrap, "bootstrap", "", "DHT bootstrap nodes, host:port[,host:port...] (env "+envBootstrap+"; default: the public HyperDHT nodes)")
	f.StringVar(&g.storage, "storage", "", "storage directory (env "+envStorage+"; default: "+defaultStorageHint()+")")
	f.StringVar(&g.logLevel, "log-level", "info", "log level on stderr: debug, info, warn or error")
}

// logger is the slog logger writing to stderr at --log-level.
func (g *globals) logger() *slog.Logger {
	if g.log != nil {
		return g.log
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(g.logLevel)) // validated in validate
	w := g.stderr
	if w == nil {
		w = os.Stderr
	}
	g.log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	return g.log
}

// validate checks the global flags; the root command runs it before any
// subcommand.
func (g *globals) validate() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return fmt.Errorf("invalid --log-level %q (want debug, info, warn or error)", g.logLevel)
	}
	_, err := g.bootstrapNodes()
	return err
}

// bootstrapNodes is the bootstrap list: --bootstrap, else $WARREN_BOOTSTRAP,
// else the public HyperDHT nodes. "none" means no bootstrap nodes (a node
// that starts a network of its own).
func (g *globals) bootstrapNodes() ([]string, error) {
	s := g.bootstrap
	if s == "" {
		s = os.Getenv(envBootstrap)
	}
	if s == "" {
		return append([]string(nil), publicBootstrap...), nil
	}
	if s == "none" {
		return nil, nil
	}
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("invalid bootstrap node %q (want host:port)", a)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("invalid --bootstrap %q", s)
	}
	return out, nil
}

// dhtConfig is the node configuration the global flags describe; commands
// may adjust it (key pair, port) before passing it to openDHTWith.
func (g *globals) dhtConfig() (*hyperdht.Config, error) {
	boot, err := g.bootstrapNodes()
	if err != nil {
		return nil, err
	}
	log := g.logger()
	cfg := &hyperdht.Config{
		DHT:    dht.Config{Bootstrap: boot, Logger: log.With("part", "dht")},
		Logger: log.With("part", "hyperdht"),
	}
	if loopbackOnly(boot) {
		// A network reached only over loopback (a local test network) is
		// joined from loopback: a node bound to all interfaces would also
		// advertise its LAN address, and peers on the same host may then
		// open streams to an address the other side does not answer from.
		cfg.DHT.Host = "127.0.0.1"
	}
	return cfg, nil
}

// loopbackOnly reports whether every bootstrap node is a loopback IP.
func loopbackOnly(boot []string) bool {
	if len(boot) == 0 {
		return false
	}
	for _, b := range boot {
		host, _, err := net.SplitHostPort(b)
		if err != nil {
			return false
		}
		if i := strings.IndexByte(host, '@'); i >= 0 {
			host = host[:i]
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// openDHT starts a HyperDHT node on the global flags' bootstrap nodes and
// waits until it joined the network (bounded by ctx). The caller closes it.
func (g *globals) openDHT(ctx context.Context) (*hyperdht.DHT, error) {
	cfg, err := g.dhtConfig()
	if err != nil {
		return nil, err
	}
	return g.openDHTWith(ctx, cfg)
}

// openDHTWith is openDHT with a configuration from dhtConfig, adjusted.
func (g *globals) openDHTWith(ctx context.Context, cfg *hyperdht.Config) (*hyperdht.DHT, error) {
	d, err := hyperdht.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting the DHT node: %w", err)
	}
	if err := d.Bootstrapped(ctx); err != nil {
		d.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("joining the DHT: %w", err)
	}
	g.logger().Debug("joined the DHT", "addr", d.Node().LocalAddr(), "bootstrap", cfg.DHT.Bootstrap)
	return d, nil
}

// defaultStorage is the storage directory without --storage or
// $WARREN_STORAGE: $XDG_DATA_HOME/warren, else ~/.local/share/warren on
// Unix; the user's config directory elsewhere.
func defaultStorage() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "warren"), nil
	}
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		d, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "warren"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "warren"), nil
}

func defaultStorageHint() string {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		return "the user config directory/warren"
	}
	return "$XDG_DATA_HOME/warren or ~/.local/share/warren"
}

// storageDir is the storage directory (--storage, $WARREN_STORAGE or the
// default), created with mode 0700 if missing.
func (g *globals) storageDir() (string, error) {
	dir := g.storage
	if dir == "" {
		dir = os.Getenv(envStorage)
	}
	if dir == "" {
		var err error
		if dir, err = defaultStorage(); err != nil {
			return "", fmt.Errorf("no storage directory (set --storage): %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("storage directory: %w", err)
	}
	return dir, nil
}

// identityFile is the file in the storage directory holding the identity
// key pair's 32-byte seed in hex.
const identityFile = "identity.key"

// errNoIdentity means the storage directory has no identity key yet.
var errNoIdentity = errors.New("no identity key (run `warren keys` to create one)")

// identity loads the identity key pair from the storage directory; with
// create it makes one (file mode 0600) if there is none. created reports a
// new key.
func (g *globals) identity(create bool) (kp crypto.KeyPair, created bool, err error) {
	dir, err := g.storageDir()
	if err != nil {
		return kp, false, err
	}
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		seed, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(seed) != 32 {
			return kp, false, fmt.Errorf("%s: not a 32-byte hex seed", path)
		}
		kp, err = crypto.KeyPairFromSeed(seed)
		return kp, false, err
	case !errors.Is(err, os.ErrNotExist):
		return kp, false, err
	case !create:
		return kp, false, errNoIdentity
	}
	if kp, err = crypto.NewKeyPair(); err != nil {
		return kp, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return kp, false, err
	}
	_, err = fmt.Fprintln(f, hex.EncodeToString(kp.SecretKey.Seed()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return kp, false, err
	}
	return kp, true, nil
}
