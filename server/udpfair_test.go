package server_test

import (
	"net"
	"testing"
	"time"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/transports"
)

// udpFlood sends n datagrams from each of ports sockets bound on ip to the UDP echo, then one
// marker datagram from a socket of its own on marker and waits for its echo: the echo answers in
// the order it reads, so by then every flood reply is already in its socket's buffer. It returns
// how many flood datagrams were answered and how long the flood took.
func udpFlood(t *testing.T, echo, ip string, ports, n int, marker string) (int, time.Duration) {
	t.Helper()
	conns := make([]*net.UDPConn, ports)
	for i := range conns {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	to, err := net.ResolveUDPAddr("udp", echo)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, c := range conns {
		for range n {
			if _, err := c.WriteToUDP([]byte("flood"), to); err != nil {
				t.Fatal(err)
			}
		}
	}
	took := time.Since(start)
	m, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(marker)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.WriteToUDP([]byte("marker"), to); err != nil {
		t.Fatal(err)
	}
	_ = m.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	if _, _, err := m.ReadFromUDP(buf); err != nil {
		t.Fatalf("marker from %s not echoed: %v", marker, err)
	}
	got := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)) // the replies are queued already
		for {
			if _, _, err := c.ReadFromUDP(buf); err != nil {
				break
			}
			got++
		}
	}
	return got, took
}

// TestUDPEchoPerIPFairness: one host flooding from many ports gets one host's budget (before, each
// port had a bucket of its own, so 50 ports took the global budget), another IP is served in full,
// and the relay (also on 127.0.0.1) is not starved by an outside flood from 127.0.0.1: it has echo
// endpoints of its own.
func TestUDPEchoPerIPFairness(t *testing.T) {
	const rate, burst = 0.01, 10 // a token per 100 s: a spent bucket stays spent for the test
	s := startServer(t, server.Config{UDPEcho: transports.UDPEchoConfig{PerSourceRate: rate, PerSourceBurst: burst}})
	echo := s.Addrs().UDP

	got, took := udpFlood(t, echo, "127.0.0.2", 30, 5, "127.0.0.3")
	if max := burst + int(rate*took.Seconds()) + 1; got > max {
		t.Errorf("127.0.0.2 flooding from 30 ports had %d of 150 answered; one IP's bucket allows %d (burst %d + %g/s × %v)", got, max, burst, rate, took)
	}
	other, _ := udpFlood(t, echo, "127.0.0.3", 1, burst-1, "127.0.0.4")
	if other != burst-1 {
		t.Errorf("127.0.0.3 sending %d (within its burst) had %d answered", burst-1, other)
	}

	// 127.0.0.1's bucket spent by an outside flood; the relay (also on 127.0.0.1) still gets its
	// datagrams answered.
	udpFlood(t, echo, "127.0.0.1", 30, 5, "127.0.0.5")
	rc := dialRelay(t, s, nil)
	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 1, Text: "through", Transports: []protocol.Transport{protocol.UDP}})
	rc.until(func(e protocol.Event) bool {
		if e.Type == protocol.EventLost || e.Type == protocol.EventError {
			t.Fatalf("relay's UDP datagram not answered while 127.0.0.1 is flooded: %+v", e)
		}
		return e.Type == protocol.EventComplete
	})
}
