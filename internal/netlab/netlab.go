// Package netlab builds throw-away test networks out of Linux network
// namespaces, veth pairs, bridges and nftables NAT, so tests can run real
// UDP traffic between "machines" on one box: hosts on a shared public
// segment, hosts behind their own NAT router, stateful firewalls, and lossy
// or slow links.
//
// # Layout
//
// Each [Lab] owns a public segment: a Linux bridge (br0) inside its own
// namespace. Every host is a namespace whose only interface, eth0, is the
// host's uplink. A host without NAT has its eth0 on the public segment. A
// host with a NAT has its eth0 on a private LAN whose other end is a router
// namespace; the router's eth0 is on the public segment and it masquerades
// the LAN behind its public address.
//
// Between each host's eth0 and the far end of its uplink (the public bridge
// or the NAT router) sits a small link namespace that normally bridges the
// two in the kernel. [Host.SetNetem] replaces that bridge with an impairment
// forwarder in this process; see [Netem].
//
// # Addresses
//
//   - Public segment: [PublicNet], 11.0.0.0/24. Public hosts and NAT routers
//     get 11.0.0.2, 11.0.0.3, ... in creation order. The range deliberately
//     is not private or reserved: hyperdht ignores "bogon" addresses when
//     choosing where to connect, so a public segment in 10/8 or a TEST-NET
//     would not behave like the Internet. (11/8 belongs to a real network,
//     but nothing leaves the lab: no namespace has a route other than to its
//     own subnets; hosts behind a NAT have a default route to their router,
//     which has none.)
//   - NAT LANs: 192.168.N.0/24 for the N-th NAT host of the lab (N from 1),
//     unless [HostConfig.LAN] names another /24 (two LANs may then share a
//     range, as home networks do). The router is .1, the host .2.
//
// All names carry a random per-lab tag ("wl" + 6 hex digits), so labs from
// parallel tests and test binaries never collide; interface names are only
// visible inside the lab's namespaces. [New] registers a cleanup that
// deletes every namespace (and with them every veth, bridge and nftables
// table) the lab made.
//
// Building a lab needs root, iproute2 (ip) and nftables (nft); [Require]
// checks once per process and skips the test otherwise (or fails it when
// WARREN_REQUIRE_NETLAB=1).
package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv names the environment variable that turns a skip in [Require]
// into a test failure: set it to 1 where the lab must run (CI as root).
const RequireEnv = "WARREN_REQUIRE_NETLAB"

// PublicNet is the address range of every lab's public segment.
var PublicNet = netip.MustParsePrefix("11.0.0.0/24")

// ErrUnavailable reports that this machine cannot build labs (not root, or
// ip or nft missing, or namespaces not permitted). Errors from [Available]
// wrap it.
var ErrUnavailable = errors.New("netlab: network namespaces unavailable")

// ErrBadName reports a host name that is empty, too long, uses characters
// other than letters, digits, '-' and '_', or is already taken in the lab.
var ErrBadName = errors.New("netlab: bad host name")

// ErrFull reports that a lab ran out of addresses on a segment.
var ErrFull = errors.New("netlab: no addresses left")

var errLabClosed = errors.New("netlab: lab is closed")

// namePrefix starts every namespace a lab creates.
const namePrefix = "wl"

var (
	availOnce sync.Once
	availErr  error
)

// Available reports whether labs can be built here, probing once per
// process: it checks for root, ip and nft, then makes and deletes a scratch
// namespace with a veth pair and an nftables NAT table. The error wraps
// [ErrUnavailable].
func Available() error {
	availOnce.Do(func() { availErr = probe() })
	return availErr
}

func probe() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not running as root", ErrUnavailable)
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found in PATH", ErrUnavailable, tool)
		}
	}
	ns := namePrefix + randomTag() + "-probe"
	if err := ipCmd("", "netns add "+ns); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer func() { _ = ipCmd("", "netns del "+ns) }()
	if err := ipCmd(ns, "link add name a type veth peer name b", "link add name br0 type bridge forward_delay 0"); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := nft(ns, "table ip probe {\n chain post { type nat hook postrouting priority srcnat; policy accept; oifname \"a\" masquerade fully-random\n }\n}\n"); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Require skips tb unless labs can be built here (see [Available]); when
// the environment variable [RequireEnv] is "1" it fails tb instead.
func Require(tb testing.TB) {
	tb.Helper()
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%v (required by %s=1)", err, RequireEnv)
	}
	tb.Skip(err)
}

// NAT selects the address translation in front of a host.
type NAT int

const (
	// NoNAT puts the host directly on the public segment.
	NoNAT NAT = iota
	// EndpointIndependent maps a private address and port to one public
	// port whatever the destination (nftables masquerade, which keeps the
	// source port when it can). Inbound filtering is still per flow, as in
	// Linux conntrack: only a remote the host has sent to can reach the
	// mapping, i.e. a port-restricted cone NAT.
	EndpointIndependent
	// RandomPort maps every new destination to a fresh random public port
	// (nftables masquerade fully-random): a symmetric NAT.
	RandomPort
)

// String returns the NAT's name.
func (n NAT) String() string {
	switch n {
	case NoNAT:
		return "NoNAT"
	case EndpointIndependent:
		return "EndpointIndependent"
	case RandomPort:
		return "RandomPort"
	}
	return fmt.Sprintf("NAT(%d)", int(n))
}

// HostConfig describes a host. The zero value is a host directly on the
// public segment with no firewall.
type HostConfig struct {
	// NAT puts the host behind its own NAT router when not NoNAT.
	NAT NAT
	// Firewall drops unsolicited inbound packets: only packets of flows
	// the host started (conntrack established/related) get in. Without a
	// NAT the rules sit in the host's own namespace, with one on the
	// router, which then also stops answering unsolicited packets itself.
	Firewall bool
	// LAN is the private /24 behind the NAT; the zero value picks
	// 192.168.N.0/24 for the lab's N-th NAT host. Ignored without a NAT.
	LAN netip.Prefix
}

// Lab is one test's network. Create it with [New]; it is torn down by the
// test's cleanup. Its methods may be called from several goroutines.
type Lab struct {
	tb  testing.TB
	tag string // "wl" + random hex
	pub string // public segment namespace

	mu      sync.Mutex
	nss     []string // namespaces made, in creation order
	hosts   map[string]*Host
	nextPub int // next host part on PublicNet
	nextLAN int // next default NAT LAN number
	nextTap int // next bridge port number
	nextIdx int // next interface index for veth ends
	closed  bool
}

// New builds an empty lab (the public segment) for tb and registers its
// teardown with tb.Cleanup. It calls [Require] first, so the test skips
// where labs cannot be built. New must be called from the test goroutine.
func New(tb testing.TB) *Lab {
	tb.Helper()
	Require(tb)
	l := &Lab{
		tb:      tb,
		tag:     namePrefix + randomTag(),
		hosts:   make(map[string]*Host),
		nextPub: 2,
		nextLAN: 1,
		nextTap: 1,
		nextIdx: 10,
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("netlab: cleanup: %v", err)
		}
	})
	l.pub = l.tag + "-pub"
	if err := l.addNS(l.pub); err != nil {
		tb.Fatalf("netlab: %v", err)
	}
	if err := ipCmd(l.pub, "link set dev lo up", "link add name br0 type bridge forward_delay 0", "link set dev br0 up"); err != nil {
		tb.Fatalf("netlab: public segment: %v", err)
	}
	return l
}

// Tag returns the lab's unique tag; every namespace of the lab is named
// with it as prefix.
func (l *Lab) Tag() string { return l.tag }

// Namespaces returns the names of the network namespaces the lab has made
// and not yet deleted.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.nss...)
}

// addNS creates namespace ns and records it for cleanup.
func (l *Lab) addNS(ns string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errLabClosed
	}
	if err := ipCmd("", "netns add "+ns); err != nil {
		return err
	}
	l.nss = append(l.nss, ns)
	return ipCmd(ns, "link set dev lo up")
}

// veth creates a veth pair: name1 in namespace ns1, name2 in ns2. Each
// end gets an interface index unique in the lab: an end whose index equals
// its peer's (likely when both are the first device of fresh namespaces)
// makes the kernel treat its carrier change as non-urgent, leaving the
// link dead for up to a second.
func (l *Lab) veth(ns1, name1, ns2, name2 string) error {
	l.mu.Lock()
	i := l.nextIdx
	l.nextIdx += 2
	l.mu.Unlock()
	return ipCmd(ns1, fmt.Sprintf("link add name %s index %d type veth peer name %s index %d netns %s", name1, i, name2, i+1, ns2))
}

// Close stops every impairment forwarder and deletes every namespace of
// the lab. The cleanup registered by [New] calls it; calling it again does
// nothing.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	hosts := make([]*Host, 0, len(l.hosts))
	for _, h := range l.hosts {
		hosts = append(hosts, h)
	}
	nss := l.nss
	l.nss = nil
	l.mu.Unlock()

	var errs []error
	for _, h := range hosts {
		h.stopLink()
	}
	for i := len(nss) - 1; i >= 0; i-- {
		if err := ipCmd("", "netns del "+nss[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Host is one machine in a lab. Its fields are set by [Lab.Host] and must
// not be changed.
type Host struct {
	// Name is the name given to [Lab.Host].
	Name string
	// Addr is the address of the host's eth0: on [PublicNet] without a
	// NAT, on its private LAN with one.
	Addr netip.Addr
	// PublicIP is the address other hosts see: Addr without a NAT, the
	// router's public address with one.
	PublicIP netip.Addr
	// Config is the configuration the host was made with.
	Config HostConfig

	lab    *Lab
	ns     string // host namespace
	router string // router namespace, "" without NAT
	link   string // link namespace between eth0 and the uplink

	linkMu sync.Mutex
	fwd    *forwarder // nil until SetNetem first impairs the link
}

// Namespace returns the name of the host's network namespace, as used by
// "ip netns exec".
func (h *Host) Namespace() string { return h.ns }

// RouterNamespace returns the name of the NAT router's namespace, or ""
// for a host without NAT.
func (h *Host) RouterNamespace() string { return h.router }

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,24}$`)

// Host adds a host named name (letters, digits, '-', '_'; at most 24) to
// the lab, and fails the test if that is impossible. It must be called from
// the test goroutine; [Lab.AddHost] is the variant that returns an error.
func (l *Lab) Host(name string, cfg HostConfig) *Host {
	l.tb.Helper()
	h, err := l.AddHost(name, cfg)
	if err != nil {
		l.tb.Fatalf("netlab: host %q: %v", name, err)
	}
	return h
}

// AddHost adds a host like [Lab.Host] but returns an error instead of
// failing the test. A host half built when an error occurs is removed by
// the lab's cleanup.
func (l *Lab) AddHost(name string, cfg HostConfig) (*Host, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	switch cfg.NAT {
	case NoNAT, EndpointIndependent, RandomPort:
	default:
		return nil, fmt.Errorf("netlab: unknown NAT %v", cfg.NAT)
	}
	h := &Host{Name: name, Config: cfg, lab: l, ns: l.tag + "-h-" + name, link: l.tag + "-l-" + name}

	l.mu.Lock()
	if _, dup := l.hosts[name]; dup {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: %q already exists", ErrBadName, name)
	}
	if l.closed {
		l.mu.Unlock()
		return nil, errLabClosed
	}
	pubHost := l.nextPub
	l.nextPub++
	tap := fmt.Sprintf("p%d", l.nextTap)
	l.nextTap++
	lan := cfg.LAN
	if cfg.NAT != NoNAT && !lan.IsValid() {
		if l.nextLAN > 254 {
			l.mu.Unlock()
			return nil, ErrFull
		}
		lan = netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(l.nextLAN), 0}), 24)
		l.nextLAN++
	}
	l.hosts[name] = h
	l.mu.Unlock()

	if pubHost > 254 {
		return nil, ErrFull
	}
	pubIP := PublicNet.Addr().As4()
	pubIP[3] = byte(pubHost)
	h.PublicIP = netip.AddrFrom4(pubIP)
	plen := PublicNet.Bits()

	if err := l.addNS(h.ns); err != nil {
		return nil, err
	}
	if err := l.addNS(h.link); err != nil {
		return nil, err
	}
	// The link namespace: "lh" faces the host's eth0, "lu" the uplink, and
	// br0 joins them until SetNetem puts a forwarder in its place.
	if err := l.veth(h.ns, "eth0", h.link, "lh"); err != nil {
		return nil, err
	}

	if cfg.NAT == NoNAT {
		h.Addr = h.PublicIP
		if err := l.veth(h.link, "lu", l.pub, tap); err != nil {
			return nil, err
		}
		if err := ipCmd(l.pub, "link set dev "+tap+" master br0", "link set dev "+tap+" up"); err != nil {
			return nil, err
		}
		if err := ipCmd(h.ns,
			fmt.Sprintf("addr add %s/%d dev eth0", h.Addr, plen),
			"link set dev eth0 up"); err != nil {
			return nil, err
		}
	} else {
		if !lan.Addr().Is4() || lan.Bits() != 24 {
			return nil, fmt.Errorf("netlab: LAN %v is not an IPv4 /24", lan)
		}
		lan = lan.Masked()
		lanBase := lan.Addr().As4()
		lanBase[3] = 1
		gw := netip.AddrFrom4(lanBase)
		lanBase[3] = 2
		h.Addr = netip.AddrFrom4(lanBase)

		h.router = l.tag + "-r-" + name
		if err := l.addNS(h.router); err != nil {
			return nil, err
		}
		if err := l.veth(h.router, "eth0", l.pub, tap); err != nil {
			return nil, err
		}
		if err := ipCmd(l.pub, "link set dev "+tap+" master br0", "link set dev "+tap+" up"); err != nil {
			return nil, err
		}
		if err := l.veth(h.link, "lu", h.router, "lan0"); err != nil {
			return nil, err
		}
		if err := ipCmd(h.router,
			fmt.Sprintf("addr add %s/%d dev eth0", h.PublicIP, plen),
			fmt.Sprintf("addr add %s/24 dev lan0", gw),
			"link set dev eth0 up",
			"link set dev lan0 up"); err != nil {
			return nil, err
		}
		if err := runIn(h.router, func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0)
		}); err != nil {
			return nil, fmt.Errorf("netlab: enable forwarding: %w", err)
		}
		if err := nft(h.router, natRules(cfg)); err != nil {
			return nil, err
		}
		if err := ipCmd(h.ns,
			fmt.Sprintf("addr add %s/24 dev eth0", h.Addr),
			"link set dev eth0 up",
			"route add default via "+gw.String()); err != nil {
			return nil, err
		}
	}
	if err := ipCmd(h.link,
		"link add name br0 type bridge forward_delay 0",
		"link set dev lh master br0",
		"link set dev lu master br0",
		"link set dev lh up",
		"link set dev lu up",
		"link set dev br0 up"); err != nil {
		return nil, err
	}
	if cfg.Firewall && cfg.NAT == NoNAT {
		if err := nft(h.ns, hostFirewall); err != nil {
			return nil, err
		}
	}
	waits := []struct {
		ns    string
		names []string
	}{{h.ns, []string{"eth0"}}, {h.link, []string{"lh", "lu"}}, {l.pub, []string{tap}}}
	if h.router != "" {
		waits = append(waits, struct {
			ns    string
			names []string
		}{h.router, []string{"eth0", "lan0"}})
	}
	for _, w := range waits {
		if err := waitRunning(w.ns, w.names...); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// hostFirewall admits only loopback and packets of flows the host started.
const hostFirewall = `table inet netlab {
	chain input {
		type filter hook input priority filter; policy drop;
		iifname "lo" accept
		ct state established,related accept
	}
}
`

// natRules returns the router's ruleset: masquerade the LAN out of eth0,
// and with a firewall drop what arrives on eth0 unsolicited.
func natRules(cfg HostConfig) string {
	masq := "masquerade persistent"
	if cfg.NAT == RandomPort {
		masq = "masquerade fully-random"
	}
	var b strings.Builder
	b.WriteString("table ip netlab {\n")
	fmt.Fprintf(&b, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname \"eth0\" %s\n\t}\n", masq)
	if cfg.Firewall {
		for _, hook := range []string{"forward", "input"} {
			fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n\t\tiifname \"eth0\" ct state established,related accept\n\t\tiifname \"eth0\" drop\n\t}\n", hook, hook)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// waitRunning waits until the named interfaces of namespace ns are
// operationally up, so the first packet a test sends is not lost.
func waitRunning(ns string, names ...string) error {
	return runIn(ns, func() error {
		deadline := time.Now().Add(5 * time.Second)
		for _, name := range names {
			for {
				ifi, err := net.InterfaceByName(name)
				if err != nil {
					return fmt.Errorf("netlab: %s in %s: %w", name, ns, err)
				}
				if ifi.Flags&net.FlagRunning != 0 {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("netlab: %s in %s is not up after 5s", name, ns)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		return nil
	})
}

// cmdTimeout bounds every ip and nft invocation.
const cmdTimeout = 30 * time.Second

// ipCmd runs ip commands (one per line, without the leading "ip") as one
// batch, inside namespace ns unless ns is "".
func ipCmd(ns string, lines ...string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	return run(strings.Join(lines, "\n")+"\n", "ip", args...)
}

// nft loads an nftables ruleset inside namespace ns.
func nft(ns, rules string) error {
	return run(rules, "ip", "netns", "exec", ns, "nft", "-f", "-")
}

// run runs a command with stdin and returns its output in the error.
func run(stdin, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		what := strings.TrimSpace(stdin)
		if len(what) > 300 {
			what = what[:300] + "..."
		}
		return fmt.Errorf("%s %s [%s]: %v: %s", name, strings.Join(args, " "), what, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// randomTag returns 6 random hex digits.
func randomTag() string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}
