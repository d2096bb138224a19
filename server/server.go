package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/ipc"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/rawhttp"
	"github.com/wireplay/wireplay/rooms"
	"github.com/wireplay/wireplay/transports"
	"github.com/wireplay/wireplay/web"
	"github.com/wireplay/wireplay/zeromq"
	"golang.org/x/time/rate"
)

// Config is how `wireplay serve` is set up. The zero value of each field is a usable default.
type Config struct {
	HTTPAddr string // page, static files, /relay, /ws/echo, /healthz, /readyz, /metrics; default 127.0.0.1:8080
	TCPAddr  string // TCP echo; default 127.0.0.1:7001
	UDPAddr  string // UDP echo; default 127.0.0.1:7002
	QUICAddr string // QUIC echo (ALPN "wireplay"); default 127.0.0.1:7003
	// HTTPLessonAddr is where the http lesson's hand-written HTTP/1.x server (package rawhttp)
	// listens, for curl -v and a browser; "" (the default here; the CLI's is 127.0.0.1:7006):
	// not served.
	HTTPLessonAddr string
	// ChatTCPAddr is where the workshop rooms' chat speaks its line protocol over plain TCP
	// (chat.LineServer: nc can join a room's chat by its code); "" (the default here; the CLI's
	// is 127.0.0.1:7007): not served.
	ChatTCPAddr string
	// UnixPath, when set, is the path of a Unix stream socket echo (ipc.UnixEcho, what
	// `wireplay probe --transport unix` measures); default "": none. A stale socket left there
	// by a server that is gone is replaced; Shutdown removes it.
	UnixPath string
	// ZMQAddr is the ZeroMQ REP echo (ZMTP 3.0 over TCP; libzmq clients work) and ZMQPubAddr the
	// ZeroMQ PUB publishing [topic, n] on zeromq.DefaultTopics every ZMQPubInterval (default 1 s);
	// empty leaves each off (`wireplay serve`'s flags default to 127.0.0.1:7004 and :7005).
	ZMQAddr, ZMQPubAddr string
	ZMQPubInterval      time.Duration

	// CertFile and KeyFile hold the certificate of the page (HTTPS and WSS) and the QUIC endpoint;
	// without them (and without Domain) the page is plain HTTP and the QUIC endpoint gets a
	// self-signed certificate made at start.
	CertFile, KeyFile string
	// Domain, when set, gets the certificate from Let's Encrypt (ACME, HTTP-01 challenges answered
	// on ACMEHTTPAddr, default ":80"; certificates kept in ACMECacheDir, default the user cache
	// directory's wireplay/acme), for the page and the QUIC endpoint; ACMEEmail is the optional
	// contact address. Requests for Domain are answered (see AllowHosts).
	Domain, ACMEHTTPAddr, ACMECacheDir, ACMEEmail string
	// Public allows listening on non-loopback addresses; it requires TLS (CertFile/KeyFile or
	// Domain). Without PublicEndpoints the raw TCP, UDP and QUIC echo endpoints stay on loopback
	// even then (the relay reaches them there).
	Public, PublicEndpoints bool
	// PublicMetrics serves /metrics to any client in public mode; without it a public server
	// answers /metrics to loopback clients only (a scraper on the host, or through a tunnel).
	PublicMetrics bool

	// AllowHosts lists host names (besides localhost names and the listen address) that requests
	// may carry as Host; any other Host is refused with 421, which closes DNS rebinding.
	AllowHosts []string
	// AllowOrigins lists origins (scheme://host[:port]) allowed on /relay besides the page's own host.
	AllowOrigins []string
	// MaxConnsPerIP caps one client's (an IPv4 address's, an IPv6 /64's) connections to each of
	// the TCP echo, the QUIC echo (handshakes in progress included) and /ws/echo; default 32.
	// Each of them holds 1,024 connections in all.
	MaxConnsPerIP int
	// QUICRetryThreshold is how many handshakes from unvalidated addresses the QUIC echo has in
	// progress before it answers new ones with a Retry (and one client's after
	// transports.RetryPerClient of its own); default 64, negative: never.
	QUICRetryThreshold int
	// QUICMaxHandshakes caps the QUIC echo's handshakes from unvalidated addresses in progress;
	// default 256.
	QUICMaxHandshakes int
	// MaxRelayPerIP caps concurrent relay connections from one IP address; default 8.
	MaxRelayPerIP int
	// MaxQueuedBytes is how many bytes of events may wait for a slow browser before its relay
	// connection is closed (1008, "too slow"); default 4 MiB.
	MaxQueuedBytes int
	// IdleTimeout closes a relay session's transport connections after this long unused and the
	// TCP endpoint's idle connections; default 60 s.
	IdleTimeout time.Duration
	// RelayIdleTimeout closes a /relay connection (1008) from which nothing came, no request and
	// no pong, for this long; default 5 min.
	RelayIdleTimeout time.Duration
	// RelayPingInterval is how often a page that sends no request is pinged (which keeps NAT and
	// proxy paths open, and its pong shows it is alive); default RelayIdleTimeout/4, at most 30 s.
	RelayPingInterval time.Duration
	// LossTimeout is how long the relay waits for a datagram's echo before reporting it lost;
	// default 1 s.
	LossTimeout time.Duration
	// MaxLinks caps the emulated links relay sessions have in use at once (each is two netstacks
	// with their own echo endpoints); default 64.
	MaxLinks int
	// CaptureBytes bounds each emulated link's packet log, which the pcapng download exports:
	// it keeps the latest packets that fit, and a capture that lost earlier ones says so in its
	// section header's comment; default 4 MiB. QLogBytes bounds a link-mode session's qlog
	// traces together (each end of its latest connection of each QUIC transport, and the echo's
	// previous ones), split evenly among them; a trace that outgrows its share stops and ends in
	// a wireplay:trace_truncated record; default 12 MiB.
	CaptureBytes, QLogBytes int

	// InstructorToken lets its bearer create workshop rooms (POST /api/rooms); "" turns rooms
	// off. RoomGrace is how long a room outlives its last member (default 10 min). MaxRoomPerIP
	// caps one client address's room and room-chat sockets together (default 64). Broker
	// carries the rooms and their chat between instances (natsbroker: several servers share
	// rooms); nil: an in-process broker of the server's own. The server does not close Broker.
	InstructorToken string
	RoomGrace       time.Duration
	MaxRoomPerIP    int
	Broker          broker.Broker

	// UDPEcho tunes the UDP endpoint's rate limits; zero fields take transports' defaults.
	UDPEcho transports.UDPEchoConfig

	// Network is where the endpoints listen and the relay dials; default netx.Kernel.
	Network netx.Network
	// Assets is the static file tree served under /static/ (with the NAME.br and NAME.gz copies
	// beside a file sent in its place when the request accepts them); default web.Static.
	Assets fs.FS
	// Logger receives the server's log; default slog.Default().
	Logger *slog.Logger
}

// Addrs are the addresses the server really listens on.
type Addrs struct {
	HTTP, TCP, UDP, QUIC string
	HTTPLesson           string // "" when not served
	ChatTCP              string // "" when not served
	Unix                 string // the Unix stream echo's path; "" without Config.UnixPath
	ZMQ, ZMQPub          string // "" when off
}

func (c *Config) setDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.HTTPAddr, "127.0.0.1:8080")
	def(&c.TCPAddr, "127.0.0.1:7001")
	def(&c.UDPAddr, "127.0.0.1:7002")
	def(&c.QUICAddr, "127.0.0.1:7003")
	def(&c.ACMEHTTPAddr, ":80")
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 32
	}
	if c.QUICRetryThreshold == 0 {
		c.QUICRetryThreshold = 64
	}
	if c.QUICMaxHandshakes == 0 {
		c.QUICMaxHandshakes = 256
	}
	if c.MaxRelayPerIP == 0 {
		c.MaxRelayPerIP = 8
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = 4 << 20
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.RelayIdleTimeout == 0 {
		c.RelayIdleTimeout = 5 * time.Minute
	}
	if c.RelayPingInterval == 0 {
		c.RelayPingInterval = max(min(c.RelayIdleTimeout/4, 30*time.Second), time.Millisecond)
	}
	if c.MaxLinks == 0 {
		c.MaxLinks = 64
	}
	if c.CaptureBytes <= 0 {
		c.CaptureBytes = 4 << 20
	}
	if c.QLogBytes <= 0 {
		c.QLogBytes = 12 << 20
	}
	if c.LossTimeout == 0 {
		c.LossTimeout = time.Second
	}
	if c.Network == nil {
		c.Network = netx.Kernel
	}
	if c.Assets == nil {
		c.Assets = web.Static
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server runs wireplay's endpoints, page and relay.
type Server struct {
	cfg   Config
	log   *slog.Logger
	addrs Addrs

	tcp  *transports.TCPEcho
	udp  *transports.UDPEcho
	unix *ipc.UnixEcho // with Config.UnixPath
	quic *transports.QUICEcho
	raw  *rawhttp.Server // the http lesson's server, with HTTPLessonAddr
	rawl net.Listener
	// lines serves the rooms' chat over TCP lines on linesl (ChatTCPAddr).
	lines  *chat.LineServer
	linesl net.Listener
	ws     *transports.WSEcho // /ws/echo
	http   *http.Server
	hl     net.Listener
	tls    *serverTLS
	acme   *http.Server // Let's Encrypt's HTTP-01 challenges, with Domain
	own    relayEndpoints
	zmq    *zeromq.Echo
	zpub   *zeromq.Publisher

	relay  *relay
	static *staticFiles
	met    *serverMetrics

	rooms     *rooms.Rooms
	chat      *chat.Hub
	ownBroker broker.Broker // the in-process broker when Config.Broker is nil

	// draining is set when Shutdown begins: /readyz answers 503 and /relay refuses.
	draining atomic.Bool
	// ctx is cancelled by Shutdown once the relay's pages were sent their close: the work that
	// hangs off it (the relay's sessions, /ws/echo connections) ends.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a server for cfg; Start makes it listen.
func New(cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, met: newServerMetrics()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Start opens every endpoint and begins serving. It returns once all are listening; the server runs
// until Shutdown.
func (s *Server) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	n := s.cfg.Network
	if err := s.cfg.checkCaps(); err != nil {
		return err
	}
	if err := s.cfg.checkExposure(); err != nil {
		return err
	}
	if s.tls, err = s.cfg.setUpTLS(); err != nil {
		return err
	}
	tlsConf := s.tls.quic
	tcpConf := transports.TCPEchoConfig{IdleTimeout: s.cfg.IdleTimeout, MaxConns: endpointCap, MaxConnsPerIP: s.cfg.MaxConnsPerIP,
		OnRefuse: s.onRefuse("tcp")}
	if s.tcp, err = transports.ListenTCPEcho(ctx, n, s.cfg.TCPAddr, tcpConf); err != nil {
		return err
	}
	udpConf := s.cfg.UDPEcho
	for _, a := range []string{s.cfg.TCPAddr, s.cfg.QUICAddr, s.cfg.HTTPAddr} {
		if ap, err := netip.ParseAddrPort(a); err == nil && ap.Port() != 0 {
			udpConf.BlockPorts = append(udpConf.BlockPorts, ap.Port())
		}
	}
	if s.udp, err = transports.ListenUDPEcho(ctx, n, s.cfg.UDPAddr, udpConf); err != nil {
		return err
	}
	quicConf := transports.QUICEchoConfig{MaxConns: endpointCap, MaxConnsPerIP: s.cfg.MaxConnsPerIP,
		RetryThreshold: s.cfg.QUICRetryThreshold, MaxHandshakes: s.cfg.QUICMaxHandshakes, OnRefuse: s.onRefuse("quic")}
	if s.quic, err = transports.ListenQUICEcho(ctx, n, s.cfg.QUICAddr, tlsConf, quicConf); err != nil {
		return err
	}
	if s.cfg.HTTPLessonAddr != "" {
		if s.rawl, err = n.Listen(ctx, "tcp", s.cfg.HTTPLessonAddr); err != nil {
			return fmt.Errorf("listen http lesson: %w", err)
		}
		limit := transports.NewConnLimit(s.cfg.MaxConnsPerIP, endpointCap)
		refused := s.onRefuse("http-lesson")
		s.raw = rawhttp.New(rawhttp.Config{IdleTimeout: s.cfg.IdleTimeout, MaxConns: endpointCap,
			Admit: func(c net.Conn) (func(), error) {
				remote := c.RemoteAddr() // nil for a netstack conn closed already
				if remote == nil {
					return nil, errors.New("the connection closed before it was served")
				}
				release, err := limit.Acquire(remote)
				var r *transports.Refusal
				if errors.As(err, &r) {
					refused(r)
				}
				return release, err
			}})
	}
	if s.cfg.ChatTCPAddr != "" {
		if s.linesl, err = n.Listen(ctx, "tcp", s.cfg.ChatTCPAddr); err != nil {
			return fmt.Errorf("listen chat tcp: %w", err)
		}
	}
	if s.cfg.UnixPath != "" {
		unixConf := ipc.UnixEchoConfig{IdleTimeout: s.cfg.IdleTimeout, MaxConns: endpointCap}
		if s.unix, err = ipc.ListenUnixEcho(ctx, s.cfg.UnixPath, unixConf); err != nil {
			return err
		}
	}
	if err := s.listenZMQ(); err != nil {
		return err
	}
	if s.hl, err = n.Listen(ctx, "tcp", s.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	if err := s.listenRelayEndpoints(ctx, tlsConf); err != nil {
		return err
	}
	if s.acme, err = s.tls.serveACME(s.cfg.ACMEHTTPAddr, s.log.Error); err != nil {
		return err
	}
	s.addrs = Addrs{
		HTTP: s.hl.Addr().String(),
		TCP:  s.tcp.Addr().String(),
		UDP:  s.udp.Addr().String(),
		QUIC: s.quic.Addr().String(),
	}
	if s.rawl != nil {
		s.addrs.HTTPLesson = s.rawl.Addr().String()
	}
	if s.linesl != nil {
		s.addrs.ChatTCP = s.linesl.Addr().String()
	}
	if s.unix != nil {
		s.addrs.Unix = s.unix.Addr().String()
	}
	if s.zmq != nil {
		s.addrs.ZMQ = s.zmq.Addr().String()
	}
	if s.zpub != nil {
		s.addrs.ZMQPub = s.zpub.Addr().String()
	}
	s.relay = newRelay(s.cfg, endpoints{Network: n, Target: transports.Target{
		TCP:  s.own.tcp.Addr().String(),
		UDP:  s.own.udp.Addr().String(),
		QUIC: s.own.quic.Addr().String(),
		WS:   "ws://" + s.own.wsl.Addr().String() + "/ws/echo",
		Unix: unixPath(s.own.unix),
		TLS:  transports.ClientTLSConfig(tlsConf),
	}, ServerTLS: tlsConf, TCP: s.own.tcp, Local: s.own.local(n)}, s.met, s.ctx)
	s.ws = transports.WSEchoHandler(transports.WSEchoConfig{MaxConns: endpointCap,
		MaxConnsPerIP: s.cfg.MaxConnsPerIP, OnRefuse: s.onRefuse("ws")})
	s.startRooms()
	if s.linesl != nil {
		refused := s.onRefuse("chat-tcp")
		s.lines = &chat.LineServer{Hub: s.chat,
			Room: func(code string) error {
				if !s.rooms.Exists(s.ctx, code) {
					return fmt.Errorf("no room %q here (it may have expired)", code)
				}
				return nil
			},
			Admit: func(c net.Conn) (func(), error) {
				if c.RemoteAddr() == nil { // a netstack conn closed already
					return nil, errors.New("the connection closed before it was served")
				}
				setSendBuffer(c)                                // as a room socket's
				release, err := s.rooms.Acquire(c.RemoteAddr()) // with the room sockets' per-address cap
				var r *transports.Refusal
				if errors.As(err, &r) {
					refused(r)
				}
				return release, err
			}}
	}
	s.met.watch(s)
	s.static = newStaticFiles(s.cfg.Assets, s.log)
	s.wg.Go(s.static.load) // read before the first visit asks for them
	hosts := s.cfg.AllowHosts
	if s.cfg.Domain != "" {
		hosts = append(slices.Clip(hosts), s.cfg.Domain)
	}
	guard, err := newHostGuard(s.addrs.HTTP, hosts, s.routes())
	if err != nil {
		return err
	}
	s.http = &http.Server{
		Handler:           securityHeaders(s.tls.http != nil, guard),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// The relay cuts a page that does not answer its close frame with the connection itself.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, netConnKey{}, c)
		},
	}
	if s.tls.http != nil {
		s.http.TLSConfig = s.tls.http // offers http/1.1 alone (httpTLS)
		s.http.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		s.hl = tls.NewListener(s.hl, s.http.TLSConfig)
	}
	s.wg.Go(func() { s.tcp.Serve() })
	s.wg.Go(func() { s.udp.Serve() })
	s.wg.Go(func() { s.quic.Serve() })
	if s.lines != nil {
		s.wg.Go(func() { _ = s.lines.Serve(s.linesl) }) // until Close closes its listener
	}
	if s.raw != nil {
		s.wg.Go(func() {
			if err := s.raw.Serve(s.rawl); err != nil && !errors.Is(err, rawhttp.ErrClosed) {
				s.log.Error("http lesson server stopped", "err", err)
			}
		})
	}
	if s.unix != nil {
		s.wg.Go(func() { s.unix.Serve() })
	}
	if s.zmq != nil {
		s.wg.Go(s.zmq.Serve)
	}
	if s.zpub != nil {
		s.wg.Go(s.zpub.Serve)
	}
	s.wg.Go(func() {
		if err := s.http.Serve(s.hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	})
	s.own.serve(&s.wg, s.log)
	return nil
}

// unixPath is the path of e's socket, "" for none.
func unixPath(e *ipc.UnixEcho) string {
	if e == nil {
		return ""
	}
	return e.Addr().String()
}

// checkCaps refuses caps that would refuse every client or mean none.
func (c *Config) checkCaps() error {
	if c.MaxConnsPerIP < 1 {
		return fmt.Errorf("--max-conns-per-ip %d: want at least 1", c.MaxConnsPerIP)
	}
	if c.QUICMaxHandshakes < 1 {
		return fmt.Errorf("--quic-max-handshakes %d: want at least 1", c.QUICMaxHandshakes)
	}
	return nil
}

// endpointCap is how many connections each of the TCP, QUIC and WebSocket echoes holds in all.
const endpointCap = 1024

// onRefuse is an endpoint's OnRefuse: the refusal is counted (wireplay_refusals_total) and logged.
func (s *Server) onRefuse(endpoint string) func(*transports.Refusal) {
	log := s.logRefusals(endpoint)
	return func(r *transports.Refusal) {
		s.met.refused(endpoint, r.Reason)
		log(r)
	}
}

// logRefusals logs the connections endpoint refuses: the first few, then at most one a
// minute, each with how many were refused so far (a flood does not flood the log).
func (s *Server) logRefusals(endpoint string) func(*transports.Refusal) {
	var n atomic.Int64
	every := &rate.Sometimes{First: 5, Interval: time.Minute}
	return func(r *transports.Refusal) {
		total := n.Add(1)
		every.Do(func() {
			s.log.Info("connection refused", "endpoint", endpoint, "reason", r.Reason, "client", r.Client.String(), "cap", r.Cap, "refused", total)
		})
	}
}

// Addrs returns the addresses the server listens on; valid after Start.
func (s *Server) Addrs() Addrs { return s.addrs }

// TLS reports whether the page, /relay and /ws/echo are served over TLS (https, wss); valid after
// Start.
func (s *Server) TLS() bool { return s.tls != nil && s.tls.http != nil }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	info := pageInfo{Addrs: s.addrs, Static: s.static, TLS: s.tls.http != nil}
	mux.Handle("GET /{$}", newPageHandler(info))
	s.mountRooms(mux, info)
	mux.Handle("GET /instructor", s.instructorHandler(info))
	mux.Handle("GET /static/", http.StripPrefix("/static/", s.static))
	mux.Handle("GET /relay", s.relay)
	mux.HandleFunc("GET /relay/pcapng", s.relay.servePcapng)
	mux.HandleFunc("GET /relay/qlog", s.relay.serveQLog)
	mux.HandleFunc("GET /relay/limits", s.relay.serveLimits)
	mux.Handle("GET /ws/echo", s.endsAtShutdown(s.ws))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if s.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "draining")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", s.metricsGuard(s.met))
	return mux
}

// endsAtShutdown gives h's requests a context that Shutdown cancels too: http.Server's own
// Shutdown leaves hijacked connections (a WebSocket's) alone.
func (s *Server) endsAtShutdown(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.ctx, cancel)
		defer stop()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// DrainTimeout is how long Shutdown lets ordinary HTTP requests (a download, say) finish before
// their connections are closed.
const DrainTimeout = 2 * time.Second

// Drain marks the server as draining: /readyz answers 503 and /relay refuses new pages (503),
// while everything else goes on. Shutdown begins with it.
func (s *Server) Drain() {
	s.draining.Store(true)
	if s.relay != nil {
		s.relay.drain()
	}
}

// Shutdown drains the server and stops it, whatever clients do: it stops accepting, sends every
// relay page close 1001 at once (in parallel, so a page that does not read holds up no other),
// cancels the pages' running work (bursts, dials, lessons), cuts the pages that have not answered
// within CloseGrace, ends /ws/echo connections, gives other HTTP requests DrainTimeout, then
// closes the endpoints and waits for their goroutines until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	start := time.Now()
	s.Drain()
	var httpErr error
	var httpDone sync.WaitGroup
	if s.http != nil {
		httpDone.Go(func() { // closes the listener at once, then waits for requests in flight
			dctx, cancel := context.WithTimeout(ctx, DrainTimeout)
			defer cancel()
			if httpErr = s.http.Shutdown(dctx); httpErr != nil {
				s.http.Close()
			}
		})
	}
	if s.acme != nil {
		httpDone.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, DrainTimeout)
			defer cancel()
			if s.acme.Shutdown(dctx) != nil {
				s.acme.Close()
			}
		})
	}
	if s.relay != nil {
		st := s.relay.close(ctx)
		s.log.Info("relay pages closed", "pages", st.Pages, "answered", st.Answered, "cut", st.Cut,
			"close_sent_ms", st.Sent.Milliseconds(), "closed_ms", st.Closed.Milliseconds(), "ended_ms", st.Ended.Milliseconds(), "all_ended", st.AllEnded,
			"close_grace_ms", CloseGrace.Milliseconds())
	}
	s.closeRooms()
	s.cancel() // after the relay's close frames: /ws/echo connections end
	httpDone.Wait()
	s.closeAll()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.log.Info("shutdown done", "ms", time.Since(start).Milliseconds())
	if errors.Is(httpErr, context.DeadlineExceeded) || errors.Is(httpErr, http.ErrServerClosed) {
		httpErr = nil // requests that did not finish in DrainTimeout were closed; or shut down already
	}
	return httpErr
}

func (s *Server) closeAll() {
	if s.http != nil {
		s.http.Close()
	} else if s.hl != nil {
		s.hl.Close()
	}
	s.own.close()
	if s.acme != nil {
		s.acme.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	if s.quic != nil {
		s.quic.Close()
	}
	if s.raw != nil {
		s.raw.Close() // and its listener, once Serve runs
	}
	if s.rawl != nil {
		s.rawl.Close()
	}
	if s.linesl != nil {
		s.linesl.Close()
	}
	if s.lines != nil {
		s.lines.Close()
	}
	if s.unix != nil {
		s.unix.Close()
	}
	if s.zmq != nil {
		s.zmq.Close()
	}
	if s.zpub != nil {
		s.zpub.Close()
	}
}

// listenZMQ opens the ZeroMQ endpoints that are on. They are kernel TCP whatever Config.Network
// (zmq4 dials and listens itself).
func (s *Server) listenZMQ() (err error) {
	if s.cfg.ZMQAddr != "" {
		if s.zmq, err = zeromq.ListenEcho("tcp://"+s.cfg.ZMQAddr, s.log); err != nil {
			return fmt.Errorf("--zmq-addr: %w", err)
		}
	}
	if s.cfg.ZMQPubAddr != "" {
		if s.zpub, err = zeromq.ListenPub("tcp://"+s.cfg.ZMQPubAddr, zeromq.PubConfig{Interval: s.cfg.ZMQPubInterval, Logger: s.log}); err != nil {
			return fmt.Errorf("--zmq-pub-addr: %w", err)
		}
	}
	return nil
}

// metricsGuard answers /metrics to loopback clients alone on a public server (unless
// Config.PublicMetrics): the counts describe the server's users and load.
func (s *Server) metricsGuard(h http.Handler) http.Handler {
	if !s.cfg.Public || s.cfg.PublicMetrics {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if ip, err := netip.ParseAddr(remoteIP(req)); err != nil || !ip.IsLoopback() {
			http.Error(w, "/metrics is served to loopback clients only on a public server (--public-metrics serves it to all)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, req)
	})
}
