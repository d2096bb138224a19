package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/quic-go/quic-go"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"go.uber.org/goleak"
)

// rawRelay completes the /relay upgrade over a plain TCP socket and returns it: a client that
// does nothing a WebSocket library would do for it (no pong, no close answer).
func rawRelay(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /relay HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	return c, br
}

// readFrame reads one (unmasked, server-sent) WebSocket frame.
func readFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return h[0] & 0x0f, payload, err
}

// TestRelayIdleTimeout: a client that sends nothing, not even a pong, is pinged and then closed
// with 1008 (and cut, as it does not answer the close either); a client that answers the pings
// but sends no request stays open many ping intervals past the idle timeout.
func TestRelayIdleTimeout(t *testing.T) {
	const idle, every = 400 * time.Millisecond, 100 * time.Millisecond
	s := startServer(t, server.Config{RelayIdleTimeout: idle, RelayPingInterval: every})

	t.Run("silent client is closed", func(t *testing.T) {
		c, br := rawRelay(t, s.Addrs().HTTP)
		c.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound on the test, not a measurement
		var ops []byte
		var closeCode uint16
		var err error
		for {
			var op byte
			var p []byte
			if op, p, err = readFrame(br); err != nil {
				break
			}
			ops = append(ops, op)
			if op == 0x8 && len(p) >= 2 {
				closeCode = binary.BigEndian.Uint16(p)
			}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("still open after 20 s; frames %v", ops)
		}
		pings := strings.Count(string(ops), "\x09")
		if pings < 1 || closeCode != uint16(websocket.StatusPolicyViolation) || ops[len(ops)-1] != 0x8 {
			t.Errorf("frames %v (ops), close code %d; want pings, then close 1008, then the end (%v)", ops, closeCode, err)
		}
	})

	t.Run("client answering pings stays open", func(t *testing.T) {
		var pings atomic.Int64
		enough := make(chan struct{})
		want := int64(3 * idle / every) // three idle timeouts' worth of pings
		c, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/relay", &websocket.DialOptions{
			OnPingReceived: func(context.Context, []byte) bool {
				if pings.Add(1) == want {
					close(enough)
				}
				return true // answer it
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetReadLimit(protocol.MaxReportMessage) // the welcome lists the lessons
		events := make(chan protocol.Event, 64)
		readErr := make(chan error, 1)
		go func() {
			for {
				_, b, err := c.Read(context.Background())
				if err != nil {
					readErr <- err
					return
				}
				evs, _ := protocol.DecodeEvents(b)
				for _, e := range evs {
					events <- e
				}
			}
		}()
		select {
		case <-enough:
		case err := <-readErr:
			t.Fatalf("closed after %d pings: %v", pings.Load(), err)
		case <-testCtx(t, 20*time.Second).Done():
			t.Fatalf("only %d pings", pings.Load())
		}
		b, _ := json.Marshal(protocol.Request{V: protocol.Version, Type: protocol.TypePing, ID: 7, T0: 7})
		if err := c.Write(testCtx(t, 5*time.Second), websocket.MessageText, b); err != nil {
			t.Fatalf("after %d pings: write %v", want, err)
		}
		for {
			select {
			case e := <-events:
				if e.Type == protocol.EventPong && e.Req == 7 {
					c.Close(websocket.StatusNormalClosure, "")
					return
				}
			case err := <-readErr:
				t.Fatalf("closed after %d pings: %v", pings.Load(), err)
			}
		}
	})

	fams := scrape(t, s)
	if got := value(t, fams, "wireplay_relay_idle_closed_total"); got != 1 {
		t.Errorf("wireplay_relay_idle_closed_total = %v, want 1 (the silent client)", got)
	}
	if got := value(t, fams, "wireplay_relay_pages_cut_total"); got != 1 {
		t.Errorf("wireplay_relay_pages_cut_total = %v, want 1 (the silent client does not answer the close)", got)
	}
	if got := value(t, fams, "wireplay_relay_pings_total"); got < float64(3*idle/every) {
		t.Errorf("wireplay_relay_pings_total = %v, want at least %d", got, 3*idle/every)
	}
}

// TestRelayInvalidUTF8: a text message that is not UTF-8 closes the connection with 1007.
func TestRelayInvalidUTF8(t *testing.T) {
	s := startServer(t, server.Config{})
	rc := dialRelay(t, s, nil)
	rc.raw(websocket.MessageText, []byte(`{"v":1,"type":"send","text":"`+"\xff\xfe"+`"}`))
	var err error
	for range 100 {
		if _, err = rc.read(10 * time.Second); err != nil {
			break
		}
	}
	if websocket.CloseStatus(err) != websocket.StatusInvalidFramePayloadData {
		t.Errorf("got %v, want close 1007", err)
	}
	// Valid UTF-8 still works on another page.
	other := dialRelay(t, s, nil)
	other.send(protocol.Request{Type: protocol.TypePing, ID: 1, T0: 1})
	other.until(func(e protocol.Event) bool { return e.Type == protocol.EventPong })
	if got := value(t, scrape(t, s), "wireplay_relay_invalid_utf8_total"); got != 1 {
		t.Errorf("wireplay_relay_invalid_utf8_total = %v, want 1", got)
	}
}

// TestReadyz: /readyz is 200 while the server accepts and 503 once it drains; /healthz stays 200
// and new relay pages are refused with 503.
func TestReadyz(t *testing.T) {
	s := startServer(t, server.Config{})
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get("http://" + s.Addrs().HTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := get("/readyz"); code != 200 || body != "ready" {
		t.Errorf("/readyz before drain: %d %q", code, body)
	}
	s.Drain()
	if code, body := get("/readyz"); code != 503 || body != "draining" {
		t.Errorf("/readyz draining: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz draining: %d", code)
	}
	_, res, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/relay", nil)
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("relay while draining: %v %v, want 503", res, err)
	}
	fams := scrape(t, s)
	if got := value(t, fams, "wireplay_http_draining"); got != 1 {
		t.Errorf("wireplay_http_draining = %v, want 1", got)
	}
	if got := value(t, fams, "wireplay_refusals_total", "endpoint", "relay", "reason", "shutdown"); got != 1 {
		t.Errorf("relay refusals for shutdown = %v, want 1", got)
	}
}

// scrape reads /metrics and parses it with Prometheus's own text parser.
func scrape(t *testing.T, s *server.Server) map[string]*dto.MetricFamily {
	t.Helper()
	fams, _ := scrapeBody(t, s)
	return fams
}

// scrapeBody is scrape, with the text it parsed.
func scrapeBody(t *testing.T, s *server.Server) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	res, err := http.Get("http://" + s.Addrs().HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams, body
}

// promtoolCheck runs `promtool check metrics` (Prometheus's own checker: the format and its naming
// and help-text rules) on body, where promtool is installed (Debian's prometheus package).
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: /metrics checked with expfmt's parser only")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// value is the sample of family name whose labels include want (name=value pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Errorf("no %s", name)
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_UNTYPED:
			return m.GetUntyped().GetValue()
		}
	}
	t.Errorf("no %s%v", name, want)
	return -1
}

// TestMetrics drives each endpoint a known amount and reads the same counts back from /metrics.
func TestMetrics(t *testing.T) {
	s := startServer(t, server.Config{MaxRelayPerIP: 3, MaxConnsPerIP: 1})
	a := s.Addrs()

	// A page of a foreign origin refused; three relay pages, a fourth refused by the per-IP cap;
	// one page in link mode.
	if _, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+a.HTTP+"/relay",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}}); err == nil {
		t.Fatal("foreign origin accepted")
	}
	pages := []*relayClient{dialRelay(t, s, nil), dialRelay(t, s, nil), dialRelay(t, s, nil)}
	if _, res, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+a.HTTP+"/relay", nil); err == nil || res == nil || res.StatusCode != 429 {
		t.Fatalf("4th page: %v %v, want 429", res, err)
	}
	pages[1].switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "clean"}, nil)
	// One request whose size is known, over TCP.
	req, _ := json.Marshal(protocol.Request{V: protocol.Version, Type: protocol.TypeSend, ID: 2, Text: "metrics", Transports: []protocol.Transport{protocol.TCP}})
	pages[0].raw(websocket.MessageText, req)
	pages[0].until(func(e protocol.Event) bool { return e.Type == protocol.EventStats })

	// TCP echo: one connection held, a second from the same IP refused (it is told why, then closed).
	held, err := net.Dial("tcp", a.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	held.Write([]byte("x"))
	if _, err := io.ReadFull(held, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	refused, err := net.Dial("tcp", a.TCP)
	if err != nil {
		t.Fatal(err)
	}
	refused.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.ReadAll(refused) // until the server closes it
	refused.Close()

	// WebSocket echo: one connection open.
	ws, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+a.HTTP+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(testCtx(t, 5*time.Second), websocket.MessageBinary, []byte("x"))
	if _, _, err := ws.Read(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}

	// A second WebSocket echo connection from this IP is over its cap (429).
	if _, res, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+a.HTTP+"/ws/echo", nil); err == nil || res == nil || res.StatusCode != 429 {
		t.Fatalf("2nd /ws/echo: %v %v, want 429", res, err)
	}

	// QUIC echo: one connection open, a second from this IP refused.
	qtls := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"wireplay"}}
	qc, err := quic.DialAddr(testCtx(t, 5*time.Second), a.QUIC, qtls, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	if qc2, err := quic.DialAddr(testCtx(t, 5*time.Second), a.QUIC, qtls, nil); err == nil {
		qc2.CloseWithError(0, "")
		t.Fatal("2nd QUIC connection from one IP accepted")
	}

	// UDP echo: three datagrams echoed.
	uc, err := net.Dial("udp", a.UDP)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 3 {
		uc.Write([]byte{byte(i)})
		if _, err := uc.Read(make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
	}

	// The UDP echo counts a datagram after its reply is sent, so the count can trail the replies
	// read here by a moment: wait for it (bounded).
	var fams map[string]*dto.MetricFamily
	var body []byte
	for range 200 {
		if fams, body = scrapeBody(t, s); value(t, fams, "wireplay_udp_datagrams_total", "result", "echoed") >= 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	promtoolCheck(t, body)
	for name, want := range map[string]float64{
		"wireplay_relay_sessions":       3,
		"wireplay_relay_sessions_total": 3,
		"wireplay_link_pages":           1,
		"wireplay_lessons_running":      0,
		"wireplay_lessons_queued":       0,
		"wireplay_http_draining":        0,
	} {
		if got := value(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wireplay_connections", []string{"endpoint", "relay"}, 3},
		{"wireplay_connections", []string{"endpoint", "tcp"}, 1},
		{"wireplay_connections", []string{"endpoint", "ws"}, 1},
		{"wireplay_connections", []string{"endpoint", "quic"}, 1},
		{"wireplay_refusals_total", []string{"endpoint", "relay", "reason", "per-ip"}, 1},
		{"wireplay_refusals_total", []string{"endpoint", "relay", "reason", "handshake"}, 1},
		{"wireplay_refusals_total", []string{"endpoint", "tcp", "reason", "per-ip"}, 1},
		{"wireplay_refusals_total", []string{"endpoint", "tcp", "reason", "total"}, 0},
		{"wireplay_refusals_total", []string{"endpoint", "ws", "reason", "per-ip"}, 1},
		{"wireplay_refusals_total", []string{"endpoint", "quic", "reason", "total"}, 0},
		{"wireplay_udp_datagrams_total", []string{"result", "echoed"}, 3},
		{"wireplay_udp_datagrams_total", []string{"result", "dropped"}, 0},
		// The only request any page sent is req (link requests' bytes are the same kind: count
		// them too).
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// A refused QUIC client may send its Initial more than once: each is a refusal.
	if got := value(t, fams, "wireplay_refusals_total", "endpoint", "quic", "reason", "per-ip"); got < 1 {
		t.Errorf("QUIC per-ip refusals = %v, want at least 1", got)
	}
	link, _ := json.Marshal(protocol.Request{V: protocol.Version, Type: protocol.TypeLink, ID: 1, Link: &protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "clean"}})
	if got := value(t, fams, "wireplay_relay_bytes_total", "direction", "in"); got != float64(len(req)+len(link)) {
		t.Errorf("relay bytes in = %v, want %d (the two requests sent)", got, len(req)+len(link))
	}
	if got := value(t, fams, "wireplay_relay_bytes_total", "direction", "out"); got < 1000 {
		t.Errorf("relay bytes out = %v, want at least the welcomes", got)
	}
	if got := value(t, fams, "process_resident_memory_bytes"); got < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v", got)
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "wireplay_") && f.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}
	if f := fams["wireplay_relay_sessions_total"]; f != nil && f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("wireplay_relay_sessions_total is a %v", f.GetType())
	}

	// A page, the QUIC and the WebSocket connection leaving are seen in a later scrape.
	pages[2].c.Close(websocket.StatusNormalClosure, "")
	qc.CloseWithError(0, "")
	ws.Close(websocket.StatusNormalClosure, "")
	for range 500 {
		f := scrape(t, s)
		if value(t, f, "wireplay_relay_sessions") == 2 && value(t, f, "wireplay_connections", "endpoint", "quic") == 0 &&
			value(t, f, "wireplay_connections", "endpoint", "ws") == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("sessions, QUIC and WebSocket connections did not fall after they closed")
}

// TestShutdownEndsEverything: Shutdown sends a relay page 1001 and ends a /ws/echo connection
// (which http.Server.Shutdown leaves alone, being hijacked), returns without error, and leaves no
// goroutine behind.
func TestShutdownEndsEverything(t *testing.T) {
	before := goleak.IgnoreCurrent()
	s := server.New(server.Config{HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", QUICAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc := dialRelay(t, s, nil)
	ws, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(testCtx(t, 5*time.Second), websocket.MessageText, []byte("x"))
	if _, _, err := ws.Read(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	if _, err := rc.read(10 * time.Second); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("relay page: %v, want close 1001", err)
	}
	if _, _, err := ws.Read(testCtx(t, 10*time.Second)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("/ws/echo after shutdown: %v, want the connection ended", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	ws.CloseNow()
	rc.c.CloseNow()
	goleak.VerifyNone(t, before)
}

// TestRelayIdleTimeoutTLS: over WSS, a client that goes silent after the upgrade (never reading,
// so it answers neither the pings nor the close) is closed and cut: its session ends, as
// /metrics shows, without the client doing anything.
func TestRelayIdleTimeoutTLS(t *testing.T) {
	ca := newTestCA(t)
	s := startServer(t, server.Config{CertFile: ca.certFile, KeyFile: ca.keyFile, RelayIdleTimeout: 300 * time.Millisecond, RelayPingInterval: 75 * time.Millisecond})
	c, _, err := websocket.Dial(testCtx(t, 5*time.Second), "wss://"+s.Addrs().HTTP+"/relay", &websocket.DialOptions{HTTPClient: ca.client()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(protocol.MaxReportMessage) // the welcome lists the lessons
	gauge := func() (sessions, idleClosedAndCut float64) {
		res, err := ca.client().Get("https://" + s.Addrs().HTTP + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		// Closed for idling, and cut after CloseGrace: coder/websocket's own wait for the close
		// would have ended it too, after 5 s, but uncounted.
		return value(t, fams, "wireplay_relay_sessions"), min(value(t, fams, "wireplay_relay_idle_closed_total"), value(t, fams, "wireplay_relay_pages_cut_total"))
	}
	for range 1000 { // bounded: 10 s
		if n, closed := gauge(); n == 0 && closed == 1 {
			// (The client's own view cannot be read now: answering the pings it buffered fails
			// on the cut connection before it reaches the close frame.)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	n, closed := gauge()
	t.Errorf("after 10 s: %v sessions, %v idle closes and cuts; want the silent client's session cut", n, closed)
}
