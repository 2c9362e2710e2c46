package netlab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gsoFrame builds a virtio-net header plus Ethernet frame carrying one UDP
// GSO batch of payload cut every gsoSize bytes, in the shape the kernel
// hands to a packet socket (checksum left partial).
func gsoFrame(v6 bool, gsoSize int, payload []byte) []byte {
	vh := make([]byte, vnetHdrLen)
	vh[0] = 1 // NEEDS_CSUM
	vh[1] = vnetGSOUDPL4
	binary.LittleEndian.PutUint16(vh[4:], uint16(gsoSize))
	eth := make([]byte, 14)
	copy(eth[0:6], []byte{2, 0, 0, 0, 0, 1})
	copy(eth[6:12], []byte{2, 0, 0, 0, 0, 2})
	var ip []byte
	udpLen := 8 + len(payload)
	if v6 {
		binary.BigEndian.PutUint16(eth[12:], 0x86dd)
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6], ip[7] = 17, 64
		ip[8], ip[23] = 0xfd, 1
		ip[24], ip[39] = 0xfd, 2
	} else {
		binary.BigEndian.PutUint16(eth[12:], 0x0800)
		ip = []byte{0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 11, 0, 0, 2, 11, 0, 0, 3}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+udpLen))
	}
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp[0:], 4000)
	binary.BigEndian.PutUint16(udp[2:], 5000)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	binary.BigEndian.PutUint16(udp[6:], 0xbeef) // partial checksum, to be replaced
	return bytes.Join([][]byte{vh, eth, ip, udp, payload}, nil)
}

// checkSegment verifies one split datagram and returns its payload.
func checkSegment(t testing.TB, seg []byte) []byte {
	t.Helper()
	if !bytes.Equal(seg[:vnetHdrLen], make([]byte, vnetHdrLen)) {
		t.Fatalf("segment keeps offload state %x", seg[:vnetHdrLen])
	}
	p := seg[vnetHdrLen:]
	var ip, udp []byte
	var pseudo uint32
	switch binary.BigEndian.Uint16(p[12:]) {
	case 0x0800:
		ihl := int(p[14]&15) * 4
		ip, udp = p[14:14+ihl], p[14+ihl:]
		if fold(sumBytes(ip, 0)) != 0xffff {
			t.Fatalf("bad IPv4 header checksum in %x", ip)
		}
		if int(binary.BigEndian.Uint16(ip[2:])) != len(p)-14 {
			t.Fatalf("IPv4 total length %d, frame has %d", binary.BigEndian.Uint16(ip[2:]), len(p)-14)
		}
		pseudo = sumBytes(ip[12:20], 0)
	case 0x86dd:
		ip, udp = p[14:54], p[54:]
		if int(binary.BigEndian.Uint16(ip[4:])) != len(udp) {
			t.Fatalf("IPv6 payload length %d, have %d", binary.BigEndian.Uint16(ip[4:]), len(udp))
		}
		pseudo = sumBytes(ip[8:40], 0)
	default:
		t.Fatalf("segment is not IP: %x", p[:14])
	}
	if int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
		t.Fatalf("UDP length %d, have %d", binary.BigEndian.Uint16(udp[4:]), len(udp))
	}
	if fold(sumBytes(udp, pseudo+17+uint32(len(udp)))) != 0xffff {
		t.Fatalf("bad UDP checksum")
	}
	return udp[8:]
}

func TestSplitUDPGSO(t *testing.T) {
	payload := make([]byte, 1003)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			segs := splitUDPGSO(gsoFrame(v6, 100, payload))
			if len(segs) != 11 {
				t.Fatalf("%d segments, want 11", len(segs))
			}
			var joined []byte
			var ids []uint16
			for i, s := range segs {
				pl := checkSegment(t, s)
				if want := min(100, len(payload)-i*100); len(pl) != want {
					t.Fatalf("segment %d has %d bytes, want %d", i, len(pl), want)
				}
				joined = append(joined, pl...)
				if !v6 {
					ids = append(ids, binary.BigEndian.Uint16(s[vnetHdrLen+14+4:]))
				}
			}
			if !bytes.Equal(joined, payload) {
				t.Fatal("segments do not add up to the batch")
			}
			for i := 1; i < len(ids); i++ {
				if ids[i] != ids[0]+uint16(i) {
					t.Fatalf("IPv4 ids %v not consecutive", ids)
				}
			}
		})
	}
	plain := gsoFrame(false, 100, payload)
	plain[1] = 0
	if segs := splitUDPGSO(plain); len(segs) != 1 || &segs[0][0] != &plain[0] {
		t.Fatal("a frame without GSO was changed")
	}
}

func FuzzSplitUDPGSO(f *testing.F) {
	f.Add(gsoFrame(false, 100, make([]byte, 250)))
	f.Add(gsoFrame(true, 7, make([]byte, 20)))
	f.Add(gsoFrame(false, 0, make([]byte, 5)))
	f.Add([]byte{0, 5, 0, 0, 1})
	f.Fuzz(func(t *testing.T, frame []byte) {
		segs := splitUDPGSO(frame)
		if len(segs) == 1 && len(segs[0]) == len(frame) && (len(frame) == 0 || &segs[0][0] == &frame[0]) {
			return // passed through untouched
		}
		// Split: every segment is a valid datagram and together they
		// carry the original payload.
		var joined []byte
		for _, s := range segs {
			joined = append(joined, checkSegment(t, s)...)
		}
		if !bytes.HasSuffix(frame, joined) {
			t.Fatal("segments do not carry the batch's payload")
		}
	})
}

// TestNetemSplitsGSO sends UDP_SEGMENT batches through a lossy link and
// checks that loss hits single datagrams, not whole batches, and that
// every datagram that arrives is intact.
func TestNetemSplitsGSO(t *testing.T) {
	t.Parallel()
	lab := New(t)
	a := lab.Host("a", HostConfig{})
	b := lab.Host("b", HostConfig{})
	ca, cb := listen(t, a), listen(t, b)
	bigBuffer(t, cb)
	if err := a.SetNetem(Netem{Loss: 50}); err != nil {
		t.Fatal(err)
	}
	raw, err := ca.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, 100)
	}); err != nil || serr != nil {
		t.Skipf("UDP_SEGMENT unavailable: %v %v", err, serr)
	}
	const batches, per = 100, 10
	for i := range batches {
		batch := make([]byte, per*100)
		for j := range per {
			binary.BigEndian.PutUint16(batch[j*100:], uint16(i))
			binary.BigEndian.PutUint16(batch[j*100+2:], uint16(j))
		}
		if _, err := ca.WriteToUDPAddrPort(batch, addrOf(cb)); err != nil {
			if i == 0 && (errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL)) {
				t.Skipf("GSO send refused: %v", err)
			}
			t.Fatal(err)
		}
		if i%10 == 9 {
			time.Sleep(time.Millisecond)
		}
	}
	count := make(map[uint16]int)
	total := 0
	buf := make([]byte, 65536)
	for {
		_ = cb.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := cb.Read(buf)
		if err != nil {
			break
		}
		if n != 100 {
			t.Fatalf("datagram of %d bytes, want 100", n)
		}
		count[binary.BigEndian.Uint16(buf)]++
		total++
	}
	partial := 0
	for _, c := range count {
		if c > 0 && c < per {
			partial++
		}
	}
	t.Logf("50%% loss on %d batches of %d: %d datagrams arrived, %d batches partly", batches, per, total, partial)
	if total < 300 || total > 700 || partial < batches/2 {
		t.Fatalf("%d datagrams, %d partial batches: loss did not act per datagram", total, partial)
	}
}
