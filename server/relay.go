package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// endpoints is the relay's fixed table of where each transport goes: the server's own endpoints.
type endpoints struct {
	Network netx.Network
	Target  transports.Target
	// ServerTLS is the QUIC endpoint's TLS configuration, reused by the endpoints of each
	// session's emulated link.
	ServerTLS *tls.Config
}

const (
	maxBadRequests  = 5    // consecutive bad requests before the socket is closed with 1008
	maxRelayTotal   = 1000 // relay connections in all
	maxActiveReqs   = 4    // requests one session runs at once
	writeFlushDelay = 2 * time.Millisecond
	inlineMessages  = 8                            // a request this small over one live connection is sent inline
	maxMessageBytes = protocol.MaxEventMessage / 2 // events batched into one WebSocket message
)

// relay serves /relay: one session per browser WebSocket.
type relay struct {
	cfg Config
	ep  endpoints
	log *slog.Logger

	mu       sync.Mutex
	perIP    map[string]int
	sessions map[*session]struct{}
	byID     map[string]*session // for the capture downloads
	links    int                 // emulated links in use
	// scenarioSlots bounds the lessons running at once, server-wide.
	scenarioSlots chan struct{}
	closed        bool
	wg            sync.WaitGroup
}

func newRelay(cfg Config, ep endpoints) *relay {
	return &relay{cfg: cfg, ep: ep, log: cfg.Logger, perIP: map[string]int{}, sessions: map[*session]struct{}{}, byID: map[string]*session{},
		scenarioSlots: make(chan struct{}, maxScenarioRuns)}
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		ip = req.RemoteAddr
	}
	if msg, ok := r.admit(ip); !ok {
		http.Error(w, msg, http.StatusTooManyRequests)
		return
	}
	defer r.leave(ip)
	c, err := websocket.Accept(w, req, &websocket.AcceptOptions{OriginPatterns: r.cfg.AllowOrigins})
	if err != nil {
		r.log.Debug("relay: refused", "remote", req.RemoteAddr, "err", err)
		return // Accept wrote the error (403 for a foreign Origin)
	}
	c.SetReadLimit(2 * protocol.MaxRequestSize) // larger requests are refused by DecodeRequest; far larger close with 1009
	s := newSession(r, c)
	if !r.track(s, true) {
		c.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer r.track(s, false)
	s.run(req.Context())
}

func (r *relay) admit(ip string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return "server shutting down", false
	case r.perIP[ip] >= r.cfg.MaxRelayPerIP:
		return fmt.Sprintf("too many relay connections from %s (limit %d)", ip, r.cfg.MaxRelayPerIP), false
	case len(r.sessions) >= maxRelayTotal:
		return "too many relay connections", false
	}
	r.perIP[ip]++
	return "", true
}

func (r *relay) leave(ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perIP[ip]--; r.perIP[ip] <= 0 {
		delete(r.perIP, ip)
	}
}

func (r *relay) track(s *session, add bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if add {
		if r.closed {
			return false
		}
		r.sessions[s] = struct{}{}
		r.byID[s.id] = s
		r.wg.Add(1)
		return true
	}
	delete(r.sessions, s)
	delete(r.byID, s.id)
	r.wg.Done()
	return true
}

// close ends every session and waits for them.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	for s := range r.sessions {
		s.conn.Close(websocket.StatusGoingAway, "server shutting down")
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// session is one browser's relay connection and the transport connections it uses. Transport
// connections are dialled when first needed and closed after IdleTimeout unused, so an idle page
// costs little more than its WebSocket.
type session struct {
	r     *relay
	conn  *websocket.Conn
	id    string
	epoch time.Time

	ctx    context.Context
	cancel context.CancelFunc

	// outgoing events; a writer goroutine exists only while there is something to send
	qmu     sync.Mutex
	queue   [][]byte
	qbytes  int
	writing bool
	dead    bool
	// later flushes events left queued (write events wait for what follows them); armed by
	// flushLater, made when first needed, stopped when a flush empties the queue.
	later      *time.Timer
	laterArmed bool

	mu      sync.Mutex
	clients map[protocol.Transport]*slot
	idle    *time.Timer
	active  chan struct{} // semaphore of running requests
	work    sync.WaitGroup
	// lk is the session's emulated link, nil on the kernel's loopback; gen counts switches, so a
	// connection made on a network no longer in use is not reused. Both change only on the
	// reading goroutine (handleLink), under mu.
	lk  *linkMode
	gen uint64
	// qlogs holds the qlog of each QUIC transport's latest connection over a link.
	qlogs map[protocol.Transport]*transports.QLog
}

// slot is one transport's connection in a session.
type slot struct {
	mu      sync.Mutex         // held while dialling and sending, so messages go out in order
	c       *transports.Client // written under both mu and session.mu
	gen     uint64             // the session's network when c was dialled
	lastUse time.Time
	pending map[uint64]int // request id -> messages not yet complete or lost
}

func newSession(r *relay, c *websocket.Conn) *session {
	var b [16]byte // the id is the capability to download the session's captures
	rand.Read(b[:])
	s := &session{r: r, conn: c, id: hex.EncodeToString(b[:]), epoch: time.Now(),
		clients: map[protocol.Transport]*slot{}, active: make(chan struct{}, maxActiveReqs)}
	return s
}

func (s *session) run(parent context.Context) {
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(parent))
	defer func() {
		s.cancel()
		s.work.Wait()
		s.closeClients(0)
		s.closeLink()
		s.mu.Lock()
		if s.idle != nil {
			s.idle.Stop()
		}
		s.mu.Unlock()
		s.conn.CloseNow()
		s.waitWriter()
		s.qmu.Lock()
		if s.later != nil {
			s.later.Stop()
		}
		s.qmu.Unlock()
	}()
	s.notify(protocol.Event{Type: protocol.EventWelcome, Session: s.id, Transports: protocol.Transports,
		Presets: presetInfos, Scenarios: scenarioInfos, Link: &protocol.LinkState{Mode: protocol.ModeKernel}})
	bad := 0
	for {
		// No deadline: the session ends when the connection does (the browser leaves, the relay
		// shuts down, or the slow-client bound closes it); a context with a deadline would cost a
		// timer per message on the measured path.
		typ, data, err := s.conn.Read(context.Background())
		if err != nil {
			return
		}
		var req protocol.Request
		if typ != websocket.MessageText {
			err = errors.New("binary messages are not accepted: send JSON text")
		} else {
			req, err = protocol.DecodeRequest(data)
		}
		if err != nil {
			bad++
			s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID, Error: err.Error()})
			if bad >= maxBadRequests {
				s.conn.Close(websocket.StatusPolicyViolation, "too many malformed requests")
				return
			}
			continue
		}
		bad = 0
		s.handle(req)
	}
}

func (s *session) handle(req protocol.Request) {
	switch req.Type {
	case protocol.TypePing:
		s.notify(protocol.Event{Type: protocol.EventPong, Req: req.ID, T0: req.T0})
		return
	case protocol.TypeLink:
		s.handleLink(req)
		return
	}
	select {
	case s.active <- struct{}{}:
	default:
		s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID,
			Error: fmt.Sprintf("busy: %d requests are already running; wait for them", maxActiveReqs)})
		return
	}
	ts := req.Transports
	if len(ts) == 0 {
		ts = protocol.Transports
	}
	var msgs [][]byte
	switch req.Type {
	case protocol.TypeSend:
		msgs = [][]byte{[]byte(req.Text)}
	case protocol.TypeBurst:
		msgs = transports.Numbered(req.Count, req.Size)
	case protocol.TypeReconnect:
		s.closeClients(0)
	case protocol.TypeHOL:
		s.handleHOL(req) // releases s.active when done
		return
	case protocol.TypeScenario:
		s.handleScenario(req) // releases s.active when done
		return
	}
	if len(ts) == 1 && len(msgs) <= inlineMessages && s.connected(ts[0]) {
		// The common case of one message over one live connection: send from this goroutine and
		// spare a hand-off on the measured path.
		s.sendOver(ts[0], req.ID, msgs)
		<-s.active
		return
	}
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Go(func() { s.sendOver(t, req.ID, msgs) })
	}
	s.work.Go(func() {
		wg.Wait()
		<-s.active
	})
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
	if n == 0 && c != nil { // queued with the complete event, so both go in one message
		st := c.Stats()
		s.send(protocol.Event{Type: protocol.EventStats, Req: e.Req, Transport: e.Transport, AtMicros: e.AtMicros, Stats: st})
		if lk != nil && e.Transport == protocol.TCP {
			if m, ok := tcpSample(s.epoch, st); ok {
				lk.obs.addSample(m, true)
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
