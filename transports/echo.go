package transports

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlogwriter"
)

// EchoOptions tune StartEcho.
type EchoOptions struct {
	// QUICTracer, when set, traces the QUIC endpoint's connections (e.g. QLog.Tracer);
	// it is also put in the returned Target's QUICConfig, so the client's connections are traced too.
	QUICTracer func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace
}

// Echo is wireplay's four echo endpoints running on one network.
type Echo struct {
	// Target reaches the endpoints (the WebSocket echo at ws://HOST:PORT/ws/echo); its TLS trusts
	// exactly the QUIC endpoint's self-signed certificate.
	Target Target
	close  []func() error
}

// StartEcho starts wireplay's TCP, UDP, QUIC and WebSocket echo endpoints on n at host, each on a
// port of its own (port 0), with the defaults of `wireplay serve`. Close stops them. On a link,
// n is l.Server() and host l.ServerAddr().String(); the client then dials from l.Client(). Tests,
// `wireplay probe --link` and the lessons all start their endpoints with it.
func StartEcho(ctx context.Context, n Network, host string, o EchoOptions) (*Echo, error) {
	e := &Echo{}
	at := net.JoinHostPort(host, "0")
	tcp, err := ListenTCPEcho(ctx, n, at, TCPEchoConfig{})
	if err != nil {
		return nil, err
	}
	go tcp.Serve()
	e.close = append(e.close, tcp.Close)
	udp, err := ListenUDPEcho(ctx, n, at, UDPEchoConfig{})
	if err != nil {
		e.Close()
		return nil, err
	}
	go udp.Serve()
	e.close = append(e.close, udp.Close)
	tlsConf, err := ServerTLSConfig("", "")
	if err != nil {
		e.Close()
		return nil, err
	}
	q, err := ListenQUICEcho(ctx, n, at, tlsConf, QUICEchoConfig{Tracer: o.QUICTracer})
	if err != nil {
		e.Close()
		return nil, err
	}
	go q.Serve()
	e.close = append(e.close, q.Close)
	hl, err := n.Listen(ctx, "tcp", at)
	if err != nil {
		e.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/ws/echo", WSEchoHandler(WSEchoConfig{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(hl)
	e.close = append(e.close, hs.Close)
	e.Target = Target{
		TCP:        tcp.Addr().String(),
		UDP:        udp.Addr().String(),
		QUIC:       q.Addr().String(),
		WS:         "ws://" + hl.Addr().String() + "/ws/echo",
		TLS:        ClientTLSConfig(tlsConf),
		QUICConfig: QUICEchoConfig{Tracer: o.QUICTracer}.QUICConfig(),
	}
	return e, nil
}

// Close stops every endpoint and closes their connections (WebSocket connections end when their
// clients go or after the echo's idle timeout).
func (e *Echo) Close() error {
	var errs []error
	for i := len(e.close) - 1; i >= 0; i-- {
		errs = append(errs, e.close[i]())
	}
	e.close = nil
	return errors.Join(errs...)
}
