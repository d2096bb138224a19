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
	// sink, when set, takes each event instead of the WebSocket (a room's message, roomSend):
	// nothing is queued or written.
	sink func(protocol.Event)

	qmu   sync.Mutex
	queue eventBatch // the events waiting, encoded
	// spare is a written batch's storage, kept for the next (when small) so that queueing the
	// events of every message allocates nothing.
	spare   eventBatch
	qbytes  int  // bytes of the events in queue, newlines not counted
	writing bool // a flush or drain is writing; the others leave the queue to it
	dead    bool // the connection is closed or closing: events are dropped
	// later flushes events left queued (write events wait for what follows them); armed by
	// flushLater, made when first needed, stopped when a flush empties the queue.
	later      *time.Timer
	laterArmed bool
}

// eventBatch is encoded events, each followed by a newline in buf, and where each ends (its
// newline's index).
type eventBatch struct {
	buf  []byte
	ends []int
}

func (b eventBatch) len() int { return len(b.ends) }

// keptBatchBytes bounds the storage a writer keeps between messages (a welcome is ~24 KB and is
// not kept: an idle session costs what it did).
const keptBatchBytes = 4 << 10

// send queues one event for the browser; flush sends what is queued. A browser that falls too far
// behind is disconnected. The event is encoded straight into the queue.
func (w *eventWriter) send(e protocol.Event) {
	e.V = protocol.Version
	if w.sink != nil {
		w.sink(e)
		return
	}
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if w.dead {
		return
	}
	q := &w.queue
	if q.buf == nil && w.spare.buf != nil {
		*q, w.spare = w.spare, eventBatch{}
	}
	start := len(q.buf)
	b, err := protocol.AppendEvent(q.buf, &e)
	if err != nil {
		w.log.Error("relay: encode event", "err", err)
		q.buf = b[:start]
		return
	}
	n := len(b) - start
	if w.qbytes+n > w.maxQueued {
		if w.met != nil {
			w.met.queueDrops.Inc()
			w.met.queueDroppedBytes.Add(w.qbytes + n)
		}
		w.dead = true
		w.queue, w.spare, w.qbytes = eventBatch{}, eventBatch{}, 0
		go w.ws.Close(websocket.StatusPolicyViolation, "connection too slow to keep up with events")
		return
	}
	q.ends = append(q.ends, len(b))
	q.buf = append(b, '\n')
	w.qbytes += n
}

// take empties the queue and returns what was in it; qmu held.
func (w *eventWriter) take() eventBatch {
	b := w.queue
	w.queue, w.qbytes = eventBatch{}, 0
	return b
}

// recycle keeps a written batch's storage for the next, when it is small; qmu held.
func (w *eventWriter) recycle(b eventBatch) {
	if cap(b.buf) <= keptBatchBytes && w.spare.buf == nil {
		w.spare = eventBatch{buf: b.buf[:0], ends: b.ends[:0]}
	}
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
	if w.laterArmed || w.dead || w.queue.len() == 0 {
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
	if w.writing || w.dead || w.queue.len() == 0 {
		w.qmu.Unlock()
		return
	}
	w.writing = true
	batch := w.take()
	if w.laterArmed && w.later.Stop() {
		w.laterArmed = false // what it was armed for goes now
	}
	w.qmu.Unlock()
	if !w.write(batch) {
		return
	}
	w.qmu.Lock()
	w.recycle(batch)
	if w.queue.len() > 0 && !w.dead {
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
		if w.queue.len() == 0 || w.dead {
			w.writing = false
			w.queue = eventBatch{}
			w.qmu.Unlock()
			return
		}
		batch := w.take()
		w.qmu.Unlock()
		if !w.write(batch) {
			return
		}
		w.qmu.Lock()
		w.recycle(batch)
		w.qmu.Unlock()
	}
}

// write sends a batch of encoded events, several to a message, one per line (each followed by
// its newline, unless the batch is one event: that goes alone, as it is). On failure it closes
// the connection, marks the writer dead and clears w.writing.
func (w *eventWriter) write(batch eventBatch) bool {
	start := 0 // of the next message in batch.buf
	for i := 0; i < len(batch.ends); {
		var msg []byte
		if len(batch.ends) == 1 {
			msg = batch.buf[:batch.ends[0]]
			i++
		} else {
			// Events while the message stays under maxMessageBytes (at least one).
			n := i + 1
			for n < len(batch.ends) && batch.ends[n]-start < maxMessageBytes {
				n++
			}
			msg = batch.buf[start : batch.ends[n-1]+1]
			i, start = n, batch.ends[n-1]+1
		}
		// No per-write timer either: a browser that stops reading makes the queue overflow, and
		// that closes the connection, which ends a blocked write; a vanished one is found by TCP
		// keepalive.
		err := w.ws.Write(context.Background(), websocket.MessageText, msg)
		if w.met != nil && err == nil {
			w.met.relayBytesOut.Add(len(msg))
		}
		if err != nil {
			w.qmu.Lock()
			w.dead, w.writing, w.queue, w.spare = true, false, eventBatch{}, eventBatch{}
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
