package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/transports"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServePerClientCaps: --max-conns-per-ip holds a client to its cap on /ws/echo (429) and
// on the QUIC echo (CONNECTION_REFUSED), each refusal logged; the relay, whose sessions all
// reach the relay's own endpoints from one address, goes on past that cap.
func TestServePerClientCaps(t *testing.T) {
	var logs lockedBuffer
	s := startServer(t, server.Config{MaxConnsPerIP: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := testCtx(t, 20*time.Second)

	ws := "ws://" + s.Addrs().HTTP + "/ws/echo"
	held, _, err := websocket.Dial(ctx, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.CloseNow()
	_, res, err := websocket.Dial(ctx, ws, nil)
	if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a 2nd /ws/echo from 127.0.0.1: %v, want 429", err)
	}
	body, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(body), "too many connections from 127.0.0.1 (cap 1 per client)") {
		t.Errorf("429 body %q, want the reason", body)
	}

	q, err := transports.DialQUIC(ctx, netx.Kernel, s.Addrs().QUIC, transports.QUICOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := transports.DialQUIC(ctx, netx.Kernel, s.Addrs().QUIC, transports.QUICOptions{}); err == nil || !strings.Contains(err.Error(), "CONNECTION_REFUSED") {
		t.Errorf("a 2nd QUIC connection from 127.0.0.1: %v, want CONNECTION_REFUSED", err)
	}

	// Two relay sessions, each with its own WebSocket and QUIC connections to the relay's
	// endpoints, both from 127.0.0.1: two per client, over the cap of 1.
	for i := range 2 {
		rc := dialRelay(t, s, nil)
		rc.send(protocol.Request{Type: protocol.TypeSend, ID: 1, Text: "past the cap", Transports: []protocol.Transport{protocol.WS, protocol.QUICStream}})
		done := map[protocol.Transport]bool{}
		rc.until(func(e protocol.Event) bool {
			switch e.Type {
			case protocol.EventComplete:
				done[e.Transport] = true
			case protocol.EventError:
				t.Errorf("session %d: %+v", i+1, e)
				return true
			}
			return len(done) == 2
		})
	}

	for _, want := range []string{
		`msg="connection refused" endpoint=ws reason=per-ip client=127.0.0.1 cap=1 refused=1`,
		`msg="connection refused" endpoint=quic reason=per-ip client=127.0.0.1 cap=1 refused=1`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}
