package scenarios

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/transports"
)

// startHTTPHost serves h on an ephemeral TCP port of env.Link.Server(); its Close closes every
// connection, hijacked ones (WebSocket) included, and waits for the handlers (see
// transports.HTTPServer).
func startHTTPHost(ctx context.Context, env *Env, h http.Handler) (*transports.HTTPServer, error) {
	return transports.ListenWS(ctx, env.Link.Server(), net.JoinHostPort(env.Link.ServerAddr().String(), "0"), h)
}

// linkTCP is c as the link's TCP conn, for the socket options and state a lesson reads and tunes
// (Nagle, keepalive, linger, TCP state); an error for any other conn (a kernel socket).
func linkTCP(c net.Conn) (*link.TCPConn, error) {
	tc, ok := c.(*link.TCPConn)
	if !ok {
		return nil, fmt.Errorf("%T is not a link TCP conn", c)
	}
	return tc, nil
}

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

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
