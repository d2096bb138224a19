package transports_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports"
)

// startWSEcho serves h at /ws/echo on 127.0.0.1 and returns its URL.
func startWSEcho(t *testing.T, h http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /ws/echo", h)
	s, err := transports.ListenWS(context.Background(), netx.Kernel, "127.0.0.1:0", mux)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "ws://" + s.Addr().String() + "/ws/echo"
}

// dialWSFrom opens a WebSocket to url from ip; refused, it returns the HTTP status and body.
func dialWSFrom(t *testing.T, url, ip string) (c *websocket.Conn, status int, body string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	c, res, err := websocket.Dial(ctxT(t), url, &websocket.DialOptions{HTTPClient: client})
	if err == nil {
		t.Cleanup(func() { c.CloseNow() })
		return c, http.StatusSwitchingProtocols, ""
	}
	if res == nil {
		t.Fatalf("dial ws from %s: %v", ip, err)
	}
	b, _ := io.ReadAll(res.Body)
	return nil, res.StatusCode, string(b)
}

func wsEchoes(t *testing.T, c *websocket.Conn) bool {
	t.Helper()
	ctx := ctxT(t)
	if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
		return false
	}
	typ, msg, err := c.Read(ctx)
	return err == nil && typ == websocket.MessageText && string(msg) == "ping"
}

// TestWSEchoPerIPCap: a client holding its cap is refused with 429 and the reason; another client
// is served; over the cap in all anyone gets 503; a closed connection's slot is reused.
func TestWSEchoPerIPCap(t *testing.T) {
	var mu sync.Mutex
	var refused []transports.Refusal
	h := transports.WSEchoHandler(transports.WSEchoConfig{MaxConnsPerIP: 2, MaxConns: 4, OnRefuse: func(r *transports.Refusal) {
		mu.Lock()
		refused = append(refused, *r)
		mu.Unlock()
	}})
	url := startWSEcho(t, h)
	var held []*websocket.Conn
	for range 2 {
		c, status, body := dialWSFrom(t, url, "127.0.0.2")
		if c == nil || !wsEchoes(t, c) {
			t.Fatalf("a connection within the cap: %d %q", status, body)
		}
		held = append(held, c)
	}
	_, status, body := dialWSFrom(t, url, "127.0.0.2")
	if status != http.StatusTooManyRequests || !strings.Contains(body, "wireplay ws echo: too many connections from 127.0.0.2 (cap 2 per client)") {
		t.Errorf("3rd from 127.0.0.2: %d %q, want 429 and the reason", status, body)
	}
	for range 2 {
		c, status, body := dialWSFrom(t, url, "127.0.0.3")
		if c == nil || !wsEchoes(t, c) {
			t.Fatalf("127.0.0.3 not served while 127.0.0.2 holds its cap: %d %q", status, body)
		}
	}
	_, status, body = dialWSFrom(t, url, "127.0.0.4")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "too many connections in all (cap 4)") {
		t.Errorf("5th in all: %d %q, want 503 and the reason", status, body)
	}
	mu.Lock()
	if len(refused) != 2 || refused[0].Reason != "per-ip" || refused[0].Client.String() != "127.0.0.2" || refused[1].Reason != "total" {
		t.Errorf("refusals %+v, want per-ip of 127.0.0.2, then total", refused)
	}
	mu.Unlock()
	held[0].Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the echo sees the close", func() bool { return h.Open() == 3 })
	if c, status, body := dialWSFrom(t, url, "127.0.0.2"); c == nil || !wsEchoes(t, c) {
		t.Errorf("a slot freed by a close is not reused: %d %q", status, body)
	}
}

// TestWSEchoRefusesInvalidUTF8: a text message that is not UTF-8 closes the connection with 1007;
// the same bytes in a binary message are echoed, as is valid text.
func TestWSEchoRefusesInvalidUTF8(t *testing.T) {
	url := startWSEcho(t, transports.WSEchoHandler(transports.WSEchoConfig{}))
	ctx := ctxT(t)
	bad := []byte("caf\xc3") // a 2-byte sequence cut short
	c, _, _ := dialWSFrom(t, url, "127.0.0.2")
	if c == nil || !wsEchoes(t, c) {
		t.Fatal("valid text not echoed")
	}
	if err := c.Write(ctx, websocket.MessageBinary, bad); err != nil {
		t.Fatal(err)
	}
	if typ, msg, err := c.Read(ctx); err != nil || typ != websocket.MessageBinary || string(msg) != string(bad) {
		t.Fatalf("binary echo: %v %v %q", typ, err, msg)
	}
	if err := c.Write(ctx, websocket.MessageText, bad); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusInvalidFramePayloadData {
		t.Errorf("after invalid UTF-8 text: %v (status %d), want close 1007", err, got)
	}
}
