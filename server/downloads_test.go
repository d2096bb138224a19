package server_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDownloadSessionNotLogged: a session's id, the capability to download its captures, never
// reaches the server's log (at debug level), whether sent in the header as it should be or in the
// query string, which is refused.
func TestDownloadSessionNotLogged(t *testing.T) {
	var logs syncBuffer
	var id string
	t.Cleanup(func() { // after the server's shutdown, which startServer's cleanup does
		if id == "" || strings.Contains(logs.String(), id) {
			t.Errorf("the session id %q is in the server's log (or unknown):\n%s", id, logs.String())
		}
	})
	s := startServer(t, server.Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	base := "http://" + s.Addrs().HTTP
	rc, welcome := dialRelayWelcome(t, s)
	id = welcome.Session
	rc.switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "clean"}, newObserved())
	if code, _, b := getCapture(t, base+"/relay/pcapng", welcome.Session); code != http.StatusOK || len(b) == 0 {
		t.Fatalf("pcapng with the header: %d, %d bytes", code, len(b))
	}
	getCapture(t, base+"/relay/qlog?transport=quic-stream", welcome.Session)
	if code, _, b := get(t, base+"/relay/pcapng?session="+welcome.Session); code != http.StatusBadRequest || !strings.Contains(string(b), protocol.SessionHeader) {
		t.Errorf("pcapng with the session in the query: %d %q, want 400 naming the header", code, b)
	}
	rc.c.CloseNow()
}
