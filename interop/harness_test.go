package interop

import (
	"strings"
	"testing"
)

// TestInteropHarness proves the harness reaches node and the pinned modules.
func TestInteropHarness(t *testing.T) {
	env := Require(t)
	out := env.Run(t, []byte("ping"), "echo.js")
	if strings.TrimSpace(string(out)) != "ping" {
		t.Fatalf("echo.js returned %q", out)
	}
}
