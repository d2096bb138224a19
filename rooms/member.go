package rooms

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// member is one connection of a room member on this instance.
//
// Its queue holds encoded events (shared with the other members: one encoding per event) until
// they are written. A goroutine writes only while there is something to send, so an idle member
// costs its connection and its reading goroutine. A member whose queue holds maxQueue events when
// another comes is closed with 1008 at once, even while a write to it is stuck.
type member struct {
	r          *room
	pub        string // public id
	connID     string
	name       string
	instructor bool
	conn       *websocket.Conn
	shares     *rate.Limiter
	maxQueue   int
	writeTO    time.Duration
	replaced   bool // r.mu: another connection of the member took its place

	qmu     sync.Mutex
	queue   [][]byte
	writing bool
	dead    bool
	closing bool
	code    websocket.StatusCode
	reason  string
}

// send queues msg. It reports whether the queue was full: then m is closed with 1008 and the
// caller takes it out of the room.
func (m *member) send(msg []byte) (dropped bool) {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	if m.dead || m.closing {
		return false
	}
	if len(m.queue) >= m.maxQueue {
		m.dead, m.queue = true, nil
		go m.conn.Close(websocket.StatusPolicyViolation, "too slow to keep up with the room's events")
		return true
	}
	m.queue = append(m.queue, msg)
	m.startLocked()
	return false
}

// finish closes m's connection with code once what is queued is written.
func (m *member) finish(code websocket.StatusCode, reason string) {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	if m.dead || m.closing {
		return
	}
	m.closing, m.code, m.reason = true, code, reason
	m.startLocked()
}

func (m *member) startLocked() {
	if !m.writing {
		m.writing = true
		go m.drain()
	}
}

// drain writes the queue until it is empty, then ends (closing the connection if finish asked).
func (m *member) drain() {
	for {
		m.qmu.Lock()
		if m.dead {
			m.writing = false
			m.qmu.Unlock()
			return
		}
		batch := m.queue
		m.queue = nil
		if len(batch) == 0 {
			m.writing = false
			closing, code, reason := m.closing, m.code, m.reason
			if closing {
				m.dead = true
			}
			m.qmu.Unlock()
			if closing {
				m.conn.Close(code, reason)
			}
			return
		}
		m.qmu.Unlock()
		for _, msg := range batch {
			ctx, cancel := context.WithTimeout(context.Background(), m.writeTO)
			err := m.conn.Write(ctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				m.qmu.Lock()
				m.dead, m.queue, m.writing = true, nil, false
				m.qmu.Unlock()
				m.conn.CloseNow()
				return
			}
		}
	}
}
