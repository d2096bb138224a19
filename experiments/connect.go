package experiments

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"

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
	var wg sync.WaitGroup
	defer wg.Wait()

	// TCP and TCP+TLS share a listener; the server side of TLS runs on each accepted conn.
	ln, err := l.Server().Listen(ctx, "tcp", at)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
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
	c, err := l.Client().Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("tcp: %w", err)
	}
	out[ConnectTCP] = time.Since(start)
	c.Close()

	start = time.Now()
	c, err = l.Client().Dial(ctx, "tcp", ln.Addr().String())
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
	spc, err := l.Server().ListenPacket(ctx, "udp", at)
	if err != nil {
		return nil, err
	}
	defer spc.Close()
	str := &quic.Transport{Conn: spc}
	defer str.Close()
	conf := transports.QUICEchoConfig{}.QUICConfig()
	qln, err := str.Listen(stls, conf)
	if err != nil {
		return nil, err
	}
	defer qln.Close()
	wg.Go(func() {
		for {
			qc, err := qln.Accept(ctx)
			if err != nil {
				return
			}
			wg.Go(func() {
				select {
				case <-qc.Context().Done():
				case <-ctx.Done():
				}
				qc.CloseWithError(0, "")
			})
		}
	})
	cpc, err := l.Client().ListenPacket(ctx, "udp", net.JoinHostPort(l.ClientAddr().String(), "0"))
	if err != nil {
		return nil, err
	}
	defer cpc.Close()
	ctr := &quic.Transport{Conn: cpc}
	defer ctr.Close()
	start = time.Now()
	qc, err := ctr.Dial(ctx, spc.LocalAddr(), ctls, conf)
	if err != nil {
		return nil, fmt.Errorf("quic: %w", err)
	}
	out[ConnectQUIC] = time.Since(start)
	qc.CloseWithError(0, "")

	// WebSocket.
	hln, err := l.Server().Listen(ctx, "tcp", at)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wc, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer wc.CloseNow()
		_, _, _ = wc.Read(r.Context()) // until the client goes
	})}
	wg.Go(func() { _ = hs.Serve(hln) })
	defer hs.Close()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Client().Dial(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
	defer hc.CloseIdleConnections()
	start = time.Now()
	wc, _, err := websocket.Dial(ctx, "ws://"+hln.Addr().String()+"/", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("ws: %w", err)
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
