package experiments

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/transports"
)

// The handshakes ConnectTimes measures, in order.
const (
	ConnectTCP    = "tcp"        // TCP three-way handshake: Dial returns after the SYN-ACK, 1 RTT
	ConnectTCPTLS = "tcp+tls1.3" // TCP, then a full TLS 1.3 handshake (crypto/tls): 2 RTT
	ConnectQUIC   = "quic"       // quic-go's handshake, transport and TLS 1.3 at once: 1 RTT
	ConnectWS     = "ws"         // TCP, then the HTTP/1.1 upgrade (coder/websocket): 2 RTT
)

// ConnectKinds lists the handshakes ConnectTimes measures, in order.
var ConnectKinds = []string{ConnectTCP, ConnectTCPTLS, ConnectQUIC, ConnectWS}

// ConnectTimes measures, one after another across l, how long each kind of connection takes from
// the client's first packet until the client can send application data: the time Dial (and the
// handshake that follows it) takes on the client. It opens its listeners on l.Server() and closes
// everything before it returns. No session resumption or 0-RTT: each handshake is a full one, with
// a fresh self-signed ECDSA P-256 certificate shared by the TLS and QUIC servers.
func ConnectTimes(ctx context.Context, l *link.Link) (map[string]time.Duration, error) {
	c := &connectRun{l: l, at: net.JoinHostPort(l.ServerAddr().String(), "0"), out: map[string]time.Duration{}}
	var err error
	if c.stls, err = transports.ServerTLSConfig("", ""); err != nil {
		return nil, err
	}
	c.ctls = transports.ClientTLSConfig(c.stls)
	defer c.g.Close()
	for _, f := range []func(context.Context) error{c.tcp, c.quic, c.ws} {
		if err := f(ctx); err != nil {
			return nil, err
		}
	}
	return c.out, nil
}

// connectRun is one ConnectTimes run: its link, the servers' address, the certificate shared by
// TLS and QUIC, what it opened and what it measured.
type connectRun struct {
	l          *link.Link
	at         string
	stls, ctls *tls.Config
	g          transports.Group
	out        map[string]time.Duration
}

// tcp measures TCP and TCP+TLS, which share a listener; the server side of TLS runs on each
// accepted conn.
func (r *connectRun) tcp(ctx context.Context) error {
	ln, err := transports.ListenTCP(ctx, r.l.Server(), r.at)
	if err != nil {
		return err
	}
	r.g.Add(ln.Close)
	r.g.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.g.Go(func() { r.serveTLS(ctx, c) })
		}
	})
	start := time.Now()
	c, err := transports.DialTCP(ctx, r.l.Client(), ln.Addr().String(), transports.TCPOptions{})
	if err != nil {
		return err
	}
	r.out[ConnectTCP] = time.Since(start)
	c.Close()

	start = time.Now()
	c, err = transports.DialTCP(ctx, r.l.Client(), ln.Addr().String(), transports.TCPOptions{})
	if err != nil {
		return fmt.Errorf("tcp+tls: %w", err)
	}
	defer c.Close()
	tc := tls.Client(c, r.ctls)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tcp+tls: %w", err)
	}
	r.out[ConnectTCPTLS] = time.Since(start)
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		return fmt.Errorf("tcp+tls: negotiated version %x, want TLS 1.3", v)
	}
	return nil
}

// serveTLS runs the server side of a TLS handshake on c when its first byte starts one (the plain
// TCP measurement sends nothing), then waits for the client to close.
func (r *connectRun) serveTLS(ctx context.Context, c net.Conn) {
	defer c.Close()
	var b [1]byte
	if _, err := c.Read(b[:1]); err != nil || b[0] != 0x16 { // not a TLS handshake record
		return
	}
	tc := tls.Server(&prefixConn{Conn: c, prefix: b[:1]}, r.stls)
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if tc.HandshakeContext(hctx) == nil {
		_, _ = tc.Read(b[:]) // until the client closes
	}
}

// quic measures quic-go's handshake, transport and TLS at once.
func (r *connectRun) quic(ctx context.Context) error {
	ln, err := transports.ListenQUIC(ctx, r.l.Server(), r.at, transports.QUICOptions{TLS: r.stls})
	if err != nil {
		return err
	}
	r.g.Add(ln.Close)
	r.g.Go(func() {
		for {
			qc, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			r.g.Go(func() {
				select {
				case <-qc.Context().Done():
				case <-ctx.Done():
				}
				qc.CloseWithError(0, "")
			})
		}
	})
	ep, err := transports.OpenQUIC(ctx, r.l.Client(), net.JoinHostPort(r.l.ClientAddr().String(), "0"), transports.QUICOptions{TLS: r.ctls})
	if err != nil {
		return err
	}
	r.g.Add(ep.Close)
	start := time.Now()
	qc, err := ep.Dial(ctx, ln.Addr())
	if err != nil {
		return err
	}
	r.out[ConnectQUIC] = time.Since(start)
	qc.CloseWithError(0, "")
	return nil
}

// ws measures TCP's handshake and then the HTTP/1.1 upgrade.
func (r *connectRun) ws(ctx context.Context) error {
	hs, err := transports.ListenWS(ctx, r.l.Server(), r.at, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		wc, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		defer wc.CloseNow()
		_, _, _ = wc.Read(req.Context()) // until the client goes
	}))
	if err != nil {
		return err
	}
	r.g.Add(hs.Close)
	start := time.Now()
	wc, err := transports.DialWS(ctx, r.l.Client(), "ws://"+hs.Addr().String()+"/", transports.WSOptions{})
	if err != nil {
		return err
	}
	r.out[ConnectWS] = time.Since(start)
	wc.CloseNow()
	return nil
}

// prefixConn is a net.Conn whose first reads return prefix.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
