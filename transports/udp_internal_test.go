package transports

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestUDPAllowBlocksReflectorPorts(t *testing.T) {
	e := &UDPEcho{cfg: UDPEchoConfig{PerSourceRate: 10, PerSourceBurst: 2, MaxSources: 2}, sources: map[netip.AddrPort]*bucket{}}
	now := time.Now()
	e.global.init(1000, 1000, now)
	tests := []struct {
		name string
		from *net.UDPAddr
		want bool
	}{
		{"echo port 7", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7}, false},
		{"daytime 13", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 13}, false},
		{"chargen 19", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 19}, false},
		{"dns 53", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}, false},
		{"ntp 123", &net.UDPAddr{IP: net.IPv6loopback, Port: 123}, false},
		{"port 0", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}, false},
		{"ephemeral", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.allow(tt.from, now); got != tt.want {
				t.Errorf("allow(%v) = %v, want %v", tt.from, got, tt.want)
			}
		})
	}
	t.Run("bucket", func(t *testing.T) {
		from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5000}
		first, second := e.allow(from, now), e.allow(from, now)
		if !first || !second {
			t.Fatal("burst of 2 refused")
		}
		if e.allow(from, now) {
			t.Error("third datagram at once allowed")
		}
		if !e.allow(from, now.Add(150*time.Millisecond)) {
			t.Error("refill after 150 ms (10/s) refused")
		}
	})
	t.Run("source table full", func(t *testing.T) {
		if e.allow(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 3), Port: 5000}, now) {
			t.Error("a new source beyond MaxSources with no idle bucket was allowed")
		}
	})
}
