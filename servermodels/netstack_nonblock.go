package servermodels

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/wireplay/wireplay/link"
)

// NetstackNonblocking is what NonblockNetstack saw on a netstack endpoint of the link: its
// non-blocking Read and Write answer as read(2) and write(2) do on a non-blocking socket.
type NetstackNonblocking struct {
	ReadErr  string        // a Read with nothing to read: netstack's ErrWouldBlock (EAGAIN)
	ReadTook time.Duration // how long that Read took
	// A Write of WriteAsked bytes into a connection whose peer does not read took WriteTook (a
	// partial write), and the next one answered NextWriteErr (ErrWouldBlock).
	WriteAsked, WriteTook int
	NextWriteErr          string
}

// NonblockNetstack accepts a connection of l's client host on a bare endpoint of its server host
// and calls the endpoint's Read with nothing to read and Write into a full buffer.
func NonblockNetstack(ctx context.Context, l *link.Link) (*NetstackNonblocking, error) {
	lep, lwq, err := l.Server().ListenEndpoint(ctx, "tcp", net.JoinHostPort(l.ServerAddr().String(), "0"), 4)
	if err != nil {
		return nil, fmt.Errorf("netstack nonblock: %w", err)
	}
	defer lep.Close()
	la, terr := lep.GetLocalAddress()
	if terr != nil {
		return nil, fmt.Errorf("netstack nonblock: %s", terr)
	}
	entry, ready := waiter.NewChannelEntry(waiter.ReadableEvents)
	lwq.EventRegister(&entry)
	defer lwq.EventUnregister(&entry)
	c, err := l.Client().Dial(ctx, "tcp", fullAddrString(la))
	if err != nil {
		return nil, fmt.Errorf("netstack nonblock: dial: %w", err)
	}
	defer c.Close()
	var ep tcpip.Endpoint
	var wq *waiter.Queue
	for ep == nil {
		e, q, terr := lep.Accept(nil)
		switch terr.(type) {
		case nil:
			ep, wq = e, q
		case *tcpip.ErrWouldBlock:
			select {
			case <-ready:
			case <-ctx.Done():
				return nil, fmt.Errorf("netstack nonblock: accept: %w", ctx.Err())
			}
		default:
			return nil, fmt.Errorf("netstack nonblock: accept: %s", terr)
		}
	}
	defer ep.Close()
	out := &NetstackNonblocking{}
	var sink bytes.Buffer
	t0 := time.Now()
	_, terr = ep.Read(&sink, tcpip.ReadOptions{})
	out.ReadTook = time.Since(t0)
	if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
		return nil, fmt.Errorf("netstack nonblock: read with nothing to read returned %v, want ErrWouldBlock", terr)
	}
	out.ReadErr = terr.String()
	// The client reads nothing: its receive buffer and the endpoint's send buffer fill. The send
	// buffer is made smaller than a write, so the first write already goes in part (with a
	// bigger one, writes of a whole multiple of it could fill it exactly and answer ErrWouldBlock
	// with no partial write before).
	ep.SocketOptions().SetSendBufferSize(64<<10, true)
	chunk := make([]byte, 1<<20)
	out.WriteAsked = len(chunk)
	wentry, writable := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&wentry)
	defer wq.EventUnregister(&wentry)
	for range 64 {
		n, terr := ep.Write(bytes.NewReader(chunk), tcpip.WriteOptions{})
		if _, ok := terr.(*tcpip.ErrWouldBlock); ok {
			// The buffer filled exactly at the last write's end: wait until the stack moves some
			// of it on towards the peer (whose window is still open), then write again.
			select {
			case <-writable:
				continue
			case <-time.After(5 * time.Second):
				return nil, fmt.Errorf("netstack nonblock: the send buffer filled at a write's edge and no room came")
			case <-ctx.Done():
				return nil, fmt.Errorf("netstack nonblock: %w", ctx.Err())
			}
		}
		if terr != nil {
			return nil, fmt.Errorf("netstack nonblock: write before any partial one: %s", terr)
		}
		if int(n) < len(chunk) {
			out.WriteTook = int(n)
			break
		}
	}
	if out.WriteTook == 0 {
		return nil, fmt.Errorf("netstack nonblock: 64 writes of 1 MiB all went in whole")
	}
	for range 1000 {
		_, terr := ep.Write(bytes.NewReader(chunk), tcpip.WriteOptions{})
		if _, ok := terr.(*tcpip.ErrWouldBlock); ok {
			out.NextWriteErr = terr.String()
			break
		}
		if terr != nil {
			return nil, fmt.Errorf("netstack nonblock: write: %s", terr)
		}
	}
	if out.NextWriteErr == "" {
		return nil, fmt.Errorf("netstack nonblock: no write into the full buffer answered ErrWouldBlock")
	}
	return out, nil
}
