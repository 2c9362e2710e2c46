package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/warrenp2p/warren/corestore"
)

type csKeyEntry struct {
	PublicKey       string `json:"publicKey"`
	SecretKey       string `json:"secretKey"`
	Key             string `json:"key"`
	DiscoveryKey    string `json:"discoveryKey"`
	Namespace       string `json:"namespace"`
	ManifestVersion *int   `json:"manifestVersion,omitempty"`
	Compat          bool   `json:"compat"`
}

type csCoreSpec struct {
	Namespaces []string `json:"namespaces"`
	Name       string   `json:"name"`
}

// TestInteropCorestoreKeys: for several primary keys, namespace chains and
// names, a Go store and a JS corestore 7 give the same key pairs, core keys,
// discovery keys and namespaces. JS reports its keys (Go compares), and Go
// sends its own keys to JS, which checks them.
func TestInteropCorestoreKeys(t *testing.T) {
	env := Require(t)
	specs := []csCoreSpec{
		{[]string{}, "a"},
		{[]string{}, "main"},
		{[]string{"app"}, "main"},
		{[]string{"app", "v2"}, "main"},
		{[]string{"x", "y", "z"}, "deep"},
		{[]string{"ünïcode"}, "名前"},
		{[]string{}, strings.Repeat("long-name-", 30)},
	}
	for i, pk := range [][]byte{bytes.Repeat([]byte{7}, 32), seedFor("corestore-pk"), make([]byte, 32)} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s, err := corestore.Open(t.TempDir(), &corestore.Options{PrimaryKey: pk})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var mine []csKeyEntry
			for _, sp := range specs {
				view := s
				for _, n := range sp.Namespaces {
					view = view.Namespace(n)
				}
				c, err := view.Get(context.Background(), corestore.GetOptions{Name: sp.Name})
				if err != nil {
					t.Fatal(err)
				}
				kp, _ := view.KeyPair(sp.Name)
				ns := view.NamespaceKey()
				key, dk := c.Key(), c.DiscoveryKey()
				mine = append(mine, csKeyEntry{
					PublicKey: hex.EncodeToString(kp.PublicKey), SecretKey: hex.EncodeToString(kp.SecretKey),
					Key: hex.EncodeToString(key[:]), DiscoveryKey: hex.EncodeToString(dk[:]),
					Namespace: hex.EncodeToString(ns[:]), Compat: c.Info().Compat,
				})
				if m := c.Manifest(); m == nil || m.Version != 1 {
					t.Fatalf("%s: manifest %+v, want version 1", sp.Name, m)
				}
				c.Close()
			}
			in, _ := json.Marshal(map[string]any{"primaryKey": hex.EncodeToString(pk), "cores": specs, "expect": mine})
			out := env.Run(t, in, "corestore-keys.js")
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 2 {
				t.Fatalf("JS output: %s", out)
			}
			var js struct{ Cores []csKeyEntry }
			if err := json.Unmarshal([]byte(lines[0]), &js); err != nil {
				t.Fatal(err)
			}
			if len(js.Cores) != len(mine) {
				t.Fatalf("JS gave %d cores", len(js.Cores))
			}
			for i := range mine {
				j := js.Cores[i]
				if j.ManifestVersion == nil || *j.ManifestVersion != 1 || j.Compat {
					t.Errorf("%d: JS core is manifest %v compat %v, want a version 1 non-compat core", i, j.ManifestVersion, j.Compat)
				}
				j.ManifestVersion = nil
				if j != mine[i] {
					t.Errorf("%d (%v %q):\n go %+v\n js %+v", i, specs[i].Namespaces, specs[i].Name, mine[i], j)
				}
			}
			if want := fmt.Sprintf("check ok %d", len(mine)); lines[1] != want {
				t.Fatalf("JS check of Go keys: %s", lines[1])
			}
		})
	}
}
