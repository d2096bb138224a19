package transports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
)

// TCPEchoConfig tunes the TCP echo endpoint; zero fields take defaults.
type TCPEchoConfig struct {
	IdleTimeout  time.Duration // close a connection with nothing to read for this long; default 60 s
	WriteTimeout time.Duration // give up on a blocked write after at most this long (at least half); default 10 s
	MaxConns     int           // concurrent connections; more are told why and closed; default 1024
	// MaxConnsPerIP caps one client's (an IPv4 address's, an IPv6 /64's) connections; default 32.
	MaxConnsPerIP int
	// OnRefuse, when set, is told of each connection refused.
	OnRefuse func(*Refusal)
}

// TCPEcho echoes every byte it reads back to the sender.
type TCPEcho struct {
	cfg TCPEchoConfig
	ln  net.Listener

	limit *ConnLimit

	mu     sync.Mutex
	conns  map[string]net.Conn // by the client's address
	closed bool
	wg     sync.WaitGroup
}

// ListenTCPEcho listens on addr; Serve runs it.
func ListenTCPEcho(ctx context.Context, n netx.Network, addr string, cfg TCPEchoConfig) (*TCPEcho, error) {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 1024
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = 32
	}
	ln, err := n.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen tcp: %w", err)
	}
	return &TCPEcho{cfg: cfg, ln: ln, conns: make(map[string]net.Conn), limit: NewConnLimit(cfg.MaxConnsPerIP, cfg.MaxConns)}, nil
}

// Addr is the address the endpoint listens on.
func (e *TCPEcho) Addr() net.Addr { return e.ln.Addr() }

// Serve accepts connections until Close.
func (e *TCPEcho) Serve() error {
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
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept tcp: %w", err)
		}
		// The key is read once: a netstack conn that has closed has no remote address.
		remote := c.RemoteAddr()
		if remote == nil {
			c.Close()
			continue
		}
		release, err := e.limit.Acquire(remote)
		if err != nil {
			e.refuse(c, err.(*Refusal))
			continue
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			release()
			c.Close()
			continue
		}
		key := remote.String()
		e.conns[key] = c
		e.wg.Add(1)
		e.mu.Unlock()
		go e.echo(c, key, release)
	}
}

// refuse tells a client over a cap why, in one line it can read, and closes its connection.
func (e *TCPEcho) refuse(c net.Conn, r *Refusal) {
	if e.cfg.OnRefuse != nil {
		e.cfg.OnRefuse(r)
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte("wireplay tcp echo: " + r.Error() + "\n"))
	c.Close()
}

func (e *TCPEcho) echo(c net.Conn, key string, release func()) {
	defer e.wg.Done()
	defer release()
	defer func() {
		c.Close()
		e.mu.Lock()
		delete(e.conns, key)
		e.mu.Unlock()
	}()
	buf := make([]byte, 16<<10)
	// No deadline is moved per message (a deadline is a runtime timer): the read deadline is
	// IdleTimeout after the last read that got data, set again only when it passes with data
	// read since; the write deadline is moved when less than half of WriteTimeout is left, so a
	// blocked write is given up after WriteTimeout/2 to WriteTimeout.
	last := time.Now()
	c.SetReadDeadline(last.Add(e.cfg.IdleTimeout))
	var writeBy time.Time
	for {
		n, err := c.Read(buf)
		if n > 0 {
			last = time.Now()
			if writeBy.Sub(last) < e.cfg.WriteTimeout/2 {
				writeBy = last.Add(e.cfg.WriteTimeout)
				c.SetWriteDeadline(writeBy)
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(last) < e.cfg.IdleTimeout {
				c.SetReadDeadline(last.Add(e.cfg.IdleTimeout)) // not idle that long: read on
				continue
			}
			return
		}
	}
}

// Open is how many connections the endpoint holds now.
func (e *TCPEcho) Open() int { return e.limit.Open() }

// PeerStats is the stack's view of the echo's side of the connection whose client is at remote
// (its retransmissions, RTT, window), if that connection is open.
func (e *TCPEcho) PeerStats(remote net.Addr) (protocol.TCPStats, bool) {
	if remote == nil {
		return protocol.TCPStats{}, false
	}
	e.mu.Lock()
	peer := e.conns[remote.String()]
	e.mu.Unlock()
	if peer == nil {
		return protocol.TCPStats{}, false
	}
	st, err := ReadTCPInfo(peer)
	return st, err == nil
}

// Close stops the listener and closes every connection, then waits for their goroutines.
func (e *TCPEcho) Close() error {
	e.mu.Lock()
	e.closed = true
	err := e.ln.Close()
	for _, c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
	return err
}
