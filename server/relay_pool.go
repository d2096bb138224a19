package server

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// slot is one transport's connection in a session.
type slot struct {
	mu      sync.Mutex         // held while dialling and sending, so messages go out in order
	c       *transports.Client // written under both mu and session.mu
	gen     uint64             // the session's network when c was dialled
	lastUse time.Time
	pending map[uint64]int // request id -> messages not yet complete or lost
}

// connected reports whether the session has a live connection over t.
func (s *session) connected(t protocol.Transport) bool {
	s.mu.Lock()
	sl := s.clients[t]
	s.mu.Unlock()
	if sl == nil || !sl.mu.TryLock() {
		return false
	}
	defer sl.mu.Unlock()
	s.mu.Lock()
	c := sl.c
	if sl.gen != s.gen {
		c = nil
	}
	s.mu.Unlock()
	if c == nil {
		return false
	}
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

func (s *session) slot(t protocol.Transport) *slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.clients[t]
	if sl == nil {
		sl = &slot{pending: map[uint64]int{}}
		s.clients[t] = sl
	}
	return sl
}

// sendOver sends msgs over transport t, dialling first if the session has no live connection.
func (s *session) sendOver(t protocol.Transport, req uint64, msgs [][]byte) {
	if t.IsLocal() {
		s.mu.Lock()
		onLink := s.lk != nil
		s.mu.Unlock()
		if onLink || !slices.Contains(s.r.ep.Local, t) {
			why := "it is not offered by this server"
			if onLink {
				why = "it is the kernel's, beside the network, and does not cross the emulated link: kernel mode only"
			}
			s.notify(protocol.Event{Type: protocol.EventError, Req: req, Transport: t, AtMicros: time.Since(s.epoch).Microseconds(),
				Error: fmt.Sprintf("%s: %s", t.Label(), why)})
			return
		}
	}
	sl := s.slot(t)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	s.mu.Lock()
	c, gen, lk := sl.c, s.gen, s.lk
	s.mu.Unlock()
	if c != nil {
		select {
		case <-c.Done():
			c = nil // the connection ended (idle timeout at the server, say): dial again
		default:
		}
	}
	if c == nil {
		n, target := s.r.ep.Network, s.r.ep.Target
		var dialled func(*transports.Client)
		if lk != nil {
			n, target, dialled = lk.dialer(t)
		}
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		nc, err := transports.Dial(ctx, n, t, target, transports.ClientOptions{
			Epoch:       s.epoch,
			LossTimeout: s.r.cfg.LossTimeout,
			Emit:        func(e protocol.Event) { s.fromClient(sl, e) },
			Flush:       s.flush,
		})
		cancel()
		if dialled != nil {
			dialled(nc)
		}
		if err != nil {
			return // Dial emitted the error event
		}
		s.mu.Lock()
		switched := s.gen != gen
		if !switched {
			sl.c, sl.gen = nc, gen
		}
		s.mu.Unlock()
		if switched {
			nc.Close()
			s.notify(protocol.Event{Type: protocol.EventError, Req: req, Transport: t, AtMicros: time.Since(s.epoch).Microseconds(), Error: errSwitched})
			return
		}
		c = nc
	}
	sl.lastUse = time.Now()
	s.armIdle()
	if len(msgs) == 0 {
		return
	}
	s.mu.Lock()
	sl.pending[req] += len(msgs)
	s.mu.Unlock()
	if lk != nil && t == protocol.TCP {
		lk.sampleTCP(c)
	}
	// Write events wait for what follows them (a read flushes), or for a timer: the relay's
	// own work stays off the round trip it measures.
	defer s.flushLater()
	for _, m := range msgs {
		if _, err := c.Send(req, m); err != nil {
			s.mu.Lock()
			delete(sl.pending, req)
			s.mu.Unlock()
			return
		}
	}
}

// inFlight counts the messages sent over t whose echo is not yet complete (or lost).
func (s *session) inFlight(t protocol.Transport) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if sl := s.clients[t]; sl != nil {
		for _, v := range sl.pending {
			n += v
		}
	}
	return n
}

// fromClient forwards a transport client's event and, when the last message of a request has
// completed or been lost, follows it with the stack's stats.
func (s *session) fromClient(sl *slot, e protocol.Event) {
	s.send(e)
	if e.Type != protocol.EventComplete && e.Type != protocol.EventLost {
		return
	}
	s.mu.Lock() // pending is guarded by s.mu here: sl.mu is held by senders for whole bursts
	n := sl.pending[e.Req] - 1
	if n > 0 {
		sl.pending[e.Req] = n
	} else {
		delete(sl.pending, e.Req)
	}
	c, lk := sl.c, s.lk
	s.mu.Unlock()
	if n == 0 && c != nil && !e.Transport.IsLocal() { // queued with the complete event, so both go in one message; a local transport has no stack to report
		st := c.Stats()
		if e.Transport == protocol.TCP {
			st = s.withServerSide(st, c, lk)
		}
		st = lk.withObserved(st, e.Transport, c)
		s.send(protocol.Event{Type: protocol.EventStats, Req: e.Req, Transport: e.Transport, AtMicros: e.AtMicros, Stats: st})
		if lk != nil && e.Transport == protocol.TCP {
			if m, ok := tcpSample(s.epoch, st); ok {
				lk.obs.AddSample(m, true)
			}
		}
	}
}

// armIdle makes sure a timer will close transport connections that stay unused.
func (s *session) armIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idle == nil {
		s.idle = time.AfterFunc(s.r.cfg.IdleTimeout, s.onIdle)
	}
}

func (s *session) onIdle() {
	s.closeClients(s.r.cfg.IdleTimeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.clients {
		if sl.c != nil {
			s.idle.Reset(s.r.cfg.IdleTimeout / 2)
			return
		}
	}
	s.idle = nil
}

// closeClients closes the transport connections unused for at least idle (all of them for 0).
func (s *session) closeClients(idle time.Duration) {
	s.mu.Lock()
	slots := make([]*slot, 0, len(s.clients))
	for _, sl := range s.clients {
		slots = append(slots, sl)
	}
	s.mu.Unlock()
	for _, sl := range slots {
		if idle > 0 {
			if !sl.mu.TryLock() {
				continue // in use
			}
		} else {
			sl.mu.Lock()
		}
		s.mu.Lock()
		c := sl.c
		if c != nil && (idle == 0 || time.Since(sl.lastUse) >= idle) {
			sl.c = nil
			clear(sl.pending)
		} else {
			c = nil
		}
		s.mu.Unlock()
		if c != nil {
			c.Close()
		}
		sl.mu.Unlock()
	}
}

// withObserved adds what the session's link saw of client c's connection to its stats: the
// link's packets and drops per direction and, for QUIC, both endpoints' loss recovery from their
// qlog. Kernel mode (lk nil) has neither.
func (lk *linkMode) withObserved(st *protocol.Stats, t protocol.Transport, c *transports.Client) *protocol.Stats {
	if lk == nil || st == nil {
		return st
	}
	local := c.LocalAddr() // nil once a netstack conn has closed
	if local == nil {
		return st
	}
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		return st
	}
	out := *st
	if f, ok := lk.obs.Flow(t, ap.Port()); ok {
		out.Link = &f
	}
	if t == protocol.QUICStream || t == protocol.QUICDgram {
		if r, ok := lk.quic.Recovery(ap.Port()); ok {
			out.QUICRecovery = &r
		}
	}
	return &out
}

// withServerSide adds the TCP echo's side of client c's connection (the session's link's echo,
// or the kernel's) to its stats: the server's retransmissions are shown beside the client's.
func (s *session) withServerSide(st *protocol.Stats, c *transports.Client, lk *linkMode) *protocol.Stats {
	if st == nil || st.TCP == nil {
		return st
	}
	echo := s.r.ep.TCP
	if lk != nil {
		echo = lk.echo.TCP
	}
	if echo == nil {
		return st
	}
	if peer, ok := echo.PeerStats(c.LocalAddr()); ok {
		out := *st
		out.TCPServer = &peer
		return &out
	}
	return st
}
