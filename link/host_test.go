package link

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestTCPConnOptions sets each socket option the link's TCP conn offers and checks it where it
// shows: in the option read back, on the wire (an RST for SO_LINGER 0) or in the TCP state.
func TestTCPConnOptions(t *testing.T) {
	l := newLink(t, Config{})
	client, server := tcpPair(t, l)
	if !client.NoDelay() {
		t.Error("netstack's default is Nagle off; NoDelay() = false")
	}
	if err := client.SetNoDelay(false); err != nil || client.NoDelay() {
		t.Errorf("SetNoDelay(false): err %v, NoDelay() %v", err, client.NoDelay())
	}
	if err := client.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: 2 * time.Second, Count: 3}); err != nil {
		t.Errorf("SetKeepAliveConfig: %v", err)
	}
	if err := client.SetKeepAliveConfig(net.KeepAliveConfig{Idle: -1}); err == nil {
		t.Error("SetKeepAliveConfig with a negative idle did not fail")
	}
	if st := client.State(); st != "ESTABLISHED" {
		t.Errorf("State() = %q, want ESTABLISHED", st)
	}
	if err := server.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	mark := len(l.Packets())
	server.Close()
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after the peer's abort succeeded")
	}
	rst := 0
	for _, p := range l.Packets()[mark:] {
		if p.Dir == ServerToClient && p.Decoded.Flags&FlagRST != 0 {
			rst++
		}
		if p.Dir == ServerToClient && p.Decoded.Flags&FlagFIN != 0 {
			t.Errorf("SO_LINGER 0 sent a FIN: %v", p)
		}
	}
	if rst != 1 {
		t.Errorf("SO_LINGER 0: %d RSTs from the server on the wire, want 1", rst)
	}
	if !client.Closed() {
		t.Errorf("client state after an RST is %q, want closed", client.State())
	}
}

// TestHostTimeWait: the active closer holds TIME-WAIT for the host's setting, which reads back.
func TestHostTimeWait(t *testing.T) {
	l := newLink(t, Config{})
	if got := l.Client().TimeWait(); got != 60*time.Second {
		t.Errorf("default TimeWait() = %v, want netstack's 60s", got)
	}
	if err := l.Client().SetTimeWait(0); err == nil {
		t.Error("SetTimeWait(0) did not fail")
	}
	if err := l.Client().SetTimeWait(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := l.Client().TimeWait(); got != 3*time.Second {
		t.Errorf("TimeWait() = %v after SetTimeWait(3s)", got)
	}
	client, server := tcpPair(t, l)
	client.Close()
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := server.Read(make([]byte, 1)); err == nil {
		t.Fatal("server read no EOF")
	}
	server.Close()
	// The client reaches TIME-WAIT when its stack has taken in the server's FIN.
	waitFor(t, "the server's FIN on the wire", func() bool {
		for _, p := range l.Packets() {
			if p.Dir == ServerToClient && p.Decoded.Flags&FlagFIN != 0 {
				return true
			}
		}
		return false
	})
	waitFor(t, "the client to leave FIN-WAIT", func() bool { return !strings.HasPrefix(client.State(), "FIN-WAIT") })
	if !client.TimeWait() || client.State() != StateTimeWait {
		t.Errorf("active closer in %q, want %s", client.State(), StateTimeWait)
	}
}

// TestHostCounters: the stacks' own segment counts agree with the link's count of packets.
func TestHostCounters(t *testing.T) {
	l := newLink(t, Config{})
	client, server := tcpPair(t, l)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := server.Read(b)
			if err != nil {
				server.Close() // after the client's FIN
				return
			}
			server.Write(b[:n])
		}
	}()
	msg := make([]byte, 100_000)
	if _, err := client.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(client, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	// Close in order and wait until the server has taken the client's last ACK: then every
	// segment of the connection has been sent, carried and counted, and none will follow.
	client.Close()
	waitFor(t, "the server to close after the client's FIN", func() bool { return server.Closed() })
	waitFor(t, "the client's TIME-WAIT", client.TimeWait)
	cc, sc := l.Client().Counters(), l.Server().Counters()
	c2s, s2c := l.Counts(ClientToServer), l.Counts(ServerToClient)
	if cc.TCPSegmentsSent != c2s.Sent || sc.TCPSegmentsSent != s2c.Sent {
		t.Errorf("stacks sent %d and %d segments, the link carried %d and %d", cc.TCPSegmentsSent, sc.TCPSegmentsSent, c2s.Sent, s2c.Sent)
	}
	if sc.TCPSegmentsReceived != c2s.Delivered || cc.TCPSegmentsReceived != s2c.Delivered {
		t.Errorf("stacks received %d (server) and %d (client), the link delivered %d and %d", sc.TCPSegmentsReceived, cc.TCPSegmentsReceived, c2s.Delivered, s2c.Delivered)
	}
	if cc.TCPActiveOpens != 1 || sc.TCPPassiveOpens != 1 {
		t.Errorf("opens: client active %d, server passive %d, want 1 and 1", cc.TCPActiveOpens, sc.TCPPassiveOpens)
	}
}
