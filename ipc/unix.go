package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// UnixEchoConfig tunes UnixEcho; zero fields take defaults.
type UnixEchoConfig struct {
	// IdleTimeout closes a connection with nothing to read for this long; default 60 s.
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at once; more are closed at once; default 64.
	MaxConns int
}

// UnixEcho echoes every byte read on each connection to a Unix stream socket (SOCK_STREAM).
type UnixEcho struct {
	cfg UnixEchoConfig
	ln  net.Listener

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	refused atomic.Uint64
	wg      sync.WaitGroup
}

// ListenUnixEcho listens on the Unix stream socket path, removing a stale socket left there by a
// server that is gone; Serve runs it, Close removes the socket.
func ListenUnixEcho(ctx context.Context, path string, cfg UnixEchoConfig) (*UnixEcho, error) {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 64
	}
	if err := removeStale(ctx, "unix", path); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen unix: %w", err)
	}
	return &UnixEcho{cfg: cfg, ln: ln, conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the socket's address (its path).
func (e *UnixEcho) Addr() net.Addr { return e.ln.Addr() }

// Refused is how many connections were closed at once for being over MaxConns.
func (e *UnixEcho) Refused() uint64 { return e.refused.Load() }

// Serve accepts connections until Close; it returns nil then.
func (e *UnixEcho) Serve() error {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			e.mu.Lock()
			closed := e.closed
			e.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() { // e.g. out of file descriptors for a moment
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept unix: %w", err)
		}
		e.mu.Lock()
		if e.closed || len(e.conns) >= e.cfg.MaxConns {
			e.mu.Unlock()
			e.refused.Add(1)
			c.Close()
			continue
		}
		e.conns[c] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go e.echo(c)
	}
}

func (e *UnixEcho) echo(c net.Conn) {
	defer e.wg.Done()
	defer func() {
		c.Close()
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
	}()
	EchoStream(&idleReader{c: c, idle: e.cfg.IdleTimeout}, c)
}

// Close stops the listener (removing its socket file), closes every connection and waits for
// their goroutines.
func (e *UnixEcho) Close() error {
	e.mu.Lock()
	e.closed = true
	err := e.ln.Close()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
	return err
}

// idleReader reads from c with a read deadline idle ahead, moved only when less than half of it
// is left (a deadline is a runtime timer: moving it on every read costs).
type idleReader struct {
	c    net.Conn
	idle time.Duration
	at   time.Time
}

func (r *idleReader) Read(b []byte) (int, error) {
	if now := time.Now(); r.at.Sub(now) < r.idle/2 {
		r.at = now.Add(r.idle)
		r.c.SetReadDeadline(r.at)
	}
	return r.c.Read(b)
}

// UnixgramEcho answers each datagram sent to a Unix datagram socket (SOCK_DGRAM) with the same
// bytes, to the path its sender bound (DialUnixgram binds one).
type UnixgramEcho struct {
	c            *net.UnixConn
	path         string
	unanswerable atomic.Uint64
}

// ListenUnixgramEcho binds the Unix datagram socket path, removing a stale socket left there;
// Serve runs it, Close removes the socket.
func ListenUnixgramEcho(ctx context.Context, path string) (*UnixgramEcho, error) {
	if err := removeStale(ctx, "unixgram", path); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "unixgram", path)
	if err != nil {
		return nil, fmt.Errorf("listen unixgram: %w", err)
	}
	return &UnixgramEcho{c: pc.(*net.UnixConn), path: path}, nil
}

// Addr is the socket's address (its path).
func (e *UnixgramEcho) Addr() net.Addr { return e.c.LocalAddr() }

// Unanswerable is how many datagrams came from a socket with no path to answer to.
func (e *UnixgramEcho) Unanswerable() uint64 { return e.unanswerable.Load() }

// Serve echoes until Close; it returns nil then.
func (e *UnixgramEcho) Serve() error { return EchoPackets(e.c, &e.unanswerable) }

// Close closes the socket and removes its file (a datagram socket's file outlives it otherwise).
func (e *UnixgramEcho) Close() error {
	err := e.c.Close()
	if rerr := os.Remove(e.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// DialUnixgram opens a Unix datagram socket bound to the path local — an echo needs an address to
// answer to — and connected to remote. Closing the conn removes local.
func DialUnixgram(ctx context.Context, local, remote string) (net.Conn, error) {
	if err := removeStale(ctx, "unixgram", local); err != nil {
		return nil, err
	}
	d := net.Dialer{LocalAddr: &net.UnixAddr{Name: local, Net: "unixgram"}}
	c, err := d.DialContext(ctx, "unixgram", remote)
	if err != nil {
		os.Remove(local)
		return nil, fmt.Errorf("dial unixgram: %w", err)
	}
	return &unixgramConn{UnixConn: c.(*net.UnixConn), path: local}, nil
}

// unixgramConn is a client's datagram socket; Close removes the path it bound.
type unixgramConn struct {
	*net.UnixConn
	path string
}

func (c *unixgramConn) Close() error {
	err := c.UnixConn.Close()
	os.Remove(c.path)
	return err
}
