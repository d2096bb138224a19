package transports

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/wireplay/wireplay/netx"
)

func TestUDPAllowBlocksReflectorPorts(t *testing.T) {
	e := newUDPEcho(UDPEchoConfig{PerSourceRate: 10, PerSourceBurst: 2, MaxSources: 4, BlockPorts: []uint16{9999}}, nil)
	e.port = 7777
	now := time.Now()
	e.global.init(1000, 1000, now)
	tests := []struct {
		name string
		from *net.UDPAddr
		want bool
	}{
		{"echo port 7", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7}, false},
		{"dns 53", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}, false},
		{"ntp 123", &net.UDPAddr{IP: net.IPv6loopback, Port: 123}, false},
		{"port 1023", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1023}, false},
		{"port 0", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}, false},
		{"its own port", &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 7777}, false},
		{"wireplay's default udp echo", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 7002}, false},
		{"wireplay's default quic", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 7003}, false},
		{"another endpoint of this server", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 9999}, false},
		{"port 1024", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 8), Port: 1024}, true},
		{"ephemeral", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.allow(tt.from, now); got != tt.want {
				t.Errorf("allow(%v) = %v, want %v", tt.from, got, tt.want)
			}
		})
	}
	t.Run("one bucket per IP, whatever the port", func(t *testing.T) {
		ip := net.IPv4(127, 0, 0, 2)
		if !e.allow(&net.UDPAddr{IP: ip, Port: 5000}, now) || !e.allow(&net.UDPAddr{IP: ip, Port: 5001}, now) {
			t.Fatal("burst of 2 refused")
		}
		if e.allow(&net.UDPAddr{IP: ip, Port: 5002}, now) {
			t.Error("a third datagram at once, from a third port of the same IP, was allowed")
		}
		if !e.allow(&net.UDPAddr{IP: ip, Port: 5003}, now.Add(150*time.Millisecond)) {
			t.Error("refill after 150 ms (10/s) refused")
		}
	})
	t.Run("one bucket per IPv6 /64", func(t *testing.T) {
		a := &net.UDPAddr{IP: net.ParseIP("2001:db8:1:2::1"), Port: 5000}
		b := &net.UDPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9"), Port: 6000}
		if !e.allow(a, now) || !e.allow(b, now) {
			t.Fatal("burst of 2 refused")
		}
		if e.allow(a, now) {
			t.Error("a third datagram from the same /64 was allowed")
		}
	})
	t.Run("source table full", func(t *testing.T) {
		if e.allow(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 3), Port: 5000}, now) {
			t.Error("a new source beyond MaxSources with no idle bucket was allowed")
		}
	})
	t.Run("per port", func(t *testing.T) {
		p := newUDPEcho(UDPEchoConfig{PerSourceRate: 10, PerSourceBurst: 1, MaxSources: 8, PerPort: true}, nil)
		p.global.init(1000, 1000, now)
		a, b := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5001}
		if !p.allow(a, now) || p.allow(a, now) || !p.allow(b, now) {
			t.Error("PerPort: want one bucket of 1 for each port of 127.0.0.1")
		}
	})
}

// TestUDPEchoNoReflectionLoop sends real datagrams whose source is a UDP echo: from the echo's
// own socket to itself, and from a second echo to the first (as a datagram forged with the
// second's address would arrive). Without the guard each is answered and two echoes bounce it
// between them until the rate limits stop them; with it none is answered.
func TestUDPEchoNoReflectionLoop(t *testing.T) {
	ctx := context.Background()
	a, err := ListenUDPEcho(ctx, netx.Kernel, "127.0.0.1:0", UDPEchoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	bport := func() uint16 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port)
	}()
	// b knows a's port as one of "its server's" endpoints, as serve configures its own; a knows
	// b's the same way.
	a.blocked[bport] = true
	b, err := ListenUDPEcho(ctx, netx.Kernel, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(bport))), UDPEchoConfig{
		BlockPorts: []uint16{uint16(a.Addr().(*net.UDPAddr).Port)}})
	if err != nil {
		t.Skipf("port %d taken again: %v", bport, err)
	}
	t.Cleanup(func() { b.Close() })
	go a.Serve()
	go b.Serve()
	if _, err := a.pc.WriteTo([]byte("to myself"), a.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pc.WriteTo([]byte("ping-pong"), a.Addr()); err != nil {
		t.Fatal(err)
	}
	// A plain client's datagram, answered, marks the end: a reads in order from one socket.
	c, err := net.Dial("udp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("client")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "client" {
		t.Fatalf("client echo: %q, %v", buf[:n], err)
	}
	if a.Dropped() != 2 || a.Echoed() != 1 || b.Echoed() != 0 {
		t.Errorf("a dropped %d and echoed %d, b echoed %d; want 2, 1 (the client), 0", a.Dropped(), a.Echoed(), b.Echoed())
	}
}
