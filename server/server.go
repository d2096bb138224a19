package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports"
	"github.com/wireplay/wireplay/web"
)

// Config is how `wireplay serve` is set up. The zero value of each field is a usable default.
type Config struct {
	HTTPAddr string // page, static files, /relay, /ws/echo, /healthz; default 127.0.0.1:8080
	TCPAddr  string // TCP echo; default 127.0.0.1:7001
	UDPAddr  string // UDP echo; default 127.0.0.1:7002
	QUICAddr string // QUIC echo (ALPN "wireplay"); default 127.0.0.1:7003

	// CertFile and KeyFile hold the QUIC endpoint's certificate; without them a self-signed one is
	// made at start.
	CertFile, KeyFile string

	// AllowHosts lists host names (besides localhost names and the listen address) that requests
	// may carry as Host; any other Host is refused with 421, which closes DNS rebinding.
	AllowHosts []string
	// AllowOrigins lists origins (scheme://host[:port]) allowed on /relay besides the page's own host.
	AllowOrigins []string
	// MaxRelayPerIP caps concurrent relay connections from one IP address; default 8.
	MaxRelayPerIP int
	// MaxQueuedBytes is how many bytes of events may wait for a slow browser before its relay
	// connection is closed (1008, "too slow"); default 4 MiB.
	MaxQueuedBytes int
	// IdleTimeout closes a relay session's transport connections after this long unused and the
	// TCP endpoint's idle connections; default 60 s.
	IdleTimeout time.Duration
	// LossTimeout is how long the relay waits for a datagram's echo before reporting it lost;
	// default 1 s.
	LossTimeout time.Duration
	// MaxLinks caps the emulated links relay sessions have in use at once (each is two netstacks
	// with their own echo endpoints); default 64.
	MaxLinks int

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
	if c.MaxRelayPerIP == 0 {
		c.MaxRelayPerIP = 8
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = 4 << 20
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.MaxLinks == 0 {
		c.MaxLinks = 64
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
	quic *transports.QUICEcho
	http *http.Server
	hl   net.Listener

	relay  *relay
	static *staticFiles

	wg sync.WaitGroup
}

// New returns a server for cfg; Start makes it listen.
func New(cfg Config) *Server {
	cfg.setDefaults()
	return &Server{cfg: cfg, log: cfg.Logger}
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
	tlsConf, err := transports.ServerTLSConfig(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("quic certificate: %w", err)
	}
	if s.tcp, err = transports.ListenTCPEcho(ctx, n, s.cfg.TCPAddr, transports.TCPEchoConfig{IdleTimeout: s.cfg.IdleTimeout}); err != nil {
		return err
	}
	own := newOwnSockets(n)
	udpConf := s.cfg.UDPEcho
	udpConf.Own = own.owns
	for _, a := range []string{s.cfg.TCPAddr, s.cfg.QUICAddr, s.cfg.HTTPAddr} {
		if ap, err := netip.ParseAddrPort(a); err == nil && ap.Port() != 0 {
			udpConf.BlockPorts = append(udpConf.BlockPorts, ap.Port())
		}
	}
	if s.udp, err = transports.ListenUDPEcho(ctx, n, s.cfg.UDPAddr, udpConf); err != nil {
		return err
	}
	if s.quic, err = transports.ListenQUICEcho(ctx, n, s.cfg.QUICAddr, tlsConf, transports.QUICEchoConfig{}); err != nil {
		return err
	}
	if s.hl, err = n.Listen(ctx, "tcp", s.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	s.addrs = Addrs{
		HTTP: s.hl.Addr().String(),
		TCP:  s.tcp.Addr().String(),
		UDP:  s.udp.Addr().String(),
		QUIC: s.quic.Addr().String(),
	}
	s.relay = newRelay(s.cfg, endpoints{Network: own, Target: transports.Target{
		TCP:  s.addrs.TCP,
		UDP:  s.addrs.UDP,
		QUIC: s.addrs.QUIC,
		WS:   "ws://" + s.addrs.HTTP + "/ws/echo",
		TLS:  transports.ClientTLSConfig(tlsConf),
	}, ServerTLS: tlsConf, TCP: s.tcp})
	s.static = newStaticFiles(s.cfg.Assets, s.log)
	s.wg.Go(s.static.load) // read before the first visit asks for them
	guard, err := newHostGuard(s.addrs.HTTP, s.cfg.AllowHosts, s.routes())
	if err != nil {
		return err
	}
	s.http = &http.Server{
		Handler:           guard,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.wg.Go(func() { s.tcp.Serve() })
	s.wg.Go(func() { s.udp.Serve() })
	s.wg.Go(func() { s.quic.Serve() })
	s.wg.Go(func() {
		if err := s.http.Serve(s.hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	})
	return nil
}

// Addrs returns the addresses the server listens on; valid after Start.
func (s *Server) Addrs() Addrs { return s.addrs }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", newPageHandler(pageInfo{Addrs: s.addrs, Static: s.static}))
	mux.Handle("GET /static/", http.StripPrefix("/static/", s.static))
	mux.Handle("GET /relay", s.relay)
	mux.HandleFunc("GET /relay/pcapng", s.relay.servePcapng)
	mux.HandleFunc("GET /relay/qlog", s.relay.serveQLog)
	mux.HandleFunc("GET /relay/limits", s.relay.serveLimits)
	mux.Handle("GET /ws/echo", transports.WSEchoHandler(transports.WSEchoConfig{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Shutdown stops accepting, closes relay sessions and endpoints, and waits for their goroutines.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
	}
	if s.relay != nil {
		s.relay.close()
	}
	s.closeAll()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

func (s *Server) closeAll() {
	if s.http != nil {
		s.http.Close()
	} else if s.hl != nil {
		s.hl.Close()
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
}
