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
	at := net.JoinHostPort(l.ServerAddr().String(), "0")
	stls, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return nil, err
	}
	ctls := transports.ClientTLSConfig(stls)
	out := map[string]time.Duration{}
	var g transports.Group
	defer g.Close()

	// TCP and TCP+TLS share a listener; the server side of TLS runs on each accepted conn.
	ln, err := transports.ListenTCP(ctx, l.Server(), at)
	if err != nil {
		return nil, err
	}
	g.Add(ln.Close)
	g.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.Go(func() {
				defer c.Close()
				var b [1]byte
				if _, err := c.Read(b[:1]); err != nil || b[0] != 0x16 { // not a TLS handshake record
					return
				}
				tc := tls.Server(&prefixConn{Conn: c, prefix: b[:1]}, stls)
				hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if tc.HandshakeContext(hctx) == nil {
					_, _ = tc.Read(b[:]) // until the client closes
				}
			})
		}
	})
	start := time.Now()
	c, err := transports.DialTCP(ctx, l.Client(), ln.Addr().String(), transports.TCPOptions{})
	if err != nil {
		return nil, err
	}
	out[ConnectTCP] = time.Since(start)
	c.Close()

	start = time.Now()
	c, err = transports.DialTCP(ctx, l.Client(), ln.Addr().String(), transports.TCPOptions{})
	if err != nil {
		return nil, fmt.Errorf("tcp+tls: %w", err)
	}
	tc := tls.Client(c, ctls)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tcp+tls: %w", err)
	}
	out[ConnectTCPTLS] = time.Since(start)
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		c.Close()
		return nil, fmt.Errorf("tcp+tls: negotiated version %x, want TLS 1.3", v)
	}
	c.Close()

	// QUIC.
	qln, err := transports.ListenQUIC(ctx, l.Server(), at, transports.QUICOptions{TLS: stls})
	if err != nil {
		return nil, err
	}
	g.Add(qln.Close)
	g.Go(func() {
		for {
			qc, err := qln.Accept(ctx)
			if err != nil {
				return
			}
			g.Go(func() {
				select {
				case <-qc.Context().Done():
				case <-ctx.Done():
				}
				qc.CloseWithError(0, "")
			})
		}
	})
	cep, err := transports.OpenQUIC(ctx, l.Client(), net.JoinHostPort(l.ClientAddr().String(), "0"), transports.QUICOptions{TLS: ctls})
	if err != nil {
		return nil, err
	}
	g.Add(cep.Close)
	start = time.Now()
	qc, err := cep.Dial(ctx, qln.Addr())
	if err != nil {
		return nil, err
	}
	out[ConnectQUIC] = time.Since(start)
	qc.CloseWithError(0, "")

	// WebSocket.
	hs, err := transports.ListenWS(ctx, l.Server(), at, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wc, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer wc.CloseNow()
		_, _, _ = wc.Read(r.Context()) // until the client goes
	}))
	if err != nil {
		return nil, err
	}
	g.Add(hs.Close)
	start = time.Now()
	wc, err := transports.DialWS(ctx, l.Client(), "ws://"+hs.Addr().String()+"/", transports.WSOptions{})
	if err != nil {
		return nil, err
	}
	out[ConnectWS] = time.Since(start)
	wc.CloseNow()
	return out, nil
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
