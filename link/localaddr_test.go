package link

import (
	"net"
	"testing"
)

// TestUDPLocalAddrUnspecified: a UDP socket bound to 0.0.0.0 reports 0.0.0.0 with its port, like
// the kernel's, not an empty IP (quic-go's qlog tracer panics on an empty one).
func TestUDPLocalAddrUnspecified(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	pc, err := l.Client().ListenPacket(testCtx(t), "udp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	a, ok := pc.LocalAddr().(*net.UDPAddr)
	if !ok || !a.IP.Equal(net.IPv4zero) || a.IP.To4() == nil || a.Port == 0 {
		t.Errorf("LocalAddr %#v, want 0.0.0.0:port", pc.LocalAddr())
	}
}
