package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/hyperblobs"
)

func shaLen(b []byte) string {
	h := sha256.Sum256(b)
	return fmt.Sprintf("%s %d", hex.EncodeToString(h[:]), len(b))
}

// TestInteropHyperblobsJSToGo: JS hyperblobs writes blobs of one block,
// many 64 KiB blocks, 1000-byte blocks, a write stream with uneven chunks
// (so block sizes vary) and a dedup stream (a block map). Go gets the
// same IDs, byte for byte, when it puts the same data; a sparse Go core
// replicating the JS one reads ranges (fetching only what they need, across
// uneven blocks) and whole blobs, the block-mapped one included.
func TestInteropHyperblobsJSToGo(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	js := env.Start(t, "hyperblobs_peer.js", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), replCfg(map[string]any{
		"role": "writer", "initiator": true,
	}))
	idsLine := js.Expect(t, "ids ")
	key, _ := hex.DecodeString(js.Expect(t, "key "))
	js.Expect(t, "replicating")
	var raw []json.RawMessage
	var ids []hyperblobs.ID
	jsonLine(t, idsLine, &raw)
	jsonLine(t, idsLine, &ids)
	big := hdPattern(200000, 4)
	A, B, C := hdPattern(4096, 5), hdPattern(4096, 6), hdPattern(4096, 7)
	want := [][]byte{hdPattern(100, 1), hdPattern(1<<20+3, 2), hdPattern(5000, 3), big, bytes.Join([][]byte{A, B, A, C, A}, nil)}
	if len(ids) != len(want) || !ids[4].BlockMap || ids[3].BlockLength != 4 {
		t.Fatalf("ids %+v", ids)
	}

	// The same puts in Go give the same IDs, as JSON byte for byte.
	twin, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer twin.Close()
	tc, err := twin.Get(ctx, corestore.GetOptions{Name: "blobs"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	gb := hyperblobs.New(tc.Core, nil)
	for i := range 3 {
		bs := gb
		if i == 2 {
			bs = hyperblobs.New(tc.Core, &hyperblobs.Options{BlockSize: 1000})
		}
		id, err := bs.Put(ctx, want[i])
		if err != nil {
			t.Fatal(err)
		}
		if j, _ := json.Marshal(id); string(j) != string(raw[i]) {
			t.Fatalf("blob %d: Go id %s, JS id %s", i, j, raw[i])
		}
	}

	s, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Get(ctx, corestore.GetOptions{Key: key, Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	csAccept(t, ln, s, false)
	b := hyperblobs.New(c.Core, nil)

	// Ranges first, on the sparse core.
	for _, rg := range []struct {
		blob          int
		start, length uint64
	}{{1, 700000, 5000}, {3, 150000, 1000}, {3, 72990, 20}, {2, 999, 2}, {4, 4000, 5000}} {
		r := b.NewReader(ctx, ids[rg.blob], &hyperblobs.ReadOptions{Start: rg.start, Length: rg.length})
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, want[rg.blob][rg.start:rg.start+rg.length]) {
			t.Fatalf("blob %d range %d+%d: %v (%d bytes)", rg.blob, rg.start, rg.length, err, len(got))
		}
	}
	held := 0
	for i := uint64(0); i < c.Length(); i++ {
		if c.Has(i) {
			held++
		}
	}
	t.Logf("after ranges: %d of %d blocks stored", held, c.Length())
	if held > 12 {
		t.Fatalf("ranges fetched %d of %d blocks", held, c.Length())
	}
	for i, id := range ids {
		got, err := b.Get(ctx, id)
		if err != nil || !bytes.Equal(got, want[i]) {
			t.Fatalf("blob %d: %v (%d bytes)", i, err, len(got))
		}
	}
	if n, err := b.Size(ctx, ids[4]); err != nil || n != 5*4096 {
		t.Fatalf("block-mapped size %d %v", n, err)
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropHyperblobsGoToJS: Go writes blobs (puts with default and
// 1000-byte blocks, a streamed blob written in uneven pieces, an empty
// blob); a JS hyperblobs reader replicating the core reads them whole, in
// ranges (start/length) and as read streams (start/end inclusive).
func TestInteropHyperblobsGoToJS(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Get(ctx, corestore.GetOptions{Name: "blobs"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := hyperblobs.New(c.Core, nil)
	want := [][]byte{hdPattern(100, 1), hdPattern(1<<20+3, 2), hdPattern(5000, 3), hdPattern(300000, 4), nil}
	var ids []hyperblobs.ID
	for i, data := range want {
		var id hyperblobs.ID
		switch i {
		case 2:
			id, err = hyperblobs.New(c.Core, &hyperblobs.Options{BlockSize: 1000}).Put(ctx, data)
		case 3:
			w, werr := b.NewWriter(ctx)
			if werr != nil {
				t.Fatal(werr)
			}
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 7777)
				w.Write(rest[:n])
				rest = rest[n:]
			}
			err = w.Close()
			id = w.ID()
		default:
			id, err = b.Put(ctx, data)
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	key := c.Key()
	js := env.Start(t, "hyperblobs_peer.js", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), replCfg(map[string]any{
		"role": "reader", "key": hex.EncodeToString(key[:]), "initiator": false,
	}))
	js.Expect(t, "replicating")
	csAccept(t, ln, s, true)
	ask := func(cmd string, i int, opts map[string]any, wantData []byte) {
		t.Helper()
		req, _ := json.Marshal(map[string]any{"id": ids[i], "opts": opts})
		io.WriteString(js.Stdin, cmd+" "+string(req)+"\n")
		if got := js.Expect(t, "data "); got != shaLen(wantData) {
			t.Fatalf("%s blob %d %v: JS got %s, want %s", cmd, i, opts, got, shaLen(wantData))
		}
	}
	ask("read", 1, map[string]any{"start": 700000, "length": 5000}, want[1][700000:705000])
	ask("stream", 3, map[string]any{"start": 12345, "end": 200000}, want[3][12345:200001])
	for i := range want {
		ask("read", i, nil, want[i])
	}
	ask("read", 2, map[string]any{"start": 999, "length": 2}, want[2][999:1001])
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}
