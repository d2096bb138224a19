package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wireplay/wireplay/ipc"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// relayEndpoints are echo endpoints of the relay's own, on loopback ports that only this server
// dials: the same code as the public endpoints (so what the page measures is what an outside
// client gets) but never sharing their caps, rate buckets or slots with outside clients — a flood
// or a thousand held connections from elsewhere cannot take a page's columns away, and the
// relay's traffic cannot take an outside client's share.
type relayEndpoints struct {
	tcp  *transports.TCPEcho
	udp  *transports.UDPEcho
	quic *transports.QUICEcho
	ws   *http.Server
	wsl  net.Listener
	// unix is the Unix stream echo of the page's "Unix stream" column, in a directory of its own
	// (unixDir); nil when the network is not the kernel's or the socket could not be made.
	unix    *ipc.UnixEcho
	unixDir string
}

// local are the local transports the relay offers in kernel mode: the pipe always (it needs
// nothing but the process), the Unix stream when its echo listens; none off the kernel.
func (e *relayEndpoints) local(n netx.Network) []protocol.Transport {
	if n != netx.Kernel {
		return nil
	}
	if e.unix == nil {
		return []protocol.Transport{protocol.Pipe}
	}
	return protocol.Local
}

// relayEndpointCap is the relay endpoints' connection cap: the relay's own caps (sessions, per
// IP) bound what it opens, this only stops a runaway.
const relayEndpointCap = 1 << 16

func (s *Server) listenRelayEndpoints(ctx context.Context, tlsConf *tls.Config) (err error) {
	n, e := s.cfg.Network, &s.own
	const loop = "127.0.0.1:0"
	if e.tcp, err = transports.ListenTCPEcho(ctx, n, loop, transports.TCPEchoConfig{IdleTimeout: s.cfg.IdleTimeout,
		MaxConns: relayEndpointCap, MaxConnsPerIP: relayEndpointCap}); err != nil {
		return fmt.Errorf("relay's endpoints: %w", err)
	}
	// A bucket per relay socket (each a page's) with the public endpoint's per-source rate and
	// burst, no global cap.
	if e.udp, err = transports.ListenUDPEcho(ctx, n, loop, transports.UDPEchoConfig{PerPort: true, MaxSources: relayEndpointCap,
		PerSourceRate: s.cfg.UDPEcho.PerSourceRate, PerSourceBurst: s.cfg.UDPEcho.PerSourceBurst,
		GlobalRate: 1e9, GlobalBurst: 1e9}); err != nil {
		return fmt.Errorf("relay's endpoints: %w", err)
	}
	if e.quic, err = transports.ListenQUICEcho(ctx, n, loop, tlsConf, transports.QUICEchoConfig{}); err != nil {
		return fmt.Errorf("relay's endpoints: %w", err)
	}
	if e.wsl, err = n.Listen(ctx, "tcp", loop); err != nil {
		return fmt.Errorf("relay's endpoints: listen websocket echo: %w", err)
	}
	if n == netx.Kernel {
		// Best effort: without it the page's Unix column says it is not offered.
		if dir, err := os.MkdirTemp("", "wireplay-relay"); err != nil {
			s.log.Warn("relay's unix echo: no directory for its socket", "err", err)
		} else if u, err := ipc.ListenUnixEcho(ctx, filepath.Join(dir, "echo.sock"), ipc.UnixEchoConfig{IdleTimeout: s.cfg.IdleTimeout,
			MaxConns: relayEndpointCap}); err != nil {
			os.RemoveAll(dir)
			s.log.Warn("relay's unix echo", "err", err)
		} else {
			e.unix, e.unixDir = u, dir
		}
	}
	e.ws = &http.Server{
		Handler:           transports.WSEchoHandler(transports.WSEchoConfig{MaxConns: relayEndpointCap}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return nil
}

func (e *relayEndpoints) serve(wg *sync.WaitGroup, log *slog.Logger) {
	wg.Go(func() { e.tcp.Serve() })
	wg.Go(func() { e.udp.Serve() })
	wg.Go(func() { e.quic.Serve() })
	if e.unix != nil {
		wg.Go(func() { e.unix.Serve() })
	}
	wg.Go(func() {
		if err := e.ws.Serve(e.wsl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("relay's websocket echo stopped", "err", err)
		}
	})
}

func (e *relayEndpoints) close() {
	if e.ws != nil {
		e.ws.Close()
	} else if e.wsl != nil {
		e.wsl.Close()
	}
	if e.tcp != nil {
		e.tcp.Close()
	}
	if e.udp != nil {
		e.udp.Close()
	}
	if e.quic != nil {
		e.quic.Close()
	}
	if e.unix != nil {
		e.unix.Close()
		os.RemoveAll(e.unixDir)
	}
}
