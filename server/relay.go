package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"log/slog"
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
	// TCP is the kernel TCP echo, whose side of each connection the stats report too.
	TCP *transports.TCPEcho
}

const (
	maxBadRequests = 5    // consecutive bad requests before the socket is closed with 1008
	maxRelayTotal  = 1000 // relay connections in all
	maxActiveReqs  = 4    // requests one session runs at once
	inlineMessages = 8    // a request this small over one live connection is sent inline
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
	ip := remoteIP(req)
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
		return protocol.RelayLimits{PerAddress: r.cfg.MaxRelayPerIP, Open: r.perIP[ip], Flag: MaxRelayPerIPFlag}.PerAddressReason(), false
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
		eventWriter: eventWriter{ws: c, log: r.log, maxQueued: r.cfg.MaxQueuedBytes}}
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
		s.stopWriter()
	}()
	s.notify(protocol.Event{Type: protocol.EventWelcome, Session: s.id, Transports: protocol.Transports,
		Presets: presetInfos, Scenarios: scenarioInfos, Link: &protocol.LinkState{Mode: protocol.ModeKernel}})
	s.serve()
}
