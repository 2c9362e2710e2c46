package udx

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/warrenp2p/warren/internal/netlab"
)

// netemCases are the impaired links of the netem tests: 20 ms round trip
// with loss, reordering and duplication, loss applying on both legs.
var netemCases = []netlab.Netem{
	{Delay: 10 * time.Millisecond, Loss: 1, Reorder: 2, Duplicate: 1},
	{Delay: 10 * time.Millisecond, Loss: 5, Reorder: 5, Duplicate: 1},
	{Delay: 10 * time.Millisecond, Loss: 10, Reorder: 5, Duplicate: 2},
}

func listenIn(t *testing.T, h *netlab.Host, u *UDX) *Socket {
	t.Helper()
	var s *Socket
	if err := h.Run(func() (err error) {
		s, err = u.Listen("udp4", netip.AddrPortFrom(h.Addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestNetemGoToGo transfers data both ways at once over a real lossy,
// reordering, duplicating link (network namespaces and the netlab netem
// forwarder) and checks it arrives intact.
func TestNetemGoToGo(t *testing.T) {
	netlab.Require(t)
	for _, n := range netemCases {
		t.Run(fmt.Sprintf("loss%.0f", n.Loss), func(t *testing.T) {
			lab := netlab.New(t)
			ha := lab.Host("a", netlab.HostConfig{})
			hb := lab.Host("b", netlab.HostConfig{})
			if err := setNetem(ha, n); err != nil {
				t.Fatal(err)
			}
			u := New(nil)
			a, b := listenIn(t, ha, u), listenIn(t, hb, u)
			sa, sb := pair(t, a, b)
			data := randBytes(4<<20, 11)
			start := time.Now()
			done := make(chan struct{})
			go func() {
				defer close(done)
				transfer(t, sb, sa, data[:1<<20])
			}()
			transfer(t, sa, sb, data)
			<-done
			t.Logf("%v: 4 MiB + 1 MiB in %v, %+v", n, time.Since(start), sa.Stats())
		})
	}
}

// setNetem impairs both legs of h's link with n, except that frames are
// reordered only on the way out: reordered frames skip the delay, and
// with both legs reordered a few round trips would measure ~0 ms, which
// (as in libudx's BBR) collapses the window for ten seconds.
func setNetem(h *netlab.Host, n netlab.Netem) error {
	in := n
	in.Reorder = 0
	return h.SetNetemEach(n, in)
}
