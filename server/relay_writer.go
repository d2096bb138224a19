package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/protocol"
)

const (
	writeFlushDelay = 2 * time.Millisecond         // how long flushLater lets events wait
	maxMessageBytes = protocol.MaxEventMessage / 2 // events batched into one WebSocket message
)

// eventWriter queues a session's encoded events and writes them to its WebSocket, several to a
// message (one JSON object per line), in the order they were queued. A goroutine writes only while
// there is something to send, and a browser that falls more than maxQueued bytes behind is
// disconnected with 1008 (its queue is dropped; other sessions' writers are not held up).
type eventWriter struct {
	ws        *websocket.Conn
	log       *slog.Logger
	maxQueued int            // bytes of events that may wait before the browser is disconnected
	met       *serverMetrics // nil in tests of the writer alone

	qmu     sync.Mutex
	queue   [][]byte
	qbytes  int
	writing bool // a flush or drain is writing; the others leave the queue to it
	dead    bool // the connection is closed or closing: events are dropped
	// later flushes events left queued (write events wait for what follows them); armed by
	// flushLater, made when first needed, stopped when a flush empties the queue.
	later      *time.Timer
	laterArmed bool
}

// send queues one event for the browser; flush sends what is queued. A browser that falls too far
// behind is disconnected.
func (w *eventWriter) send(e protocol.Event) {
	e.V = protocol.Version
	b, err := protocol.AppendEvent(nil, &e)
	if err != nil {
		w.log.Error("relay: encode event", "err", err)
		return
	}
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if w.dead {
		return
	}
	if w.qbytes+len(b) > w.maxQueued {
		if w.met != nil {
			w.met.queueDrops.Inc()
			w.met.queueDroppedBytes.Add(w.qbytes + len(b))
		}
		w.dead = true
		w.queue, w.qbytes = nil, 0
		go w.ws.Close(websocket.StatusPolicyViolation, "connection too slow to keep up with events")
		return
	}
	w.queue = append(w.queue, b)
	w.qbytes += len(b)
}

// backlog is how many bytes of events wait for the browser.
func (w *eventWriter) backlog() int {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	return w.qbytes
}

// flushLater makes sure what is queued now is sent within writeFlushDelay, by a flush that comes
// anyway (a read) or by the timer. One timer per session, re-armed rather than made anew.
func (w *eventWriter) flushLater() {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if w.laterArmed || w.dead || len(w.queue) == 0 {
		return
	}
	w.laterArmed = true
	if w.later == nil {
		w.later = time.AfterFunc(writeFlushDelay, func() {
			w.qmu.Lock()
			w.laterArmed = false
			w.qmu.Unlock()
			w.flush()
		})
		return
	}
	w.later.Reset(writeFlushDelay)
}

// flush sends what is queued. When no writer is active the caller writes the queued batch itself:
// handing it to a new goroutine would wake the other core, which costs more than the write (to a
// browser that keeps up, a WebSocket write is a few microseconds). Whatever queues up meanwhile is
// left to a writer goroutine, so a slow browser holds the caller up for one write at most, and the
// queue bound still disconnects it.
func (w *eventWriter) flush() {
	w.qmu.Lock()
	if w.writing || w.dead || len(w.queue) == 0 {
		w.qmu.Unlock()
		return
	}
	w.writing = true
	batch := w.queue
	w.queue, w.qbytes = nil, 0
	if w.laterArmed && w.later.Stop() {
		w.laterArmed = false // what it was armed for goes now
	}
	w.qmu.Unlock()
	if !w.write(batch) {
		return
	}
	w.qmu.Lock()
	if len(w.queue) > 0 && !w.dead {
		go w.drain()
	} else {
		w.writing = false
	}
	w.qmu.Unlock()
}

// notify queues one event and sends it without waiting for more.
func (w *eventWriter) notify(e protocol.Event) {
	w.send(e)
	w.flush()
}

// drain writes batches until the queue is empty; it runs with w.writing set.
func (w *eventWriter) drain() {
	for {
		w.qmu.Lock()
		if len(w.queue) == 0 || w.dead {
			w.writing = false
			w.queue = nil
			w.qmu.Unlock()
			return
		}
		batch := w.queue
		w.queue, w.qbytes = nil, 0
		w.qmu.Unlock()
		if !w.write(batch) {
			return
		}
	}
}

// write sends a batch of encoded events, several to a message, one per line. On failure it closes
// the connection, marks the writer dead and clears w.writing.
func (w *eventWriter) write(batch [][]byte) bool {
	for len(batch) > 0 {
		msg := batch[0]
		n := 1
		if len(batch) > 1 {
			size := 0
			for n = 0; n < len(batch) && (n == 0 || size+len(batch[n]) < maxMessageBytes); n++ {
				size += len(batch[n]) + 1
			}
			msg = make([]byte, 0, size)
			for _, b := range batch[:n] {
				msg = append(append(msg, b...), '\n')
			}
		}
		batch = batch[n:]
		// No per-write timer either: a browser that stops reading makes the queue overflow, and
		// that closes the connection, which ends a blocked write; a vanished one is found by TCP
		// keepalive.
		err := w.ws.Write(context.Background(), websocket.MessageText, msg)
		if w.met != nil && err == nil {
			w.met.relayBytesOut.Add(len(msg))
		}
		if err != nil {
			w.qmu.Lock()
			w.dead, w.writing, w.queue = true, false, nil
			w.qmu.Unlock()
			w.ws.CloseNow()
			return false
		}
	}
	return true
}

// stopWriter marks the writer dead, waits for a running drain to finish (the conn is closed, so
// it ends quickly) and stops the flush timer.
func (w *eventWriter) stopWriter() {
	w.waitWriter()
	w.qmu.Lock()
	if w.later != nil {
		w.later.Stop()
	}
	w.qmu.Unlock()
}

// waitWriter waits for a running drain to finish (the conn is closed, so it ends quickly).
func (w *eventWriter) waitWriter() {
	w.qmu.Lock()
	w.dead = true
	w.qmu.Unlock()
	for range 200 {
		w.qmu.Lock()
		writing := w.writing
		w.qmu.Unlock()
		if !writing {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
