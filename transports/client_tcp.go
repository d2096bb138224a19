package transports

import (
	"context"
	"net"
	"time"

	"github.com/wireplay/wireplay/ipc"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
)

// tcpIO is the measuring client's TCP conn.
type tcpIO struct {
	c        net.Conn
	deadline writeDeadline
}

func dialTCP(ctx context.Context, n netx.Network, addr string) (*tcpIO, error) {
	c, err := dialTCPConn(ctx, n, addr, TCPOptions{})
	if err != nil {
		return nil, err
	}
	return &tcpIO{c: c}, nil
}

// dialUnix connects to the Unix stream socket at path: a byte stream like TCP's, so the same
// client reads it (it has no TCP_INFO: stats are nil).
func dialUnix(ctx context.Context, path string) (*tcpIO, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	return &tcpIO{c: c}, nil
}

// pipeIO is the measuring client's end of an ipc.PipeEcho: two kernel pipes and the echo
// goroutine at their far ends, made for this client alone (a pipe has no address to dial).
type pipeIO struct {
	p        *ipc.PipeEcho
	deadline writeDeadline
}

func startPipe() (*pipeIO, error) {
	p, err := ipc.StartPipeEcho()
	if err != nil {
		return nil, err
	}
	return &pipeIO{p: p}, nil
}

func (p *pipeIO) write(b []byte) error {
	p.deadline.refresh(p.p.SetWriteDeadline)
	_, err := p.p.Write(b)
	return err
}
func (p *pipeIO) read(b []byte) (int, error) { return p.p.Read(b) }
func (p *pipeIO) close() error               { return p.p.Close() }
func (p *pipeIO) datagrams() bool            { return false }
func (p *pipeIO) localAddr() net.Addr        { return pipeAddr{} }
func (p *pipeIO) stats() *protocol.Stats     { return nil }

// pipeAddr is a pipe's address: it has none.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func (t *tcpIO) write(b []byte) error {
	t.deadline.refresh(t.c.SetWriteDeadline)
	_, err := t.c.Write(b)
	return err
}
func (t *tcpIO) read(b []byte) (int, error) { return t.c.Read(b) }
func (t *tcpIO) close() error               { return t.c.Close() }
func (t *tcpIO) datagrams() bool            { return false }
func (t *tcpIO) localAddr() net.Addr        { return t.c.LocalAddr() }
func (t *tcpIO) stats() *protocol.Stats {
	s, err := ReadTCPInfo(t.c)
	if err != nil {
		return nil
	}
	return &protocol.Stats{TCP: &s}
}

// writeDeadline keeps a stream's write deadline between 5 and 10 s ahead, moving it at most every
// 5 s instead of on every write (a deadline is a runtime timer: resetting it per message costs).
type writeDeadline struct{ at time.Time }

func (d *writeDeadline) refresh(set func(time.Time) error) {
	now := time.Now()
	if d.at.Sub(now) < 5*time.Second {
		d.at = now.Add(10 * time.Second)
		set(d.at)
	}
}
