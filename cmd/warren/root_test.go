package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"version"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "warren ") {
		t.Fatalf("unexpected version output %q", out.String())
	}
}

func TestUnknownCommandFails(t *testing.T) {
	cmd := newRootCmd()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"no-such-command"})
	if err := cmd.Execute(); err == nil {
		t.Fatal("expected an error for an unknown command")
	}
}

func TestBootstrapNodes(t *testing.T) {
	t.Setenv(envBootstrap, "")
	g := &globals{}
	if b, err := g.bootstrapNodes(); err != nil || len(b) != 3 || loopbackOnly(b) {
		t.Fatalf("default: %v %v", b, err)
	}
	t.Setenv(envBootstrap, "127.0.0.1:1234, 127.0.0.2:5")
	if b, err := g.bootstrapNodes(); err != nil || len(b) != 2 || !loopbackOnly(b) {
		t.Fatalf("env: %v %v", b, err)
	}
	g.bootstrap = "10.0.0.1@example.org:49737,127.0.0.1:1"
	if b, err := g.bootstrapNodes(); err != nil || len(b) != 2 || loopbackOnly(b) {
		t.Fatalf("flag: %v %v", b, err)
	}
	g.bootstrap = "none"
	if b, err := g.bootstrapNodes(); err != nil || b != nil {
		t.Fatalf("none: %v %v", b, err)
	}
	for _, bad := range []string{"host", "host:", ":1", "h:0", "h:99999", ","} {
		g.bootstrap = bad
		if _, err := g.bootstrapNodes(); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
