package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/protocol"
)

// writerPair is an eventWriter on the server side of a real WebSocket over loopback TCP, and the
// client that reads what it writes.
type writerPair struct {
	w      *eventWriter
	client *websocket.Conn
}

// newWriterPair starts a WebSocket server whose one connection gets an eventWriter bounded at
// maxQueued bytes. readBuf, if not 0, is the client socket's receive buffer.
func newWriterPair(t *testing.T, maxQueued, readBuf int) *writerPair {
	t.Helper()
	got := make(chan *eventWriter, 1)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		c, err := websocket.Accept(rw, req, nil)
		if err != nil {
			t.Error(err)
			return
		}
		w := &eventWriter{ws: c, log: slog.New(slog.NewTextHandler(io.Discard, nil)), maxQueued: maxQueued}
		got <- w
		<-done
		w.stopWriter()
		c.CloseNow()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && readBuf > 0 {
			tc.SetReadBuffer(readBuf)
		}
		return c, err
	}}}
	client, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{HTTPClient: hc})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	client.SetReadLimit(-1)
	t.Cleanup(func() {
		client.CloseNow()
		close(done)
		srv.Close()
	})
	return &writerPair{w: <-got, client: client}
}

// read reads one WebSocket message and returns its events. It does not call t, so it may run on
// any goroutine.
func (p *writerPair) read() ([]protocol.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	typ, b, err := p.client.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, fmt.Errorf("message type %v", typ)
	}
	if n := bytes.Count(b, []byte{'\n'}); len(b) > maxMessageBytes && n > 1 {
		return nil, fmt.Errorf("a message of %d bytes holds %d events; batches stop below %d bytes", len(b), n, maxMessageBytes)
	}
	evs, err := protocol.DecodeEvents(b)
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", b, err)
	}
	return evs, nil
}

// readN reads messages until n events came, and returns them and how many messages held them.
func (p *writerPair) readN(n int) (evs []protocol.Event, msgs int, err error) {
	for len(evs) < n {
		got, err := p.read()
		if err != nil {
			return evs, msgs, fmt.Errorf("after %d of %d events: %w", len(evs), n, err)
		}
		evs = append(evs, got...)
		msgs++
	}
	if len(evs) != n {
		return evs, msgs, fmt.Errorf("%d events, want %d", len(evs), n)
	}
	return evs, msgs, nil
}

// mustReadN is readN on the test's goroutine.
func (p *writerPair) mustReadN(t *testing.T, n int) ([]protocol.Event, int) {
	t.Helper()
	evs, msgs, err := p.readN(n)
	if err != nil {
		t.Fatal(err)
	}
	return evs, msgs
}

func event(req uint64, text string) protocol.Event {
	return protocol.Event{Type: protocol.EventRead, Transport: protocol.TCP, Req: req, Msg: req + 1, Text: text}
}

// TestWriterBatchesInOrder: events queued together go out in few messages, one event per line,
// none over the message bound (unless alone), in the order they were queued.
func TestWriterBatchesInOrder(t *testing.T) {
	p := newWriterPair(t, 64<<20, 0)
	const n = 5000
	payload := strings.Repeat("x", 200)
	for i := range n {
		p.w.send(event(uint64(i), payload))
	}
	if p.w.backlog() == 0 {
		t.Fatal("nothing queued before the flush")
	}
	p.w.flush()
	evs, msgs := p.mustReadN(t, n)
	for i, e := range evs {
		if e.Req != uint64(i) || e.Text != payload || e.V != protocol.Version {
			t.Fatalf("event %d: req %d text %d bytes v %d, want req %d", i, e.Req, len(e.Text), e.V, i)
		}
	}
	// ~250 bytes an event: a message holds maxMessageBytes/250 of them.
	if perMsg := n / msgs; perMsg < maxMessageBytes/400 {
		t.Errorf("%d events in %d messages (%d a message): not batched", n, msgs, perMsg)
	}
	if b := p.w.backlog(); b != 0 {
		t.Errorf("backlog %d after everything arrived", b)
	}

	// notify sends at once, one event to a message when nothing else waits.
	for i := range 3 {
		p.w.notify(event(uint64(n+i), "ping"))
		evs, msgs := p.mustReadN(t, 1)
		if msgs != 1 || evs[0].Req != uint64(n+i) {
			t.Errorf("notify %d: %d messages, req %d", i, msgs, evs[0].Req)
		}
	}
}

// TestWriterOrderUnderConcurrency: senders on several goroutines, each flushing as it goes (one
// writes, the others leave their events to it or to a drain goroutine): every event arrives once,
// and each sender's events arrive in the order it sent them.
func TestWriterOrderUnderConcurrency(t *testing.T) {
	p := newWriterPair(t, 64<<20, 0)
	const senders, each = 4, 2000
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				p.w.send(event(uint64(g*each+i), ""))
				if i%7 == 0 {
					p.w.flush()
				} else {
					p.w.flushLater()
				}
			}
			p.w.flush()
		})
	}
	evs, _ := p.mustReadN(t, senders*each)
	wg.Wait()
	next := make([]int, senders)
	for _, e := range evs {
		g, i := int(e.Req)/each, int(e.Req)%each
		if i != next[g] {
			t.Fatalf("sender %d: event %d arrived when %d was due", g, i, next[g])
		}
		next[g]++
	}
}

// TestWriterFlushLater: events left queued after flushLater go out without another flush.
func TestWriterFlushLater(t *testing.T) {
	p := newWriterPair(t, 64<<20, 0)
	for round := range 3 { // the timer is re-armed, not made anew
		p.w.send(event(uint64(2*round), "write"))
		p.w.send(event(uint64(2*round+1), "write"))
		p.w.flushLater()
		p.w.flushLater() // armed once
		evs, _ := p.mustReadN(t, 2)
		if evs[0].Req != uint64(2*round) || evs[1].Req != uint64(2*round+1) {
			t.Errorf("round %d: reqs %d, %d", round, evs[0].Req, evs[1].Req)
		}
	}
}

// TestWriterClosesSlowReader: a reader that stops reading is closed with 1008 once its queue
// would pass the bound; the queue never passes it, what it did receive is an unbroken prefix of
// what was sent, later events are dropped, and a reader that keeps up, fed the same events at the
// same time, receives every one of them in order.
func TestWriterClosesSlowReader(t *testing.T) {
	const bound = 64 << 10
	slow := newWriterPair(t, bound, 4<<10) // a tiny receive buffer: writes block soon
	fast := newWriterPair(t, 64<<20, 0)
	payload := strings.Repeat("y", 100)

	type result struct {
		evs []protocol.Event
		err error
	}
	fastGot := make(chan result, 1)
	const end = "end" // the text of the last event the fast reader gets
	go func() {
		var r result
		for {
			var evs []protocol.Event
			evs, r.err = fast.read()
			r.evs = append(r.evs, evs...)
			if r.err != nil || len(r.evs) > 0 && r.evs[len(r.evs)-1].Text == end {
				fastGot <- r
				return
			}
		}
	}()
	// The slow writer is flushed from a goroutine of its own, as the relay's transport clients
	// flush theirs: its writes block once the reader's socket buffer is full, and sending goes on.
	kick := make(chan struct{}, 1)
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		for range kick {
			slow.w.flush()
		}
	}()
	// Send until the slow reader is closed (a cap far above what any socket buffers hold), then
	// 100 more, which the slow writer must drop.
	const most = 1 << 20
	dead, sent := -1, 0
	for ; sent < most && (dead < 0 || sent < dead+100); sent++ {
		e := event(uint64(sent), payload)
		slow.w.send(e)
		fast.w.send(e)
		if b := slow.w.backlog(); b > bound {
			t.Fatalf("slow queue holds %d bytes, bound %d", b, bound)
		}
		if sent < 10 {
			slow.w.flush() // a few events go out while the reader's buffer has room
		} else if sent%16 == 0 {
			select {
			case kick <- struct{}{}:
			default: // a flush is running or due
			}
			fast.w.flush()
		}
		slow.w.qmu.Lock()
		if slow.w.dead && dead < 0 {
			dead = sent
		}
		slow.w.qmu.Unlock()
	}
	fast.w.notify(event(uint64(sent), end))
	close(kick)
	if dead < 0 {
		t.Fatalf("%d events of %d bytes queued behind a reader that does not read: never closed", most, len(payload))
	}
	if b := slow.w.backlog(); b != 0 {
		t.Errorf("%d bytes still queued after the close", b)
	}

	var got []protocol.Event
	var err error
	for err == nil {
		var evs []protocol.Event
		evs, err = slow.read()
		got = append(got, evs...)
	}
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !strings.Contains(err.Error(), "too slow") {
		t.Errorf("slow reader: %v, want close 1008 \"too slow\"", err)
	}
	if len(got) < 10 || len(got) > dead {
		t.Errorf("slow reader received %d events; the queue closed at event %d", len(got), dead)
	}
	<-flusherDone // its blocked write ended with the close
	t.Logf("slow reader: closed at event %d of %d; it had received %d", dead, sent, len(got))
	for i, e := range got {
		if e.Req != uint64(i) {
			t.Fatalf("slow reader: event %d is req %d: not a prefix of what was sent", i, e.Req)
		}
	}

	res := <-fastGot
	if res.err != nil {
		t.Fatalf("fast reader: %v", res.err)
	}
	if len(res.evs) != sent+1 {
		t.Errorf("fast reader: %d events, want %d", len(res.evs), sent+1)
	}
	for i, e := range res.evs {
		if e.Req != uint64(i) {
			t.Fatalf("fast reader: event %d is req %d", i, e.Req)
		}
	}
	// Nothing more comes after the close: events sent now are dropped, not queued.
	slow.w.notify(event(uint64(sent), payload))
	if b := slow.w.backlog(); b != 0 {
		t.Errorf("%d bytes queued on a closed writer", b)
	}
	if _, err := slow.read(); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read after the close: %v", err)
	}
}

// TestWriterMessageBytes: a message of several events is each event's encoding followed by a
// newline, a message of one event that encoding alone; the same when the writer reuses a written
// batch's storage for the next.
func TestWriterMessageBytes(t *testing.T) {
	p := newWriterPair(t, 64<<20, 0)
	enc := func(e protocol.Event) string {
		e.V = protocol.Version
		b, err := protocol.AppendEvent(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	readRaw := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, b, err := p.client.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for round := range 3 {
		var want strings.Builder
		for i := range 3 {
			e := event(uint64(10*round+i), strings.Repeat("z", 10*(3-i)+round))
			p.w.send(e)
			want.WriteString(enc(e) + "\n")
		}
		p.w.flush()
		if got := readRaw(); got != want.String() {
			t.Errorf("round %d, three events: %q, want %q", round, got, want.String())
		}
		e := event(uint64(10*round+5), "one")
		p.w.notify(e)
		if got := readRaw(); got != enc(e) {
			t.Errorf("round %d, one event: %q, want %q", round, got, enc(e))
		}
	}
}
