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

// TestHostInvalidRateLimit: a keepalive probe is an out-of-window segment, which netstack answers
// at most once per InvalidRateLimit. Counted on the wire: with the default 500 ms, probes 40 ms
// apart get at most one answer per 500 ms of the log's own timestamps; with 0, every probe gets
// its answer before the next probe goes.
func TestHostInvalidRateLimit(t *testing.T) {
	for _, limit := range []time.Duration{-1, 0} { // -1: leave the default
		l := newLink(t, Config{})
		if got := l.Server().InvalidRateLimit(); got != 500*time.Millisecond {
			t.Fatalf("default InvalidRateLimit = %v, want netstack's 500ms", got)
		}
		if limit >= 0 {
			if err := l.Server().SetInvalidRateLimit(limit); err != nil {
				t.Fatal(err)
			}
			if got := l.Server().InvalidRateLimit(); got != limit {
				t.Fatalf("InvalidRateLimit reads back %v, want %v", got, limit)
			}
		}
		client, _ := tcpPair(t, l)
		const probes = 8
		if err := client.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 40 * time.Millisecond, Interval: 40 * time.Millisecond, Count: 100}); err != nil {
			t.Fatal(err)
		}
		var sent, answered int
		var first, last time.Time
		for range 200 { // bounded: 8 probes take well under a second
			// The probes judged are those the next probe followed or an answer closed: the
			// latest may still be waiting for its answer when the log is read.
			sent, answered, first, last = keepaliveProbes(l.Packets())
			if sent >= probes {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if sent < probes {
			t.Fatalf("limit %v: only %d keepalive probes judged on the wire", limit, sent)
		}
		t.Logf("limit %v: %d of %d probes over %v answered", limit, answered, sent, last.Sub(first))
		if limit == 0 {
			if answered != sent {
				t.Errorf("limit 0: %d of %d probes answered, want all", answered, sent)
			}
			continue
		}
		if most := 1 + int(last.Sub(first)/(500*time.Millisecond)); answered > most || answered == sent {
			t.Errorf("default limit: %d of %d probes over %v answered, want at most %d", answered, sent, last.Sub(first), most)
		}
	}
}

// keepaliveProbes counts the client's keepalive probes in pkts (an empty ACK with seq one below
// the server's last ack) and those the server answered (a packet to the client before the next
// probe), and gives the first and last probe's time.
//
// A probe still unanswered at the end of pkts is left out (its answer may be on its way), as are
// first and last: sent counts the probes that were answered or followed by another probe.
func keepaliveProbes(pkts []Packet) (sent, answered int, first, last time.Time) {
	var lastDecided time.Time
	var srvAck uint32
	pending := false
	for _, p := range pkts {
		d := p.Decoded
		if d.Proto != "tcp" {
			continue
		}
		if p.Dir == ServerToClient {
			if pending {
				answered++
				pending = false
			}
			srvAck = d.TCPAck
			continue
		}
		if d.PayloadLen == 0 && d.Flags == FlagACK && srvAck != 0 && d.TCPSeq == srvAck-1 {
			if pending || sent > 0 {
				lastDecided = last // the probe before this one is answered or followed
			}
			sent++
			pending = true
			if first.IsZero() {
				first = p.Time
			}
			last = p.Time
		}
	}
	if pending && sent > 0 { // the latest probe is not yet decided
		return sent - 1, answered, first, lastDecided
	}
	return sent, answered, first, last
}
