package chat

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// member is one connection in a room on this hub.
//
// Its queue holds encoded events (shared with the other members: one encoding per event) until
// they are written. A goroutine writes only while there is something to send, so an idle member
// costs its connection and its reading goroutine, no writer and no queue storage. A member whose
// queue holds maxQueue events when another comes is dropped: closed with 1008 at once, even while
// a write to it is stuck (coder/websocket's Close does not wait for that write).
type member struct {
	r            *room
	id           string
	name         string
	moderator    bool
	limiter      *rate.Limiter
	conn         *websocket.Conn
	maxQueue     int
	writeTimeout time.Duration

	qmu     sync.Mutex
	queue   [][]byte
	writing bool // a drain goroutine runs
	dead    bool // dropped or failed: nothing more is written
	closing bool // finish was called: close once the queue is written
	code    websocket.StatusCode
	reason  string
}

// send queues msg. It reports whether the queue was full: then m is dropped (its connection
// closed with 1008) and the caller takes it out of the room.
func (m *member) send(msg []byte) (dropped bool) {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	if m.dead || m.closing {
		return false
	}
	if len(m.queue) >= m.maxQueue {
		m.dead, m.queue = true, nil
		go m.conn.Close(websocket.StatusPolicyViolation, "too slow to keep up with the room's messages")
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
			ctx, cancel := context.WithTimeout(context.Background(), m.writeTimeout)
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
