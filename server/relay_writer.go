package server

import (
	"context"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/protocol"
)

// send queues one event for the browser; flush sends what is queued. A browser that falls too far
// behind is disconnected.
func (s *session) send(e protocol.Event) {
	e.V = protocol.Version
	b, err := protocol.AppendEvent(nil, &e)
	if err != nil {
		s.r.log.Error("relay: encode event", "err", err)
		return
	}
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.dead {
		return
	}
	if s.qbytes+len(b) > s.r.cfg.MaxQueuedBytes {
		s.dead = true
		s.queue, s.qbytes = nil, 0
		go s.conn.Close(websocket.StatusPolicyViolation, "connection too slow to keep up with events")
		return
	}
	s.queue = append(s.queue, b)
	s.qbytes += len(b)
}

// backlog is how many bytes of events wait for the browser.
func (s *session) backlog() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.qbytes
}

// flushLater makes sure what is queued now is sent within writeFlushDelay, by a flush that comes
// anyway (a read) or by the timer. One timer per session, re-armed rather than made anew.
func (s *session) flushLater() {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.laterArmed || s.dead || len(s.queue) == 0 {
		return
	}
	s.laterArmed = true
	if s.later == nil {
		s.later = time.AfterFunc(writeFlushDelay, func() {
			s.qmu.Lock()
			s.laterArmed = false
			s.qmu.Unlock()
			s.flush()
		})
		return
	}
	s.later.Reset(writeFlushDelay)
}

// flush sends what is queued. When no writer is active the caller writes the queued batch itself:
// handing it to a new goroutine would wake the other core, which costs more than the write (to a
// browser that keeps up, a WebSocket write is a few microseconds). Whatever queues up meanwhile is
// left to a writer goroutine, so a slow browser holds the caller up for one write at most, and the
// queue bound still disconnects it.
func (s *session) flush() {
	s.qmu.Lock()
	if s.writing || s.dead || len(s.queue) == 0 {
		s.qmu.Unlock()
		return
	}
	s.writing = true
	batch := s.queue
	s.queue, s.qbytes = nil, 0
	if s.laterArmed && s.later.Stop() {
		s.laterArmed = false // what it was armed for goes now
	}
	s.qmu.Unlock()
	if !s.write(batch) {
		return
	}
	s.qmu.Lock()
	if len(s.queue) > 0 && !s.dead {
		go s.drain()
	} else {
		s.writing = false
	}
	s.qmu.Unlock()
}

// notify queues one event and sends it without waiting for more.
func (s *session) notify(e protocol.Event) {
	s.send(e)
	s.flush()
}

// drain writes batches until the queue is empty; it runs with s.writing set.
func (s *session) drain() {
	for {
		s.qmu.Lock()
		if len(s.queue) == 0 || s.dead {
			s.writing = false
			s.queue = nil
			s.qmu.Unlock()
			return
		}
		batch := s.queue
		s.queue, s.qbytes = nil, 0
		s.qmu.Unlock()
		if !s.write(batch) {
			return
		}
	}
}

// write sends a batch of encoded events, several to a message, one per line. On failure it closes
// the connection, marks the session dead and clears s.writing.
func (s *session) write(batch [][]byte) bool {
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
		err := s.conn.Write(context.Background(), websocket.MessageText, msg)
		if err != nil {
			s.qmu.Lock()
			s.dead, s.writing, s.queue = true, false, nil
			s.qmu.Unlock()
			s.conn.CloseNow()
			return false
		}
	}
	return true
}

// waitWriter waits for a running drain to finish (the conn is closed, so it ends quickly).
func (s *session) waitWriter() {
	s.qmu.Lock()
	s.dead = true
	s.qmu.Unlock()
	for range 200 {
		s.qmu.Lock()
		w := s.writing
		s.qmu.Unlock()
		if !w {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
