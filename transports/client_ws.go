package transports

import (
	"context"
	"io"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
)

// wsIO is the measuring client's WebSocket, with the statistics it keeps itself.
type wsIO struct {
	c     *websocket.Conn
	local net.Addr // of the TCP conn the HTTP client dialled
	st    *protocol.WSStats
	mu    *sync.Mutex
	sent  []time.Time // write times of messages in flight, for the RTT
}

func dialWSIO(ctx context.Context, n netx.Network, url string, st *protocol.WSStats, mu *sync.Mutex) (*wsIO, error) {
	c, err := dialWS(ctx, n, url, WSOptions{ReadLimit: 64 << 10})
	if err != nil {
		return nil, err
	}
	return &wsIO{c: c.Conn, local: c.LocalAddr(), st: st, mu: mu}, nil
}

func (w *wsIO) write(b []byte) error {
	// No per-write timer on the measured path: the echo endpoint always reads, and close ends a
	// blocked write.
	ctx := context.Background()
	w.mu.Lock()
	w.sent = append(w.sent, time.Now())
	w.mu.Unlock()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		return err
	}
	w.mu.Lock()
	w.st.FramesSent++
	w.st.BytesSent += uint64(len(b))
	w.mu.Unlock()
	return nil
}

func (w *wsIO) read(b []byte) (int, error) {
	_, r, err := w.c.Reader(context.Background()) // close ends it
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(r, b)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	w.mu.Lock()
	w.st.FramesReceived++
	w.st.BytesReceived += uint64(n)
	if len(w.sent) > 0 {
		w.st.RTTMicros = time.Since(w.sent[0]).Microseconds()
		w.sent = w.sent[1:]
	}
	w.mu.Unlock()
	return n, err
}

func (w *wsIO) close() error {
	err := w.c.Close(websocket.StatusNormalClosure, "")
	return err
}
func (w *wsIO) datagrams() bool     { return false }
func (w *wsIO) localAddr() net.Addr { return w.local }
func (w *wsIO) stats() *protocol.Stats {
	w.mu.Lock()
	s := *w.st
	w.mu.Unlock()
	return &protocol.Stats{WS: &s}
}
