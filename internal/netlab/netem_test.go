package netlab

import (
	"testing"
)

func TestParseRate(t *testing.T) {
	for s, want := range map[string]float64{
		"100mbit": 100e6,
		"1.5gbit": 1.5e9,
		"800kbit": 800e3,
		"10mbps":  80e6,
		"1kibit":  1024,
		"9600":    9600,
		"64bps":   512,
		" 2Mbit ": 2e6,
	} {
		got, err := parseRate(s)
		if err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "mbit", "-1mbit", "0", "1 furlong", "NaNbit", "1e300gbit"} {
		if _, err := parseRate(s); err == nil {
			t.Errorf("parseRate(%q) succeeded", s)
		}
	}
}

func TestIsIPFrame(t *testing.T) {
	frame := make([]byte, vnetHdrLen+14)
	for et, want := range map[uint16]bool{0x0800: true, 0x86dd: true, 0x0806: false, 0x8100: false} {
		frame[vnetHdrLen+12], frame[vnetHdrLen+13] = byte(et>>8), byte(et)
		if got := isIPFrame(frame); got != want {
			t.Errorf("ethertype %#04x: isIPFrame = %v", et, got)
		}
	}
	if isIPFrame(frame[:vnetHdrLen+13]) {
		t.Error("a truncated frame counts as IP")
	}
}
