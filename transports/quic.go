package transports

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/netx"
)

// QUICEchoConfig tunes the QUIC echo endpoint; zero fields take defaults.
type QUICEchoConfig struct {
	HandshakeIdleTimeout time.Duration // default 5 s
	MaxIdleTimeout       time.Duration // default 30 s
	MaxIncomingStreams   int64         // default 100
	Allow0RTT            bool          // off by default: 0-RTT data can be replayed
	// Tracer, when set, receives quic-go's qlog events for every connection.
	Tracer func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace
}

// QUICConfig is the quic-go configuration wireplay's endpoint and clients share.
func (c QUICEchoConfig) QUICConfig() *quic.Config {
	if c.HandshakeIdleTimeout == 0 {
		c.HandshakeIdleTimeout = 5 * time.Second
	}
	if c.MaxIdleTimeout == 0 {
		c.MaxIdleTimeout = 30 * time.Second
	}
	if c.MaxIncomingStreams == 0 {
		c.MaxIncomingStreams = 100
	}
	return &quic.Config{
		HandshakeIdleTimeout:  c.HandshakeIdleTimeout,
		MaxIdleTimeout:        c.MaxIdleTimeout,
		MaxIncomingStreams:    c.MaxIncomingStreams,
		MaxIncomingUniStreams: -1,
		Allow0RTT:             c.Allow0RTT,
		EnableDatagrams:       true,
		Tracer:                c.Tracer,
	}
}

// QUICEcho echoes every bidirectional stream and every datagram (RFC 9221) of every connection.
type QUICEcho struct {
	ep *QUICEndpoint
	ln *QUICListener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ListenQUICEcho listens on addr with tlsConf (which must offer ALPN "wireplay"); Serve runs it.
func ListenQUICEcho(ctx context.Context, n netx.Network, addr string, tlsConf *tls.Config, cfg QUICEchoConfig) (*QUICEcho, error) {
	ep, err := openQUIC(ctx, n, addr, QUICOptions{TLS: tlsConf, Config: cfg.QUICConfig()})
	if err != nil {
		return nil, fmt.Errorf("listen quic: %w", err)
	}
	ln, err := ep.listen()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("listen quic: %w", err)
	}
	e := &QUICEcho{ep: ep, ln: ln}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// Addr is the address the endpoint listens on.
func (e *QUICEcho) Addr() net.Addr { return e.ln.Addr() }

// Serve accepts connections until Close.
func (e *QUICEcho) Serve() error {
	for {
		c, err := e.ln.Accept(e.ctx)
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, quic.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("accept quic: %w", err)
		}
		e.wg.Go(func() { e.serveConn(c) })
	}
}

func (e *QUICEcho) serveConn(c *quic.Conn) {
	ctx := c.Context()
	stop := context.AfterFunc(e.ctx, func() { c.CloseWithError(0, "server shutting down") })
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			d, err := c.ReceiveDatagram(ctx)
			if err != nil {
				return
			}
			c.SendDatagram(d) // a reply the size of its request; a failure is a lost datagram
		}
	})
	for {
		s, err := c.AcceptStream(ctx)
		if err != nil {
			break
		}
		wg.Go(func() {
			io.Copy(s, s)
			s.Close()
		})
	}
	wg.Wait()
}

// Close stops accepting, closes every connection (CONNECTION_CLOSE "server shutting down") and
// waits for their goroutines, then closes the socket.
func (e *QUICEcho) Close() error {
	e.cancel()
	err := e.ln.Close()
	e.wg.Wait()
	e.ep.Close()
	return err
}
