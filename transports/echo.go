package transports

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/netx"
)

// EchoOptions tune StartEcho; the zero value gives `wireplay serve`'s defaults.
type EchoOptions struct {
	// TLS is the QUIC endpoint's configuration; nil makes a fresh self-signed certificate.
	TLS *tls.Config
	// TCP, UDP and WS tune those endpoints.
	TCP TCPEchoConfig
	UDP UDPEchoConfig
	WS  WSEchoConfig
	// QUICTracer, when set, traces the QUIC endpoint's connections (e.g. QLog.Tracer); it is also
	// put in the returned Target's QUICConfig, so the client's connections are traced too.
	QUICTracer func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace
}

// Echo is wireplay's four echo endpoints running on one network.
type Echo struct {
	// Target reaches the endpoints (the WebSocket echo at ws://HOST:PORT/ws/echo); its TLS trusts
	// exactly the QUIC endpoint's certificate.
	Target Target
	// TCP is the TCP echo endpoint (its side of each connection: PeerStats).
	TCP *TCPEcho

	g Group
}

// StartEcho starts wireplay's TCP, UDP, QUIC and WebSocket echo endpoints on n at host, each on a
// port of its own (port 0). Close stops them. On a link, n is l.Server() and host
// l.ServerAddr().String(); the client then dials from l.Client(). Tests, `wireplay probe --link`,
// the lessons and the relay's link mode all start their endpoints with it.
func StartEcho(ctx context.Context, n netx.Network, host string, o EchoOptions) (_ *Echo, err error) {
	e := &Echo{}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	tlsConf := o.TLS
	if tlsConf == nil {
		if tlsConf, err = ServerTLSConfig("", ""); err != nil {
			return nil, err
		}
	}
	at := net.JoinHostPort(host, "0")
	tcp, err := ListenTCPEcho(ctx, n, at, o.TCP)
	if err != nil {
		return nil, err
	}
	e.g.Add(tcp.Close)
	e.g.Go(func() { tcp.Serve() })
	e.TCP = tcp
	udp, err := ListenUDPEcho(ctx, n, at, o.UDP)
	if err != nil {
		return nil, err
	}
	e.g.Add(udp.Close)
	e.g.Go(func() { udp.Serve() })
	q, err := ListenQUICEcho(ctx, n, at, tlsConf, QUICEchoConfig{Tracer: o.QUICTracer})
	if err != nil {
		return nil, err
	}
	e.g.Add(q.Close)
	e.g.Go(func() { q.Serve() })
	mux := http.NewServeMux()
	mux.Handle("GET /ws/echo", WSEchoHandler(o.WS))
	hs, err := ListenWS(ctx, n, at, mux)
	if err != nil {
		return nil, err
	}
	e.g.Add(hs.Close)
	e.Target = Target{
		TCP:        tcp.Addr().String(),
		UDP:        udp.Addr().String(),
		QUIC:       q.Addr().String(),
		WS:         "ws://" + hs.Addr().String() + "/ws/echo",
		TLS:        ClientTLSConfig(tlsConf),
		QUICConfig: QUICEchoConfig{Tracer: o.QUICTracer}.QUICConfig(),
	}
	return e, nil
}

// Close stops every endpoint, closes their connections and waits for their goroutines.
func (e *Echo) Close() error { return e.g.Close() }
