package transports

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/netx"
)

// WSOptions are what DialWS takes; the zero value is one connection, no subprotocol, coder/
// websocket's read limit.
type WSOptions struct {
	// ReadLimit, when set, is the largest message the conn reads.
	ReadLimit int64
	// Subprotocols are offered in the handshake.
	Subprotocols []string
	// HTTPHeader is sent with the upgrade request.
	HTTPHeader http.Header
}

// WSConn is a WebSocket dialled over a network, with the TCP conn it runs on. CloseNow (for a
// Group) closes it without the closing handshake, Close(code, reason) with it.
type WSConn struct {
	*websocket.Conn
	// TCP is the conn the HTTP client dialled (hijacked for the WebSocket).
	TCP net.Conn
}

// LocalAddr is the address of the TCP conn the WebSocket runs on.
func (c *WSConn) LocalAddr() net.Addr { return c.TCP.LocalAddr() }

// DialWS opens a WebSocket to url (ws://host:port/path) over n: net/http's client dials its one
// TCP conn with n.Dial, keep-alives off (the conn is hijacked for the WebSocket).
func DialWS(ctx context.Context, n netx.Network, url string, o WSOptions) (*WSConn, error) {
	c, err := dialWS(ctx, n, url, o)
	if err != nil {
		return nil, fmt.Errorf("dial ws: %w", err)
	}
	return c, nil
}

// dialWS is DialWS without the error's prefix (the measuring client says its own).
func dialWS(ctx context.Context, n netx.Network, url string, o WSOptions) (*WSConn, error) {
	var mu sync.Mutex
	var tcp net.Conn
	tr := HTTPTransport(n)
	tr.DisableKeepAlives = true
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := n.Dial(ctx, network, addr)
		if err == nil {
			mu.Lock()
			tcp = c
			mu.Unlock()
		}
		return c, err
	}
	defer tr.CloseIdleConnections()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: tr},
		Subprotocols: o.Subprotocols,
		HTTPHeader:   o.HTTPHeader,
	})
	if err != nil {
		return nil, err
	}
	if o.ReadLimit != 0 {
		c.SetReadLimit(o.ReadLimit)
	}
	mu.Lock()
	defer mu.Unlock()
	return &WSConn{Conn: c, TCP: tcp}, nil
}

// HTTPTransport is a net/http client transport that dials over n (for plain HTTP across a link;
// DialWS makes its own).
func HTTPTransport(n netx.Network) *http.Transport {
	return &http.Transport{DialContext: n.Dial}
}

// HTTPServer is a net/http server on a network, for WebSocket handlers: Close closes every conn
// it accepted, hijacked ones (WebSocket) included, cancels its requests' contexts and waits for
// its handlers to return.
type HTTPServer struct {
	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	handlers sync.WaitGroup
	serve    sync.WaitGroup
}

// ListenWS serves h (e.g. WSEchoHandler, or a handler that calls websocket.Accept) over HTTP on
// n at addr; nil serves WSEchoHandler(WSEchoConfig{}). Its URL is "ws://" + Addr() + path.
func ListenWS(ctx context.Context, n netx.Network, addr string, h http.Handler) (*HTTPServer, error) {
	ln, err := n.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen ws: %w", err)
	}
	if h == nil {
		h = WSEchoHandler(WSEchoConfig{})
	}
	base, cancel := context.WithCancel(context.Background())
	s := &HTTPServer{cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.ln = &trackingListener{Listener: ln, s: s}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.handlers.Add(1)
			defer s.handlers.Done()
			h.ServeHTTP(w, r)
		}),
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.serve.Go(func() { s.srv.Serve(s.ln) })
	return s, nil
}

// Addr is the address the server listens on.
func (s *HTTPServer) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server; see HTTPServer.
func (s *HTTPServer) Close() error {
	s.cancel()
	err := s.srv.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.serve.Wait()
	s.handlers.Wait()
	return err
}

type trackingListener struct {
	net.Listener
	s *HTTPServer
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.s.conns[c] = struct{}{}
	return c, nil
}
