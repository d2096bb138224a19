package transports

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/netx"
)

// QUICOptions are what a QUIC listener or dialer of the kit takes; the zero value is wireplay's
// defaults (QUICEchoConfig{}.QUICConfig(): datagrams on, 5 s handshake, 30 s idle timeout).
type QUICOptions struct {
	// TLS is the listener's certificate configuration (offering ALPN "wireplay", see
	// ServerTLSConfig) or the dialer's (see ClientTLSConfig); a dialer's nil trusts any
	// certificate. A listener needs one.
	TLS *tls.Config
	// Config, when set, is the base quic-go configuration (cloned, never changed); the fields
	// below override it where they are set.
	Config *quic.Config
	// ZeroRTT accepts 0-RTT data on a listener (ListenEarly, Allow0RTT) and sends it from a
	// dialer (DialEarly: the conn is returned before the handshake completes, and the dial uses a
	// session ticket from TLS.ClientSessionCache when it has one).
	ZeroRTT bool
	// NoDatagrams turns RFC 9221 datagrams off (they are on by default).
	NoDatagrams bool
	// KeepAlivePeriod, when set, sends a PING when nothing was sent for this long.
	KeepAlivePeriod time.Duration
	// HandshakeIdleTimeout and MaxIdleTimeout, when set, replace the defaults.
	HandshakeIdleTimeout, MaxIdleTimeout time.Duration
	// Tracer, when set, receives quic-go's qlog events of every connection (e.g. QLog.Tracer).
	Tracer func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace
	// LocalAddr is the address a dialer's UDP socket binds; default the unspecified address of
	// the remote's family, port 0.
	LocalAddr string
}

// QUICConfig is the quic-go configuration o stands for.
func (o QUICOptions) QUICConfig() *quic.Config {
	var c *quic.Config
	if o.Config != nil {
		c = o.Config.Clone()
	} else {
		c = QUICEchoConfig{}.QUICConfig()
	}
	if o.ZeroRTT {
		c.Allow0RTT = true
	}
	if o.NoDatagrams {
		c.EnableDatagrams = false
	}
	if o.KeepAlivePeriod != 0 {
		c.KeepAlivePeriod = o.KeepAlivePeriod
	}
	if o.HandshakeIdleTimeout != 0 {
		c.HandshakeIdleTimeout = o.HandshakeIdleTimeout
	}
	if o.MaxIdleTimeout != 0 {
		c.MaxIdleTimeout = o.MaxIdleTimeout
	}
	if o.Tracer != nil {
		c.Tracer = o.Tracer
	}
	return c
}

// QUICEndpoint is one UDP socket on a network with quic-go's Transport running on it: it can
// listen, dial any number of connections, or both (a client that dials twice to resume).
type QUICEndpoint struct {
	PacketConn net.PacketConn
	Transport  *quic.Transport
	o          QUICOptions
	conf       *quic.Config
	keyLog     io.Writer // the link's, for a socket of an emulated link
}

// OpenQUIC opens a UDP socket on n at addr and runs quic-go on it.
func OpenQUIC(ctx context.Context, n netx.Network, addr string, o QUICOptions) (*QUICEndpoint, error) {
	e, err := openQUIC(ctx, n, addr, o)
	if err != nil {
		return nil, fmt.Errorf("open quic: %w", err)
	}
	return e, nil
}

func openQUIC(ctx context.Context, n netx.Network, addr string, o QUICOptions) (*QUICEndpoint, error) {
	pc, err := n.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	e := &QUICEndpoint{PacketConn: pc, Transport: &quic.Transport{Conn: pc}, o: o, conf: o.QUICConfig()}
	// A socket of an emulated link (package link) takes the TLS secrets, so its captures decrypt.
	if kl, ok := pc.(interface{ KeyLog() io.Writer }); ok {
		e.keyLog = kl.KeyLog()
	}
	return e, nil
}

// withKeyLog is c, or a copy of it that also writes its secrets to the endpoint's key log.
func (e *QUICEndpoint) withKeyLog(c *tls.Config) *tls.Config {
	if e.keyLog == nil {
		return c
	}
	c = c.Clone()
	if c.KeyLogWriter == nil {
		c.KeyLogWriter = e.keyLog
	} else {
		c.KeyLogWriter = io.MultiWriter(c.KeyLogWriter, e.keyLog)
	}
	return c
}

// LocalAddr is the endpoint's UDP address.
func (e *QUICEndpoint) LocalAddr() net.Addr { return e.PacketConn.LocalAddr() }

// Listen accepts connections on the endpoint (early ones when ZeroRTT is set).
func (e *QUICEndpoint) Listen() (*QUICListener, error) {
	l, err := e.listen()
	if err != nil {
		return nil, fmt.Errorf("listen quic: %w", err)
	}
	return l, nil
}

func (e *QUICEndpoint) listen() (*QUICListener, error) {
	if e.o.TLS == nil {
		return nil, fmt.Errorf("no TLS configuration")
	}
	l := &QUICListener{ep: e}
	var err error
	tlsConf := e.withKeyLog(e.o.TLS)
	if e.o.ZeroRTT {
		l.early, err = e.Transport.ListenEarly(tlsConf, e.conf)
	} else {
		l.ln, err = e.Transport.Listen(tlsConf, e.conf)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Dial connects to raddr from the endpoint (DialEarly when ZeroRTT is set).
func (e *QUICEndpoint) Dial(ctx context.Context, raddr net.Addr) (*quic.Conn, error) {
	c, err := e.dial(ctx, raddr)
	if err != nil {
		return nil, fmt.Errorf("dial quic: %w", err)
	}
	return c, nil
}

// DialEarly is Dial with 0-RTT whatever the options say: the conn is returned before the
// handshake completes, and it sends early data when the TLS session cache holds a ticket for
// the server (a second dial on one endpoint resumes the first one's session).
func (e *QUICEndpoint) DialEarly(ctx context.Context, raddr net.Addr) (*quic.Conn, error) {
	c, err := e.dialWith(ctx, raddr, true)
	if err != nil {
		return nil, fmt.Errorf("dial quic: %w", err)
	}
	return c, nil
}

func (e *QUICEndpoint) dial(ctx context.Context, raddr net.Addr) (*quic.Conn, error) {
	return e.dialWith(ctx, raddr, e.o.ZeroRTT)
}

func (e *QUICEndpoint) dialWith(ctx context.Context, raddr net.Addr, early bool) (*quic.Conn, error) {
	tlsConf := e.o.TLS
	if tlsConf == nil {
		tlsConf = ClientTLSConfig(nil)
	}
	tlsConf = e.withKeyLog(tlsConf)
	if early {
		return e.Transport.DialEarly(ctx, raddr, tlsConf, e.conf)
	}
	return e.Transport.Dial(ctx, raddr, tlsConf, e.conf)
}

// Close closes quic-go's Transport (and every connection on it), then the socket.
func (e *QUICEndpoint) Close() error {
	err := e.Transport.Close()
	e.PacketConn.Close()
	return err
}

// QUICListener accepts QUIC connections. One from ListenQUIC owns its endpoint and closes it too.
type QUICListener struct {
	ep    *QUICEndpoint
	own   bool
	ln    *quic.Listener
	early *quic.EarlyListener
}

// ListenQUIC listens for QUIC connections on n at addr, on an endpoint of its own.
func ListenQUIC(ctx context.Context, n netx.Network, addr string, o QUICOptions) (*QUICListener, error) {
	ep, err := openQUIC(ctx, n, addr, o)
	if err != nil {
		return nil, fmt.Errorf("listen quic: %w", err)
	}
	l, err := ep.listen()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("listen quic: %w", err)
	}
	l.own = true
	return l, nil
}

// Accept waits for the next connection (with ZeroRTT, before its handshake completes).
func (l *QUICListener) Accept(ctx context.Context) (*quic.Conn, error) {
	if l.early != nil {
		return l.early.Accept(ctx)
	}
	return l.ln.Accept(ctx)
}

// Addr is the address the listener is on.
func (l *QUICListener) Addr() net.Addr { return l.ep.LocalAddr() }

// Endpoint is the endpoint the listener runs on.
func (l *QUICListener) Endpoint() *QUICEndpoint { return l.ep }

// Close stops accepting (connections already accepted go on); a listener from ListenQUIC also
// closes its endpoint, and with it every connection on it.
func (l *QUICListener) Close() error {
	var err error
	if l.early != nil {
		err = l.early.Close()
	} else {
		err = l.ln.Close()
	}
	if l.own {
		l.ep.Close()
	}
	return err
}

// QUICConn is a QUIC connection dialled by DialQUIC, with the endpoint it alone runs on.
type QUICConn struct {
	*quic.Conn
	Endpoint *QUICEndpoint
	// Handshake is how long the handshake took: from the dial on the endpoint's socket, already
	// open, until quic-go completed it (with ZeroRTT, until DialEarly returned).
	Handshake time.Duration
}

// DialQUIC connects to addr (host:port) over n from an endpoint of its own.
func DialQUIC(ctx context.Context, n netx.Network, addr string, o QUICOptions) (*QUICConn, error) {
	c, err := dialQUICConn(ctx, n, addr, o)
	if err != nil {
		return nil, fmt.Errorf("dial quic: %w", err)
	}
	return c, nil
}

// dialQUICConn is DialQUIC without the error's prefix (the measuring client says its own).
func dialQUICConn(ctx context.Context, n netx.Network, addr string, o QUICOptions) (*QUICConn, error) {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	local := o.LocalAddr
	if local == "" {
		local = localFor(addr)
	}
	ep, err := openQUIC(ctx, n, local, o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	c, err := ep.dial(ctx, ra)
	if err != nil {
		ep.Close()
		return nil, err
	}
	return &QUICConn{Conn: c, Endpoint: ep, Handshake: time.Since(start)}, nil
}

// LocalAddr is the address of the UDP socket the connection runs on.
func (c *QUICConn) LocalAddr() net.Addr { return c.Endpoint.LocalAddr() }

// Close closes the connection (application error 0) and its endpoint.
func (c *QUICConn) Close() error {
	err := c.CloseWithError(0, "")
	c.Endpoint.Close()
	return err
}

// localFor is the unspecified address, port 0, of addr's family.
func localFor(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err == nil && strings.Contains(host, ":") {
		return "[::]:0"
	}
	return "0.0.0.0:0"
}
