// Package wsqueue is the outgoing side of one subscriber of a fan-out over WebSocket (a chat or
// room member): a bounded queue of encoded messages, written by a goroutine that runs only while
// something waits, and a subscriber that falls Max messages behind is closed with 1008 at once
// (coder/websocket's chat example: its closeSlow), so that the others lose nothing and no one
// holds the publisher up.
package wsqueue

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Conn is what a Writer writes to: a *websocket.Conn, or another framing of the same messages
// (chat's TCP lines).
type Conn interface {
	Write(ctx context.Context, typ websocket.MessageType, msg []byte) error
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
}

var _ Conn = (*websocket.Conn)(nil)

// Writer queues messages for Conn. An idle Writer holds no goroutine and no queue storage.
// Messages are shared by every subscriber's queue (one encoding per message) and must not be
// changed once sent.
type Writer struct {
	Conn         Conn
	Max          int           // messages that may wait; one more closes Conn with 1008
	WriteTimeout time.Duration // for each message
	SlowReason   string        // the 1008 close's reason

	mu      sync.Mutex
	queue   [][]byte
	writing bool // a drain goroutine runs
	dead    bool // dropped or failed: nothing more is written
	closing bool // Finish was called: close once the queue is written
	code    websocket.StatusCode
	reason  string
}

// Send queues msg. It reports whether the queue was full: then the connection is closed with
// 1008 at once, even while a write to it is stuck (coder/websocket's Close does not wait for
// that write), and the caller takes the subscriber out.
func (w *Writer) Send(msg []byte) (dropped bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead || w.closing {
		return false
	}
	if len(w.queue) >= w.Max {
		w.dead, w.queue = true, nil
		go w.Conn.Close(websocket.StatusPolicyViolation, w.SlowReason)
		return true
	}
	w.queue = append(w.queue, msg)
	w.startLocked()
	return false
}

// Finish closes the connection with code once what is queued is written.
func (w *Writer) Finish(code websocket.StatusCode, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead || w.closing {
		return
	}
	w.closing, w.code, w.reason = true, code, reason
	w.startLocked()
}

func (w *Writer) startLocked() {
	if !w.writing {
		w.writing = true
		go w.drain()
	}
}

// drain writes the queue until it is empty, then ends (closing the connection if Finish asked).
func (w *Writer) drain() {
	for {
		w.mu.Lock()
		if w.dead {
			w.writing = false
			w.mu.Unlock()
			return
		}
		batch := w.queue
		w.queue = nil
		if len(batch) == 0 {
			w.writing = false
			closing, code, reason := w.closing, w.code, w.reason
			if closing {
				w.dead = true
			}
			w.mu.Unlock()
			if closing {
				w.Conn.Close(code, reason)
			}
			return
		}
		w.mu.Unlock()
		for _, msg := range batch {
			ctx, cancel := context.WithTimeout(context.Background(), w.WriteTimeout)
			err := w.Conn.Write(ctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				w.mu.Lock()
				w.dead, w.queue, w.writing = true, nil, false
				w.mu.Unlock()
				w.Conn.CloseNow()
				return
			}
		}
	}
}
