package transports

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
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

	// The fields below tune the echo endpoint's admission (ListenQUICEcho), not the quic-go
	// configuration clients share. A connection attempt is admitted or refused when its first
	// Initial packet arrives, before the handshake: a refused one is answered with
	// CONNECTION_REFUSED and holds no state. An admitted one holds its slots until it ends.

	// MaxConns caps the connections (handshakes in progress included); 0: no cap.
	MaxConns int
	// MaxConnsPerIP caps one client's (an IPv4 address's, an IPv6 /64's) connections; 0: no cap.
	// (`wireplay serve` sets 32, and 1,024 in all; the relay's own endpoint has none.)
	MaxConnsPerIP int
	// RetryThreshold: once this many handshakes from unvalidated addresses are in progress, a
	// new attempt without a token is sent a Retry (RFC 9000 8.1.2), so it costs the endpoint
	// state only once the client has shown it receives at its address. With MaxConnsPerIP, one
	// client (address or /64) with RetryPerClient of them in progress is sent a Retry for more
	// whatever the total, so Initials spoofed from a victim's address hold at most that many of
	// its slots (without a per-client cap there are none to take, and the relay's own endpoint,
	// dialled from one address, pays no extra round trip for it).
	// Default 64; negative: never (neither).
	RetryThreshold int
	// MaxHandshakes caps the handshakes from unvalidated addresses in progress: more are
	// refused (it binds when RetryThreshold is off or above it). Default 256.
	MaxHandshakes int
	// OnRefuse, when set, is told of each Initial packet refused (an attempt whose ClientHello
	// spans two, as with a post-quantum key share, is told of twice).
	OnRefuse func(*Refusal)
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
	ep   *QUICEndpoint
	ln   *QUICListener
	gate *quicGate

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
	g := newQUICGate(cfg)
	ep.Transport.VerifySourceAddress = g.verifySourceAddress
	ep.Transport.ConnContext = g.connContext
	ln, err := ep.listen()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("listen quic: %w", err)
	}
	e := &QUICEcho{ep: ep, ln: ln, gate: g}
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
	handshakeDone(ctx) // Accept returns a connection once its handshake is complete
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
	// AcceptStream fails as soon as the connection starts closing; quic-go cancels its context
	// once it is done (its qlog trace closed, so written out), and Close waits for that.
	<-ctx.Done()
}

// Open is how many connections the endpoint holds now, handshakes in progress included.
func (e *QUICEcho) Open() int { return e.gate.limit.Open() }

// Handshaking is how many handshakes from unvalidated addresses are in progress now.
func (e *QUICEcho) Handshaking() int {
	e.gate.mu.Lock()
	defer e.gate.mu.Unlock()
	return e.gate.unvalidated
}

// RetryPerClient is how many handshakes from one client's unvalidated address may be in
// progress before its next attempt is sent a Retry (see QUICEchoConfig.RetryThreshold).
const RetryPerClient = 4

// quicGate admits connection attempts to a QUIC echo (quic.Transport's ConnContext), and asks for
// a Retry above the threshold (its VerifySourceAddress). quic-go calls both on its one packet
// loop, one Initial at a time, so the count a Retry is decided on is the count the next
// admission sees.
type quicGate struct {
	limit                   *ConnLimit
	retryAt, maxUnvalidated int
	perClientRetry          bool // with a per-client cap: its slots are what a spoofer would take
	onRefuse                func(*Refusal)

	mu          sync.Mutex
	unvalidated int
	byClient    map[netip.Addr]int // unvalidated handshakes in progress per client
}

func newQUICGate(cfg QUICEchoConfig) *quicGate {
	noCap := func(n int) int {
		if n <= 0 {
			return math.MaxInt
		}
		return n
	}
	g := &quicGate{
		limit:          NewConnLimit(noCap(cfg.MaxConnsPerIP), noCap(cfg.MaxConns)),
		retryAt:        cfg.RetryThreshold,
		maxUnvalidated: cfg.MaxHandshakes,
		perClientRetry: cfg.MaxConnsPerIP > 0,
		onRefuse:       cfg.OnRefuse,
		byClient:       map[netip.Addr]int{},
	}
	if g.retryAt == 0 {
		g.retryAt = 64
	}
	if g.maxUnvalidated <= 0 {
		g.maxUnvalidated = 256
	}
	return g
}

func (g *quicGate) verifySourceAddress(addr net.Addr) bool {
	if g.retryAt < 0 {
		return false
	}
	c := ClientOf(addr)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.unvalidated >= g.retryAt || g.perClientRetry && g.byClient[c] >= RetryPerClient
}

// handshakeKey holds, in an admitted connection's context, the func that ends its count as an
// unvalidated handshake in progress.
type handshakeKey struct{}

// handshakeDone ends the count of ctx's connection as an unvalidated handshake, if it was one.
func handshakeDone(ctx context.Context) {
	if done, ok := ctx.Value(handshakeKey{}).(func()); ok {
		done()
	}
}

func (g *quicGate) connContext(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	done := func() {}
	if !info.AddrVerified {
		g.mu.Lock()
		if g.unvalidated >= g.maxUnvalidated {
			g.mu.Unlock()
			return nil, g.refuse(&Refusal{Reason: "handshakes", Client: ClientOf(info.RemoteAddr), Cap: g.maxUnvalidated})
		}
		c := ClientOf(info.RemoteAddr)
		g.unvalidated++
		g.byClient[c]++
		g.mu.Unlock()
		var once sync.Once
		done = func() {
			once.Do(func() {
				g.mu.Lock()
				g.unvalidated--
				if g.byClient[c]--; g.byClient[c] <= 0 {
					delete(g.byClient, c)
				}
				g.mu.Unlock()
			})
		}
	}
	release, err := g.limit.Acquire(info.RemoteAddr)
	if err != nil {
		done()
		return nil, g.refuse(err.(*Refusal))
	}
	// quic-go cancels ctx when the connection ends, its handshake failed or timed out included.
	context.AfterFunc(ctx, func() {
		done()
		release()
	})
	return context.WithValue(ctx, handshakeKey{}, done), nil
}

func (g *quicGate) refuse(r *Refusal) error {
	if g.onRefuse != nil {
		g.onRefuse(r)
	}
	return r
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
