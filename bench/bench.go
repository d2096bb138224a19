// Package bench holds wireplay's performance measurements, shared by `go test -bench` and the
// `wireplay bench` command: each transport's echo round trip through wireplay's endpoint against a
// minimal raw Go echo on the same transport, the relay's round trip against a direct WebSocket echo
// plus a direct transport echo, and the memory an idle relay connection costs.
//
// Client and server run in one process on loopback (a wake-up on the other core costs more than
// most of these round trips), so the figures to read are the ratios, not the absolutes.
package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// MessageSize is the payload of every echo benchmark.
const MessageSize = 64

// Impl says which server answers: wireplay's endpoint or a minimal raw echo.
type Impl string

const (
	Wireplay Impl = "wireplay"
	Raw      Impl = "raw"
)

// echoServer is a running echo endpoint and how to stop it.
type echoServer struct {
	addr string // host:port, or a ws:// URL
	tls  *tls.Config
	g    transports.Group
}

func (s *echoServer) close() { s.g.Close() }

// startEcho starts impl's echo endpoint for t on loopback.
func startEcho(t protocol.Transport, impl Impl) (*echoServer, error) {
	if impl == Wireplay {
		return startWireplayEcho(t)
	}
	return startRawEcho(t)
}

// startWireplayEcho starts wireplay's endpoint for t on loopback.
func startWireplayEcho(t protocol.Transport) (*echoServer, error) {
	ctx := context.Background()
	s := &echoServer{}
	switch t {
	case protocol.TCP:
		e, err := transports.ListenTCPEcho(ctx, netx.Kernel, "127.0.0.1:0", transports.TCPEchoConfig{})
		if err != nil {
			return nil, err
		}
		go e.Serve()
		s.addr = e.Addr().String()
		s.g.Add(e.Close)
	case protocol.UDP:
		e, err := transports.ListenUDPEcho(ctx, netx.Kernel, "127.0.0.1:0", transports.UDPEchoConfig{PerSourceRate: 1e9, PerSourceBurst: 1e9, GlobalRate: 1e9, GlobalBurst: 1e9})
		if err != nil {
			return nil, err
		}
		go e.Serve()
		s.addr = e.Addr().String()
		s.g.Add(e.Close)
	case protocol.QUICStream, protocol.QUICDgram:
		tc, err := transports.ServerTLSConfig("", "")
		if err != nil {
			return nil, err
		}
		e, err := transports.ListenQUICEcho(ctx, netx.Kernel, "127.0.0.1:0", tc, transports.QUICEchoConfig{})
		if err != nil {
			return nil, err
		}
		go e.Serve()
		s.addr, s.tls = e.Addr().String(), tc
		s.g.Add(e.Close)
	case protocol.WS:
		return startHTTP(s, transports.WSEchoHandler(transports.WSEchoConfig{}))
	}
	return s, nil
}

// startRawEcho starts a minimal echo for t on loopback: nothing but the transport's own API (for
// QUIC and WebSocket, the kit's listener and the library's calls).
func startRawEcho(t protocol.Transport) (*echoServer, error) {
	ctx := context.Background()
	s := &echoServer{}
	switch t {
	case protocol.TCP:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		s.addr = ln.Addr().String()
		s.g.Add(ln.Close)
	case protocol.UDP:
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		go func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(buf[:n], from)
			}
		}()
		s.addr = pc.LocalAddr().String()
		s.g.Add(pc.Close)
	case protocol.QUICStream, protocol.QUICDgram:
		tc, err := transports.ServerTLSConfig("", "")
		if err != nil {
			return nil, err
		}
		ln, err := transports.ListenQUIC(ctx, netx.Kernel, "127.0.0.1:0", transports.QUICOptions{TLS: tc})
		if err != nil {
			return nil, err
		}
		go func() {
			for {
				c, err := ln.Accept(context.Background())
				if err != nil {
					return
				}
				go func() {
					for {
						d, err := c.ReceiveDatagram(context.Background())
						if err != nil {
							return
						}
						c.SendDatagram(d)
					}
				}()
				go func() {
					for {
						st, err := c.AcceptStream(context.Background())
						if err != nil {
							return
						}
						go func() { io.Copy(st, st); st.Close() }()
					}
				}()
			}
		}()
		s.addr, s.tls = ln.Addr().String(), tc
		s.g.Add(ln.Close)
	case protocol.WS:
		return startHTTP(s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, b, err := c.Read(r.Context())
				if err != nil || c.Write(r.Context(), typ, b) != nil {
					return
				}
			}
		}))
	}
	return s, nil
}

func startHTTP(s *echoServer, h http.Handler) (*echoServer, error) {
	hs, err := transports.ListenWS(context.Background(), netx.Kernel, "127.0.0.1:0", h)
	if err != nil {
		return nil, err
	}
	s.addr = "ws://" + hs.Addr().String() + "/"
	s.g.Add(hs.Close)
	return s, nil
}

// rawClient does one echo round trip per call, with nothing but the transport's own API.
type rawClient struct {
	rtt   func() error
	close func()
}

func dialRaw(t protocol.Transport, s *echoServer) (*rawClient, error) {
	ctx := context.Background()
	msg := make([]byte, MessageSize)
	buf := make([]byte, 65536)
	switch t {
	case protocol.TCP, protocol.UDP:
		c, err := net.Dial(string(t), s.addr)
		if err != nil {
			return nil, err
		}
		return &rawClient{close: func() { c.Close() }, rtt: func() error {
			if _, err := c.Write(msg); err != nil {
				return err
			}
			if t == protocol.UDP {
				c.SetReadDeadline(time.Now().Add(time.Second))
				_, err := c.Read(buf)
				return err
			}
			_, err := io.ReadFull(c, buf[:len(msg)])
			return err
		}}, nil
	case protocol.QUICStream, protocol.QUICDgram:
		conn, err := transports.DialQUIC(ctx, netx.Kernel, s.addr, transports.QUICOptions{TLS: transports.ClientTLSConfig(s.tls)})
		if err != nil {
			return nil, err
		}
		closeConn := func() { conn.Close() }
		if t == protocol.QUICDgram {
			return &rawClient{close: closeConn, rtt: func() error {
				if err := conn.SendDatagram(msg); err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				_, err := conn.ReceiveDatagram(ctx)
				return err
			}}, nil
		}
		st, err := conn.OpenStreamSync(ctx)
		if err != nil {
			closeConn()
			return nil, err
		}
		return &rawClient{close: closeConn, rtt: func() error {
			if _, err := st.Write(msg); err != nil {
				return err
			}
			_, err := io.ReadFull(st, buf[:len(msg)])
			return err
		}}, nil
	case protocol.WS:
		c, err := transports.DialWS(ctx, netx.Kernel, s.addr, transports.WSOptions{})
		if err != nil {
			return nil, err
		}
		return &rawClient{close: func() { c.CloseNow() }, rtt: func() error {
			if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
				return err
			}
			_, _, err := c.Read(ctx)
			return err
		}}, nil
	}
	return nil, fmt.Errorf("unknown transport %q", t)
}

// Echo benchmarks one echo round trip of MessageSize bytes over t, alternating between wireplay's
// endpoint and a minimal raw Go echo so both see the same machine noise. ns/op is one round trip
// of each; the metrics "wireplay-ns" and "raw-ns" split it, and "ratio" is wireplay/raw (goal ≤ 1.15).
// A datagram lost on loopback (rare, under load) is retried, not counted.
func Echo(t protocol.Transport) func(*testing.B) {
	return func(b *testing.B) {
		var cs [2]*rawClient
		for i, impl := range []Impl{Wireplay, Raw} {
			s, err := startEcho(t, impl)
			if err != nil {
				b.Fatal(err)
			}
			defer s.close()
			if cs[i], err = dialRaw(t, s); err != nil {
				b.Fatal(err)
			}
			defer cs[i].close()
			for range 200 { // warm up
				cs[i].rtt()
			}
		}
		var spent [2]time.Duration
		b.ResetTimer()
		for b.Loop() {
			for i, c := range cs {
				start := time.Now()
				if err := c.rtt(); err != nil && !isTimeout(err) {
					b.Fatal(err)
				}
				spent[i] += time.Since(start)
			}
		}
		reportPair(b, "wireplay-ns", spent[0], "raw-ns", spent[1])
	}
}

func reportPair(b *testing.B, an string, a time.Duration, bn string, bd time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(a.Nanoseconds())/n, an)
	b.ReportMetric(float64(bd.Nanoseconds())/n, bn)
	if bd > 0 {
		b.ReportMetric(float64(a)/float64(bd), "ratio")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
