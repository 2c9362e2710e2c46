package main

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// udpEchoService answers every datagram with "echo " and the datagram.
func udpEchoService(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// `tunnel serve --udp` and `tunnel connect` (which takes UDP mode from the
// record, and with --udp too), each its own warren process on loopback:
// two local senders each get their own replies.
func TestTunnelUDPEndToEnd(t *testing.T) {
	boot := start(t, "dht", "bootstrap", "--host", "127.0.0.1", "--port", fmt.Sprint(freeUDPPort(t)))
	l := boot.line(t)
	baddr, ok := strings.CutPrefix(l, "listening ")
	if !ok {
		t.Fatalf("bootstrap printed %q", l)
	}
	node := start(t, "--bootstrap", baddr, "dht", "node", "--host", "127.0.0.1")
	node.line(t)
	port := udpEchoService(t)
	srv := start(t, "--bootstrap", baddr, "tunnel", "serve", "--udp", "--public", "--port", fmt.Sprint(port))
	key := srv.line(t)
	srv.line(t) // the URL
	for _, extra := range [][]string{nil, {"--udp"}} {
		args := append([]string{"--bootstrap", baddr, "tunnel", "connect", key, "--port", "0"}, extra...)
		cl := start(t, args...)
		addr, ok := strings.CutPrefix(cl.line(t), "listening ")
		if !ok {
			t.Fatal("connect printed no listening line")
		}
		for i := range 2 {
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte(fmt.Sprintf("datagram from sender %d", i))
			buf := make([]byte, 100)
			for try := 0; ; try++ {
				c.Write(msg)
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := c.Read(buf)
				if err == nil {
					if want := append([]byte("echo "), msg...); !bytes.Equal(buf[:n], want) {
						t.Fatalf("reply %q, want %q", buf[:n], want)
					}
					break
				}
				if try == 3 {
					t.Fatalf("no reply through the UDP tunnel: %v\nclient: %s\nserver: %s", err, cl.stderr.String(), srv.stderr.String())
				}
			}
			c.Close()
		}
		cl.stop(t)
	}
	srv.stop(t)
	node.stop(t)
	boot.stop(t)
}
