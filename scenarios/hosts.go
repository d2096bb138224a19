package scenarios

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// httpHost is a net/http server on a run's server host. Close closes every connection it
// accepted, hijacked ones (WebSocket) included, cancels its requests' contexts, and waits for its
// handlers to return.
type httpHost struct {
	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	handlers sync.WaitGroup
	serve    sync.WaitGroup
}

// startHTTPHost serves h on an ephemeral TCP port of env.Link.Server().
func startHTTPHost(ctx context.Context, env *Env, h http.Handler) (*httpHost, error) {
	ln, err := env.Link.Server().Listen(ctx, "tcp", net.JoinHostPort(env.Link.ServerAddr().String(), "0"))
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	s := &httpHost{cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.ln = &trackingListener{Listener: ln, h: s}
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
func (s *httpHost) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server; see httpHost.
func (s *httpHost) Close() {
	s.cancel()
	s.srv.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.serve.Wait()
	s.handlers.Wait()
}

type trackingListener struct {
	net.Listener
	h *httpHost
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	if l.h.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.h.conns[c] = struct{}{}
	return c, nil
}

// tcpEndpoint reaches the netstack endpoint under a TCP conn of the link, for the socket options
// the link's *TCPConn does not wrap (Nagle, keepalive, linger) and for its TCP state. The link
// keeps the endpoint in an unexported field "ep"; until it exports accessors, this reads that
// field by reflection. ok is false for any other conn (a kernel socket, a changed link).
func tcpEndpoint(c net.Conn) (tcpip.Endpoint, bool) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	f := v.Elem().FieldByName("ep")
	if !f.IsValid() || f.Type() != reflect.TypeFor[tcpip.Endpoint]() {
		return nil, false
	}
	ep, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(tcpip.Endpoint)
	return ep, ep != nil
}

var errNoEndpoint = errors.New("the link's TCP conn does not expose its netstack endpoint")

// millis is d in milliseconds.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// quantile is the q-quantile (0..1) of sorted values, nearest rank; NaN when empty.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// sortedCopy returns v sorted, leaving v alone.
func sortedCopy(v []float64) []float64 {
	out := slices.Clone(v)
	slices.Sort(out)
	return out
}

// tcpHost is a TCP server on a run's server host that runs handle on each connection in a
// goroutine of its own. Close closes the listener and every connection and waits for the handlers.
type tcpHost struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// startTCPHost listens on an ephemeral port of env.Link.Server() and serves handle.
func startTCPHost(ctx context.Context, env *Env, handle func(net.Conn)) (*tcpHost, error) {
	ln, err := env.Link.Server().Listen(ctx, "tcp", net.JoinHostPort(env.Link.ServerAddr().String(), "0"))
	if err != nil {
		return nil, err
	}
	h := &tcpHost{ln: ln, conns: map[net.Conn]struct{}{}}
	h.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			if h.closed {
				h.mu.Unlock()
				c.Close()
				return
			}
			h.conns[c] = struct{}{}
			h.wg.Add(1)
			h.mu.Unlock()
			go func() {
				defer h.wg.Done()
				handle(c)
			}()
		}
	})
	return h, nil
}

// Addr is the address the server listens on.
func (h *tcpHost) Addr() net.Addr { return h.ln.Addr() }

// Close stops the server; see tcpHost.
func (h *tcpHost) Close() {
	h.mu.Lock()
	h.closed = true
	h.ln.Close()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// hundredths rounds v to two decimals, for metrics that read well.
func hundredths(v float64) float64 { return math.Round(v*100) / 100 }
