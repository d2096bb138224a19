package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"go.uber.org/goleak"
)

// startServer runs a server with every endpoint on an ephemeral loopback port.
func startServer(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // registered first, so it runs after the shutdown below
	cfg.HTTPAddr, cfg.TCPAddr, cfg.UDPAddr, cfg.QUICAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := server.New(cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type relayClient struct {
	t       *testing.T
	c       *websocket.Conn
	pending []protocol.Event // events of a message not yet returned
}

func dialRelay(t *testing.T, s *server.Server, opts *websocket.DialOptions) *relayClient {
	t.Helper()
	c, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/relay", opts)
	if err != nil {
		t.Fatalf("dial relay: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(protocol.MaxReportMessage) // the welcome lists the lessons
	rc := &relayClient{t: t, c: c}
	if e := rc.next(); e.Type != protocol.EventWelcome || e.V != protocol.Version || len(e.Transports) != 5 {
		t.Fatalf("first event %+v, want welcome", e)
	}
	return rc
}

func (rc *relayClient) send(r protocol.Request) {
	rc.t.Helper()
	r.V = protocol.Version
	b, _ := json.Marshal(r)
	rc.raw(websocket.MessageText, b)
}

func (rc *relayClient) raw(typ websocket.MessageType, b []byte) {
	rc.t.Helper()
	if err := rc.c.Write(testCtx(rc.t, 5*time.Second), typ, b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *relayClient) next() protocol.Event {
	rc.t.Helper()
	e, err := rc.read(10 * time.Second)
	if err != nil {
		rc.t.Fatalf("read event: %v", err)
	}
	return e
}

func (rc *relayClient) read(d time.Duration) (protocol.Event, error) {
	for len(rc.pending) == 0 {
		_, b, err := rc.c.Read(testCtx(rc.t, d))
		if err != nil {
			return protocol.Event{}, err
		}
		if rc.pending, err = protocol.DecodeEvents(b); err != nil || len(rc.pending) == 0 {
			rc.t.Fatalf("message is not JSON events: %q (%v)", b, err)
		}
	}
	e := rc.pending[0]
	rc.pending = rc.pending[1:]
	return e, nil
}

// until reads events until ok says stop, returning them all.
func (rc *relayClient) until(ok func(protocol.Event) bool) []protocol.Event {
	rc.t.Helper()
	var evs []protocol.Event
	for range 100000 {
		e := rc.next()
		evs = append(evs, e)
		if ok(e) {
			return evs
		}
	}
	rc.t.Fatal("too many events")
	return nil
}

func TestRelaySendOverEveryTransport(t *testing.T) {
	s := startServer(t, server.Config{})
	rc := dialRelay(t, s, nil)

	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 1, Text: "hello wire"})
	complete := map[protocol.Transport]protocol.Event{}
	stats := map[protocol.Transport]*protocol.Stats{}
	seen := map[protocol.Transport][]string{}
	rc.until(func(e protocol.Event) bool {
		seen[e.Transport] = append(seen[e.Transport], e.Type)
		switch e.Type {
		case protocol.EventComplete:
			complete[e.Transport] = e
		case protocol.EventStats:
			stats[e.Transport] = e.Stats
		case protocol.EventError:
			t.Errorf("error event: %+v", e)
		}
		return len(stats) == 5
	})
	for _, tr := range protocol.Transports {
		e := complete[tr]
		if e.Text != "hello wire" || e.Req != 1 || e.DurMicros <= 0 {
			t.Errorf("%s: complete %+v", tr, e)
		}
		if got := strings.Join(seen[tr], ","); !strings.HasPrefix(got, "dial,connected,write,read,complete") {
			t.Errorf("%s: events %s, want dial,connected,write,read,complete,...", tr, got)
		}
	}
	if st := stats[protocol.TCP]; st == nil || st.TCP == nil || st.TCP.BytesSent < 10 {
		t.Errorf("tcp stats %+v", st)
	}
	if st := stats[protocol.QUICStream]; st == nil || st.QUIC == nil || st.QUIC.SmoothedRTTMicros <= 0 {
		t.Errorf("quic stats %+v", st)
	}
	if st := stats[protocol.UDP]; st == nil || st.Seq == nil || st.Seq.Received != 1 {
		t.Errorf("udp stats %+v", st)
	}
	if st := stats[protocol.WS]; st == nil || st.WS == nil || st.WS.FramesReceived != 1 {
		t.Errorf("ws stats %+v", st)
	}

	// The connections are kept: a second send pays no handshake.
	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 2, Text: "again", Transports: []protocol.Transport{protocol.TCP, protocol.QUICStream}})
	n := 0
	evs := rc.until(func(e protocol.Event) bool {
		if e.Type == protocol.EventStats {
			n++
		}
		return n == 2
	})
	for _, e := range evs {
		if e.Type == protocol.EventDial || e.Type == protocol.EventConnected {
			t.Errorf("second send dialled again: %+v", e)
		}
		if e.Transport != protocol.TCP && e.Transport != protocol.QUICStream {
			t.Errorf("event for a transport not asked for: %+v", e)
		}
	}

	// Reconnect measures the handshakes again.
	rc.send(protocol.Request{Type: protocol.TypeReconnect, ID: 3})
	connected := map[protocol.Transport]bool{}
	rc.until(func(e protocol.Event) bool {
		if e.Type == protocol.EventConnected && e.Req == 0 {
			connected[e.Transport] = e.DurMicros > 0
		}
		return len(connected) == 5
	})

	// Ping is answered with the browser's clock.
	rc.send(protocol.Request{Type: protocol.TypePing, ID: 4, T0: 1234.5})
	rc.until(func(e protocol.Event) bool { return e.Type == protocol.EventPong && e.T0 == 1234.5 && e.Req == 4 })
}

func TestRelayBurstShowsEveryRead(t *testing.T) {
	s := startServer(t, server.Config{})
	rc := dialRelay(t, s, nil)
	const count = 50
	rc.send(protocol.Request{Type: protocol.TypeBurst, ID: 9, Count: count, Size: 100})
	done := map[protocol.Transport]int{}
	readBytes := map[protocol.Transport]int{}
	rc.until(func(e protocol.Event) bool {
		switch e.Type {
		case protocol.EventComplete, protocol.EventLost:
			done[e.Transport]++
		case protocol.EventRead:
			readBytes[e.Transport] += e.Bytes
			if len(e.Msgs) == 0 {
				t.Errorf("read event names no message: %+v", e)
			}
		}
		n := 0
		for _, v := range done {
			if v == count {
				n++
			}
		}
		return n == 5
	})
	for _, tr := range []protocol.Transport{protocol.TCP, protocol.QUICStream, protocol.WS} {
		if readBytes[tr] != count*100 {
			t.Errorf("%s: reads returned %d bytes, want %d", tr, readBytes[tr], count*100)
		}
	}
}

func TestRelayBadInput(t *testing.T) {
	s := startServer(t, server.Config{MaxRelayPerIP: 3})

	t.Run("malformed requests get errors and the socket stays open", func(t *testing.T) {
		rc := dialRelay(t, s, nil)
		for _, bad := range []string{`not json`, `{"v":1,"type":"teleport"}`, `{"v":1,"type":"send","text":"x","transports":["10.0.0.1:22"]}`} {
			rc.raw(websocket.MessageText, []byte(bad))
			if e := rc.next(); e.Type != protocol.EventError || e.Error == "" {
				t.Errorf("%s: got %+v, want an error event", bad, e)
			}
			rc.send(protocol.Request{Type: protocol.TypePing, T0: 1})
			if e := rc.next(); e.Type != protocol.EventPong {
				t.Errorf("after %s: got %+v, want the socket still working", bad, e)
			}
		}
	})

	t.Run("oversize request", func(t *testing.T) {
		rc := dialRelay(t, s, nil)
		rc.raw(websocket.MessageText, []byte(`{"v":1,"type":"send","text":"`+strings.Repeat("a", protocol.MaxRequestSize)+`"}`))
		if e := rc.next(); e.Type != protocol.EventError || !strings.Contains(e.Error, "limit") {
			t.Errorf("got %+v, want an error naming the limit", e)
		}
		// The server closes with 1009 as soon as it reads the frame header, so the client may
		// still be writing the payload when the socket goes (broken pipe): either way it is closed.
		werr := rc.c.Write(testCtx(t, 5*time.Second), websocket.MessageText, make([]byte, 100<<10))
		_, err := rc.read(5 * time.Second)
		if werr == nil && websocket.CloseStatus(err) != websocket.StatusMessageTooBig || err == nil {
			t.Errorf("100 KiB request: write %v, read %v; want close 1009", werr, err)
		}
	})

	t.Run("repeated malformed requests close with 1008", func(t *testing.T) {
		rc := dialRelay(t, s, nil)
		var err error
		for range 10 {
			rc.c.Write(testCtx(t, time.Second), websocket.MessageBinary, []byte{0xff})
			if _, err = rc.read(5 * time.Second); err != nil {
				break
			}
		}
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("got %v, want close 1008", err)
		}
	})

	t.Run("wrong origin is refused", func(t *testing.T) {
		_, res, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/relay",
			&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
		if err == nil {
			t.Fatal("foreign origin accepted")
		}
		if res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("response %v, want 403", res)
		}
		rc := dialRelay(t, s, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://" + s.Addrs().HTTP}}})
		rc.c.Close(websocket.StatusNormalClosure, "")
	})

	t.Run("too many connections from one IP", func(t *testing.T) {
		s := startServer(t, server.Config{MaxRelayPerIP: 3})
		var open []*relayClient
		for range 3 {
			open = append(open, dialRelay(t, s, nil))
		}
		_, res, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/relay", nil)
		if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
			t.Errorf("4th connection: %v %v, want 429", res, err)
		}
		// The refusal says why in words and names the flag; /relay/limits, which a browser can
		// read when its upgrade failed, says the same.
		want := "this address already has 3 pages open; the server allows 3 per address (--max-relay-per-ip)"
		if res != nil {
			body, _ := io.ReadAll(res.Body)
			if !strings.Contains(string(body), want) {
				t.Errorf("429 body %q, want %q", body, want)
			}
		}
		lres, err := http.Get("http://" + s.Addrs().HTTP + "/relay/limits")
		if err != nil {
			t.Fatal(err)
		}
		var lim protocol.RelayLimits
		if err := json.NewDecoder(lres.Body).Decode(&lim); err != nil || lres.StatusCode != http.StatusOK {
			t.Fatalf("/relay/limits: %d %v", lres.StatusCode, err)
		}
		lres.Body.Close()
		if lim.PerAddress != 3 || lim.Open != 3 || lim.PerAddressReason() != want {
			t.Errorf("/relay/limits = %+v (%q), want 3 of 3 open", lim, lim.PerAddressReason())
		}
		// The others lose nothing.
		for i, rc := range open {
			rc.send(protocol.Request{Type: protocol.TypePing, T0: float64(i + 1)})
			if e := rc.next(); e.Type != protocol.EventPong || e.T0 != float64(i+1) {
				t.Errorf("connection %d: %+v", i, e)
			}
		}
		for _, rc := range open {
			rc.c.Close(websocket.StatusNormalClosure, "")
		}
	})
}

func TestRelayIdleSessionClosesTransports(t *testing.T) {
	s := startServer(t, server.Config{IdleTimeout: 300 * time.Millisecond})
	rc := dialRelay(t, s, nil)
	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 1, Text: "x", Transports: []protocol.Transport{protocol.TCP}})
	rc.until(func(e protocol.Event) bool { return e.Type == protocol.EventStats })
	time.Sleep(time.Second) // bounded: three idle periods
	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 2, Text: "y", Transports: []protocol.Transport{protocol.TCP}})
	evs := rc.until(func(e protocol.Event) bool { return e.Type == protocol.EventStats })
	// The endpoint's own idle timeout (the same 300 ms) may have closed the connection first:
	// a "closed" event may come before the new dial, but a dial there must be.
	for _, e := range evs {
		if e.Type == protocol.EventDial {
			return
		}
		if e.Type != protocol.EventClosed {
			t.Fatalf("after idle: %+v before any new dial", e)
		}
	}
	t.Error("after idle: no new dial")
}

func TestHealthz(t *testing.T) {
	s := startServer(t, server.Config{})
	res, err := http.Get(fmt.Sprintf("http://%s/healthz", s.Addrs().HTTP))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" {
		t.Errorf("%d %q", res.StatusCode, b)
	}
}

// TestRelayClosesSlowClient: a browser that stops reading is disconnected once its queue is full;
// another browser loses nothing.
func TestRelayClosesSlowClient(t *testing.T) {
	s := startServer(t, server.Config{MaxQueuedBytes: 64 << 10})
	other := dialRelay(t, s, nil)
	// A tiny receive buffer, so the server's writes block soon after the client stops reading.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10)
		}
		return c, err
	}}}
	slow := dialRelay(t, s, &websocket.DialOptions{HTTPClient: hc})
	slow.send(protocol.Request{Type: protocol.TypeBurst, ID: 1, Count: 500, Size: 100})
	time.Sleep(3 * time.Second) // not reading: ~1.5 MB of events pile up behind a 64 KiB queue

	other.send(protocol.Request{Type: protocol.TypePing, ID: 2, T0: 42})
	other.until(func(e protocol.Event) bool { return e.Type == protocol.EventPong && e.T0 == 42 })

	var err error
	for range 100000 { // what was already sent, then the close
		if _, err = slow.read(5 * time.Second); err != nil {
			break
		}
	}
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !strings.Contains(err.Error(), "too slow") {
		t.Errorf("slow client: %v, want close 1008 \"too slow\"", err)
	}
	fams := scrape(t, s)
	if got := value(t, fams, "wireplay_relay_queue_drops_total"); got != 1 {
		t.Errorf("wireplay_relay_queue_drops_total = %v, want 1", got)
	}
	if got := value(t, fams, "wireplay_relay_queue_dropped_bytes_total"); got <= 64<<10 {
		t.Errorf("wireplay_relay_queue_dropped_bytes_total = %v, want more than the 64 KiB queue", got)
	}
}
