package transportstest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// StartEcho starts wireplay's four echo endpoints on n at host (port 0 each) with
// transports.StartEcho and returns the Target that reaches them. Everything is closed in t.Cleanup.
func StartEcho(t testing.TB, n netx.Network, host string) transports.Target {
	t.Helper()
	e, err := transports.StartEcho(context.Background(), n, host, transports.EchoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e.Target
}

// Recorder collects a client's events.
type Recorder struct {
	ch chan protocol.Event
}

// NewRecorder returns a Recorder with room for many events.
func NewRecorder() *Recorder { return &Recorder{ch: make(chan protocol.Event, 4096)} }

// Emit is a transports.ClientOptions.Emit.
func (r *Recorder) Emit(e protocol.Event) { r.ch <- e }

// WaitFor returns events until one satisfies ok, or fails the test after timeout.
func (r *Recorder) WaitFor(t testing.TB, timeout time.Duration, ok func(protocol.Event) bool) []protocol.Event {
	t.Helper()
	var seen []protocol.Event
	deadline := time.After(timeout)
	for {
		select {
		case e := <-r.ch:
			seen = append(seen, e)
			if ok(e) {
				return seen
			}
		case <-deadline:
			t.Fatalf("no matching event within %v; saw %d events: %+v", timeout, len(seen), seen)
			return nil
		}
	}
}

// TestClients is the conformance suite every transport client passes on network n against the
// echo endpoints of target: handshake events, one message echoed whole, pipelined messages all
// echoed in order with their text, every read's bytes accounted for, stats, and a clean close.
func TestClients(t *testing.T, n netx.Network, target transports.Target) {
	for _, tr := range protocol.Transports {
		t.Run(string(tr), func(t *testing.T) { testClient(t, n, target, tr) })
	}
}

// testClient runs the suite for one transport: the subtests share one connection, in order, so
// the stats subtest sees the frames and datagrams the messages before it sent.
func testClient(t *testing.T, n netx.Network, target transports.Target, tr protocol.Transport) {
	rec := NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := transports.Dial(ctx, n, tr, target, transports.ClientOptions{Emit: rec.Emit, LossTimeout: 3 * time.Second})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	evs := rec.WaitFor(t, time.Second, func(e protocol.Event) bool { return e.Type == protocol.EventConnected })
	if evs[0].Type != protocol.EventDial {
		t.Errorf("first event %q, want dial", evs[0].Type)
	}
	checkHandshake(t, tr, evs[len(evs)-1])

	t.Run("one message", func(t *testing.T) { testOneMessage(t, c, rec, tr) })
	t.Run("pipelined", func(t *testing.T) { testPipelined(t, c, rec, tr) })
	t.Run("stats", func(t *testing.T) { testStats(t, c.Stats(), tr) })

	if err := c.Close(); err != nil && tr != protocol.UDP {
		t.Logf("close: %v", err)
	}
	if _, err := c.Send(9, []byte("after close")); err == nil {
		t.Error("send after close succeeded")
	}
}

// handshakes is what each transport's "connected" event says its handshake time covers.
var handshakes = map[protocol.Transport]string{
	protocol.TCP: protocol.HandshakeTCP, protocol.UDP: protocol.HandshakeNone, protocol.QUICStream: protocol.HandshakeQUIC,
	protocol.QUICDgram: protocol.HandshakeQUIC, protocol.WS: protocol.HandshakeWS,
}

// checkHandshake: a "connected" event names what its time covers; UDP has no handshake, so no
// time, and every other transport took some.
func checkHandshake(t *testing.T, tr protocol.Transport, e protocol.Event) {
	t.Helper()
	if e.Handshake != handshakes[tr] {
		t.Errorf("handshake %q, want %q", e.Handshake, handshakes[tr])
	}
	if tr == protocol.UDP && e.DurMicros != 0 {
		t.Errorf("UDP: handshake time %d µs, want none", e.DurMicros)
	}
	if tr != protocol.UDP && e.DurMicros <= 0 {
		t.Errorf("handshake duration %d µs, want > 0", e.DurMicros)
	}
}

// testOneMessage sends one message and checks its complete event: the text echoed whole, the
// request, a round trip and the transport.
func testOneMessage(t *testing.T, c *transports.Client, rec *Recorder, tr protocol.Transport) {
	msg := []byte("hello, " + string(tr))
	n, err := c.Send(7, msg)
	if err != nil {
		t.Fatal(err)
	}
	evs := rec.WaitFor(t, 5*time.Second, func(e protocol.Event) bool {
		return e.Type == protocol.EventComplete && e.Msg == n
	})
	done := evs[len(evs)-1]
	if done.Text != string(msg) || done.Req != 7 || done.DurMicros <= 0 || done.Transport != tr {
		t.Errorf("complete event %+v, want text %q, req 7, rtt > 0", done, msg)
	}
}

// testPipelined sends 20 messages without waiting and checks that all complete in order with
// their text, and that the reads returned every byte echoed (with each datagram's header).
func testPipelined(t *testing.T, c *transports.Client, rec *Recorder, tr protocol.Transport) {
	msgs := transports.Numbered(20, 100)
	var nums []uint64
	for _, m := range msgs {
		n, err := c.Send(8, m)
		if err != nil {
			t.Fatal(err)
		}
		nums = append(nums, n)
	}
	var got []protocol.Event
	readBytes := 0
	rec.WaitFor(t, 10*time.Second, func(e protocol.Event) bool {
		switch e.Type {
		case protocol.EventComplete:
			got = append(got, e)
		case protocol.EventRead:
			readBytes += e.Bytes
		}
		return len(got) == len(msgs)
	})
	want := 0
	for i, e := range got {
		if e.Msg != nums[i] || !bytes.Equal([]byte(e.Text), msgs[i][:min(64, len(msgs[i]))]) {
			t.Errorf("complete %d: msg %d text %q, want msg %d text %q", i, e.Msg, e.Text, nums[i], msgs[i][:64])
		}
		want += len(msgs[i])
	}
	if tr == protocol.UDP || tr == protocol.QUICDgram {
		want += len(msgs) * transports.DatagramHeader
	}
	if readBytes != want {
		t.Errorf("reads returned %d bytes in all, want %d", readBytes, want)
	}
}

// testStats checks the client's stats after the 21 messages of the subtests before it: the
// transport's own counters, and for datagram transports the sequence counts.
func testStats(t *testing.T, s *protocol.Stats, tr protocol.Transport) {
	switch tr {
	case protocol.TCP:
		if s == nil || s.TCP == nil || s.TCP.BytesSent == 0 {
			t.Errorf("tcp stats %+v, want bytes sent", s)
		}
	case protocol.QUICStream, protocol.QUICDgram:
		if s == nil || s.QUIC == nil || s.QUIC.PacketsSent == 0 || s.QUIC.SmoothedRTTMicros == 0 {
			t.Errorf("quic stats %+v, want packets and rtt", s)
		}
	case protocol.WS:
		if s == nil || s.WS == nil || s.WS.FramesReceived != 21 {
			t.Errorf("ws stats %+v, want 21 frames received", s)
		}
	}
	if tr == protocol.UDP || tr == protocol.QUICDgram {
		if s == nil || s.Seq == nil || s.Seq.Sent != 21 || s.Seq.Received != 21 || s.Seq.Lost != 0 {
			t.Errorf("seq stats %+v, want 21 sent and received", s)
		}
	}
}
