package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/protocol"
)

// TestDownloadsPerSession: a session with maxDownloads captures being built is refused another
// (429, saying why) until one ends; then its download is served again. Every download holds its
// file in memory, so their number is what bounds that memory.
func TestDownloadsPerSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := New(Config{HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", QUICAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		s.Shutdown(sctx)
	})
	base := "http://" + s.Addrs().HTTP
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/relay", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := protocol.DecodeEvents(b)
	if err != nil || len(evs) == 0 || evs[0].Type != protocol.EventWelcome {
		t.Fatalf("welcome: %v %v", evs, err)
	}
	id := evs[0].Session
	sess := s.relay.session(id)
	if sess == nil {
		t.Fatalf("no session %q", id)
	}
	get := func() (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/relay/pcapng", nil)
		req.Header.Set(protocol.SessionHeader, id)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	// Kernel mode has no capture: a download that passed the limit is answered 409.
	if code, body := get(); code != http.StatusConflict {
		t.Fatalf("download with none in progress: %d %q, want 409 (kernel mode)", code, body)
	}
	sess.downloads.Store(maxDownloads) // as if that many were being built
	if code, body := get(); code != http.StatusTooManyRequests || !strings.Contains(body, "in progress") {
		t.Errorf("download past %d in progress: %d %q, want 429 saying why", maxDownloads, code, body)
	}
	if n := sess.downloads.Load(); n != maxDownloads {
		t.Errorf("a refused download left the count at %d, want %d", n, maxDownloads)
	}
	sess.downloads.Add(-1)
	if code, body := get(); code != http.StatusConflict {
		t.Errorf("download once one ended: %d %q, want 409 again", code, body)
	}
	if n := sess.downloads.Load(); n != maxDownloads-1 {
		t.Errorf("a finished download left the count at %d, want %d", n, maxDownloads-1)
	}
}
