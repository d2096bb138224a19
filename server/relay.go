package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
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
	// TCP is the kernel TCP echo, whose side of each connection the stats report too.
	TCP *transports.TCPEcho
	// Local are the local transports offered in kernel mode (protocol.Local; Target.Unix is the
	// Unix stream echo's socket).
	Local []protocol.Transport
}

const (
	maxBadRequests = 5    // consecutive bad requests before the socket is closed with 1008
	maxRelayTotal  = 1000 // relay connections in all
	maxActiveReqs  = 4    // requests one session runs at once
	inlineMessages = 8    // a request this small over one live connection is sent inline
	// CloseGrace is how long a page has to answer a close frame (1001 at shutdown, 1008 when
	// idle) before its connection is cut: a client that stopped reading never answers.
	CloseGrace = time.Second
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
	lessons  *lessonQueue        // the lesson slots, fair per session and client
	closed   bool
	wg       sync.WaitGroup

	// ctx is the parent of every session's: cancelled at shutdown, it stops running bursts,
	// dials and lessons.
	ctx    context.Context
	cancel context.CancelFunc
	met    *serverMetrics
}

// newRelay returns the relay; its sessions' work hangs off parent (and off its own close).
func newRelay(cfg Config, ep endpoints, met *serverMetrics, parent context.Context) *relay {
	r := &relay{cfg: cfg, ep: ep, log: cfg.Logger, perIP: map[string]int{}, sessions: map[*session]struct{}{}, byID: map[string]*session{},
		lessons: newLessonQueue(), met: met}
	r.ctx, r.cancel = context.WithCancel(parent)
	return r
}

// netConnKey is the request context's key of the connection the request came on (the server's
// ConnContext puts it there), so a relay session can cut a client that never answers a close.
type netConnKey struct{}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ip := remoteIP(req)
	if msg, reason, ok := r.admit(ip); !ok {
		r.met.refused("relay", reason)
		code := http.StatusTooManyRequests
		if reason == "shutdown" {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, msg, code)
		return
	}
	defer r.leave(ip)
	pongs := new(atomic.Uint64)
	c, err := websocket.Accept(w, req, &websocket.AcceptOptions{OriginPatterns: r.cfg.AllowOrigins,
		OnPongReceived: func(context.Context, []byte) { pongs.Add(1) }})
	if err != nil {
		r.met.refused("relay", "handshake") // a foreign Origin (403) or a malformed upgrade
		r.log.Debug("relay: refused", "remote", req.RemoteAddr, "err", err)
		return // Accept wrote the error (403 for a foreign Origin)
	}
	c.SetReadLimit(2 * protocol.MaxRequestSize) // larger requests are refused by DecodeRequest; far larger close with 1009
	s := newSession(r, c)
	s.pongs = pongs
	s.nc, _ = req.Context().Value(netConnKey{}).(net.Conn)
	s.client = lessonClient(req.RemoteAddr)
	if !r.track(s, true) {
		c.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer r.track(s, false)
	s.run()
}

// admit counts one more relay connection from ip, or says why not (msg for the client, reason
// for the refusals metric).
func (r *relay) admit(ip string) (msg, reason string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return "server shutting down", "shutdown", false
	case r.perIP[ip] >= r.cfg.MaxRelayPerIP:
		return protocol.RelayLimits{PerAddress: r.cfg.MaxRelayPerIP, Open: r.perIP[ip], Flag: MaxRelayPerIPFlag}.PerAddressReason(), "per-ip", false
	case len(r.sessions) >= maxRelayTotal:
		return "too many relay connections", "total", false
	}
	r.perIP[ip]++
	return "", "", true
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
		r.met.relaySessionsTotal.Inc()
		return true
	}
	delete(r.sessions, s)
	delete(r.byID, s.id)
	r.wg.Done()
	return true
}

// sessionCount is how many relay sessions are open.
func (r *relay) sessionCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// linkCount is how many sessions have an emulated link (pages in link mode, room messages).
func (r *relay) linkCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.links
}

// drain refuses new sessions (503) and leaves the open ones be.
func (r *relay) drain() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// closeStats is what a shutdown did to the relay's pages.
type closeStats struct {
	Pages    int // open when the shutdown began
	Answered int // answered the close frame within CloseGrace
	Cut      int // did not, and had their connection cut
	// Sent is when the last close frame was handed to its connection, Closed when every page's
	// connection was closed, both counted from the start of close; Ended is when every session
	// had ended (with its work cancelled) or ctx ran out.
	Sent, Closed, Ended time.Duration
	// AllEnded says every session ended before ctx was done.
	AllEnded bool
}

// close refuses new sessions, sends every open one close 1001 at once (each from its own
// goroutine, so a page that does not read holds up no other), cancels their running work, cuts
// the pages that have not answered within CloseGrace, and waits for the sessions to end until
// ctx is done.
func (r *relay) close(ctx context.Context) closeStats {
	start := time.Now()
	r.mu.Lock()
	r.closed = true
	sessions := make([]*session, 0, len(r.sessions))
	for s := range r.sessions {
		sessions = append(sessions, s)
	}
	r.mu.Unlock()
	st := closeStats{Pages: len(sessions)}
	var answered, cut atomic.Int64
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() {
			if s.closeWithin(websocket.StatusGoingAway, "server shutting down", CloseGrace) {
				answered.Add(1)
			} else {
				cut.Add(1)
			}
		})
	}
	st.Sent = time.Since(start)
	r.cancel() // bursts, dials and lessons stop; their connections are closed under them
	for _, s := range sessions {
		wg.Go(s.abortClients)
	}
	wg.Wait()
	st.Closed = time.Since(start)
	st.Answered, st.Cut = int(answered.Load()), int(cut.Load())
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		st.AllEnded = true
	case <-ctx.Done():
	}
	st.Ended = time.Since(start)
	return st
}

// session is one browser's relay connection and the transport connections it uses. Transport
// connections are dialled when first needed and closed after IdleTimeout unused, so an idle page
// costs little more than its WebSocket.
type session struct {
	r      *relay
	conn   *websocket.Conn
	nc     net.Conn // the connection under conn, if known: cut when a close is not answered
	id     string
	client string // the client's address as lessons are counted (lessonClient)
	epoch  time.Time

	// reads counts the messages read from the browser, pongs the pongs: the keep-alive's
	// activity.
	reads atomic.Uint64
	// downloads is how many capture downloads of the session are being built (each holds its
	// file in memory): at most maxDownloads at once.
	downloads atomic.Int32
	pongs     *atomic.Uint64
	ka        keepAlive

	ctx    context.Context
	cancel context.CancelFunc

	// eventWriter sends the session's events to the browser (send, notify, flush, backlog).
	eventWriter

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

func newSession(r *relay, c *websocket.Conn) *session {
	var b [16]byte // the id is the capability to download the session's captures
	rand.Read(b[:])
	s := &session{r: r, conn: c, id: hex.EncodeToString(b[:]), epoch: time.Now(),
		clients: map[protocol.Transport]*slot{}, active: make(chan struct{}, maxActiveReqs),
		pongs:       new(atomic.Uint64),
		eventWriter: eventWriter{ws: c, log: r.log, maxQueued: r.cfg.MaxQueuedBytes, met: r.met}}
	return s
}

func (s *session) run() {
	s.ctx, s.cancel = context.WithCancel(s.r.ctx)
	s.startKeepAlive()
	defer func() {
		s.cancel()
		s.stopKeepAlive()
		s.work.Wait()
		s.closeClients(0)
		s.closeLink()
		s.mu.Lock()
		if s.idle != nil {
			s.idle.Stop()
		}
		s.mu.Unlock()
		s.conn.CloseNow()
		s.stopWriter()
	}()
	s.notify(protocol.Event{Type: protocol.EventWelcome, Session: s.id, Transports: protocol.Transports, Local: s.r.ep.Local,
		Presets: presetInfos, Scenarios: scenarioInfos, Link: &protocol.LinkState{Mode: protocol.ModeKernel}})
	s.serve()
}

// keepAlive is a session's pinger: a timer, so an idle page has no goroutine for it (a goroutine
// runs only while a check or a ping is under way).
type keepAlive struct {
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
	running sync.WaitGroup // a check under way; Add only under mu while not stopped
	// What the last check saw, and when something last came.
	reads, pongs uint64
	last         time.Time
}

// startKeepAlive pings the browser each RelayPingInterval in which it sent no request (which
// keeps NAT and proxy paths open: a browser answers by itself), and closes the connection (1008)
// once nothing at all, no request and no pong, came for RelayIdleTimeout.
func (s *session) startKeepAlive() {
	ka := &s.ka
	ka.mu.Lock()
	defer ka.mu.Unlock()
	ka.last = time.Now()
	ka.t = time.AfterFunc(s.r.cfg.RelayPingInterval, s.keepAliveCheck)
}

// stopKeepAlive stops the timer and waits for a check under way (the session's context is
// cancelled first, which ends its ping).
func (s *session) stopKeepAlive() {
	ka := &s.ka
	ka.mu.Lock()
	ka.stopped = true
	if ka.t != nil {
		ka.t.Stop()
	}
	ka.mu.Unlock()
	ka.running.Wait()
}

func (s *session) keepAliveCheck() {
	ka := &s.ka
	idle, every := s.r.cfg.RelayIdleTimeout, s.r.cfg.RelayPingInterval
	ka.mu.Lock()
	if ka.stopped {
		ka.mu.Unlock()
		return
	}
	ka.running.Add(1)
	defer ka.running.Done()
	now := time.Now()
	r, p := s.reads.Load(), s.pongs.Load()
	if r != ka.reads || p != ka.pongs {
		ka.last = now
	}
	quiet := r == ka.reads
	ka.reads, ka.pongs = r, p
	silent := now.Sub(ka.last)
	ka.mu.Unlock()
	if silent >= idle {
		s.r.met.relayIdleClosed.Inc()
		s.r.log.Debug("relay: idle, closing", "session", s.id[:8], "idle", silent)
		s.closeWithin(websocket.StatusPolicyViolation, "idle: no request or pong for "+idle.String(), CloseGrace)
		return
	}
	if quiet {
		// Ping waits for the pong (OnPongReceived counts it) or for the next check.
		ctx, cancel := context.WithTimeout(s.ctx, every)
		s.r.met.relayPings.Inc()
		s.conn.Ping(ctx)
		cancel()
	}
	ka.mu.Lock()
	if !ka.stopped {
		ka.t.Reset(every)
	}
	ka.mu.Unlock()
}

// closeWithin sends a close frame with code and reason and gives the browser grace to answer
// it; past that (or when the frame cannot even be written, to a client that stopped reading) the
// connection is cut. It reports whether the close handshake finished in time.
func (s *session) closeWithin(code websocket.StatusCode, reason string, grace time.Duration) bool {
	done := make(chan struct{})
	go func() {
		s.conn.Close(code, reason)
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		s.r.met.relayCut.Inc()
		if s.nc != nil {
			s.nc.Close() // unblocks the close handshake and any write stuck on the client
		} else {
			s.conn.CloseNow()
		}
		return false
	}
}

// abortClients closes the session's emulated link and transport connections under whatever uses
// them, so a burst blocked on a slow link ends at once (with an error event) rather than when it
// would finish. The link goes first: with its network gone, a client's close (a WebSocket's
// closing handshake) does not wait behind a write stuck on the link.
func (s *session) abortClients() {
	s.mu.Lock()
	var cs []*transports.Client
	for _, sl := range s.clients {
		if sl.c != nil {
			cs = append(cs, sl.c)
		}
	}
	s.mu.Unlock()
	s.closeLink() // its echo endpoints, then its netstacks
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
}
