package zeromq

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
)

// Pipe is the name of an in-process transport ("pipe://NAME") registered with zmq4: ZeroMQ's
// inproc, two sockets of one process joined by an in-memory buffered pipe, no kernel in between. zmq4's own
// inproc:// is not used because it leaks: a read blocked on its pipe never ends when the pipe is
// closed, and its listener makes a pipe (and a goroutine greeting it) before anyone dials.
const Pipe = "pipe"

func init() {
	if err := zmq4.RegisterTransport(Pipe, pipeTransport{}); err != nil {
		panic(err)
	}
}

var pipes = struct {
	sync.Mutex
	m map[string]*pipeListener
}{m: map[string]*pipeListener{}}

type pipeTransport struct{}

func (pipeTransport) Dial(ctx context.Context, _ transport.Dialer, addr string) (net.Conn, error) {
	pipes.Lock()
	l := pipes.m[addr]
	pipes.Unlock()
	if l == nil {
		return nil, fmt.Errorf("pipe://%s: connection refused", addr)
	}
	a, b := newPipe(pipeAddr(addr))
	select {
	case l.conns <- b:
		return a, nil
	case <-l.done:
		return nil, fmt.Errorf("pipe://%s: connection refused", addr)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (pipeTransport) Listen(_ context.Context, addr string) (net.Listener, error) {
	pipes.Lock()
	defer pipes.Unlock()
	if pipes.m[addr] != nil {
		return nil, fmt.Errorf("pipe://%s: address in use", addr)
	}
	l := &pipeListener{addr: pipeAddr(addr), conns: make(chan net.Conn), done: make(chan struct{})}
	pipes.m[addr] = l
	return l, nil
}

func (pipeTransport) Addr(ep string) (string, error) { return ep, nil }

type pipeListener struct {
	addr  pipeAddr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		pipes.Lock()
		if pipes.m[string(l.addr)] == l {
			delete(pipes.m, string(l.addr))
		}
		pipes.Unlock()
	})
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

type pipeAddr string

func (a pipeAddr) Network() string { return Pipe }
func (a pipeAddr) String() string  { return string(a) }

// halfPipe is one direction of a pipe: a buffer (both ZMTP peers write their greeting before
// reading, which an unbuffered net.Pipe would deadlock).
type halfPipe struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    bytes.Buffer
	closed bool
}

func newHalfPipe() *halfPipe {
	h := &halfPipe{}
	h.cond.L = &h.mu
	return h
}

func (h *halfPipe) read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.buf.Len() == 0 && !h.closed {
		h.cond.Wait()
	}
	if h.buf.Len() == 0 {
		return 0, io.EOF
	}
	return h.buf.Read(p)
}

func (h *halfPipe) write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, io.ErrClosedPipe
	}
	h.buf.Write(p)
	h.cond.Broadcast()
	return len(p), nil
}

func (h *halfPipe) close() {
	h.mu.Lock()
	h.closed = true
	h.cond.Broadcast()
	h.mu.Unlock()
}

// pipeConn is one end of a pipe. Close ends both directions: the peer reads what was written and
// then EOF, and a Read blocked on this end returns.
type pipeConn struct {
	addr pipeAddr
	r, w *halfPipe
}

func newPipe(addr pipeAddr) (net.Conn, net.Conn) {
	ab, ba := newHalfPipe(), newHalfPipe()
	return &pipeConn{addr, ba, ab}, &pipeConn{addr, ab, ba}
}

func (c *pipeConn) Read(p []byte) (int, error)  { return c.r.read(p) }
func (c *pipeConn) Write(p []byte) (int, error) { return c.w.write(p) }
func (c *pipeConn) Close() error {
	c.r.close()
	c.w.close()
	return nil
}
func (c *pipeConn) LocalAddr() net.Addr              { return c.addr }
func (c *pipeConn) RemoteAddr() net.Addr             { return c.addr }
func (c *pipeConn) SetDeadline(time.Time) error      { return nil } // zmq4 sets none
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }
