package servermodels

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// ServeNetstack starts the readiness loop (Model Epoll) on a listening netstack endpoint and its
// waiter queue (link.Host.ListenEndpoint), the emulated link's counterpart of epoll: one
// goroutine serves every connection. Each endpoint's waiter queue gets an entry whose callback
// only puts the endpoint on the loop's ready list; the loop takes the list and calls the
// endpoints' non-blocking Accept, Read and Write, which answer ErrWouldBlock (netstack's EAGAIN)
// when there is nothing to do. A write the endpoint takes only in part keeps the rest and waits
// for a writable event. Close closes ep.
func ServeNetstack(ep tcpip.Endpoint, wq *waiter.Queue) (*Server, error) {
	la, terr := ep.GetLocalAddress()
	if terr != nil {
		return nil, fmt.Errorf("serve netstack: local address: %s", terr)
	}
	s := newServer(Epoll)
	s.addr = fullAddrString(la)
	s.control = func(func(uintptr)) error { return errors.New("not a kernel socket") }
	l := &nsLoop{s: s, queued: map[int]bool{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), conns: map[int]*nsConn{}}
	lc := &nsConn{id: l.nextID(), ep: ep, wq: wq, listener: true}
	l.conns[lc.id] = lc
	l.watch(lc, waiter.ReadableEvents)
	l.notify(lc.id) // connections may already wait
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run()
	}()
	s.close = func() error {
		close(l.stop)
		<-done
		return nil
	}
	return s, nil
}

// nsConn is one endpoint of the loop: the listener or a connection.
type nsConn struct {
	id       int
	ep       tcpip.Endpoint
	wq       *waiter.Queue
	entry    waiter.Entry
	listener bool
	peer     string
	pending  []byte // what a partial write left, waiting for a writable event
}

// nsLoop is the readiness loop's state. The waiter callbacks (netstack's goroutines) touch only
// ready, queued and wake; everything else belongs to the loop's goroutine.
type nsLoop struct {
	s *Server

	mu     sync.Mutex
	ready  []int
	queued map[int]bool
	wake   chan struct{}

	stop  chan struct{}
	conns map[int]*nsConn
	last  int
}

func (l *nsLoop) nextID() int { l.last++; return l.last }

// notify puts id on the ready list (once) and wakes the loop.
func (l *nsLoop) notify(id int) {
	l.mu.Lock()
	if !l.queued[id] {
		l.queued[id] = true
		l.ready = append(l.ready, id)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// watch (re)registers c's entry for mask on its waiter queue.
func (l *nsLoop) watch(c *nsConn, mask waiter.EventMask) {
	if c.entry.Mask() != 0 {
		c.wq.EventUnregister(&c.entry)
	}
	id := c.id
	c.entry = waiter.NewFunctionEntry(mask|waiter.EventHUp|waiter.EventErr, func(waiter.EventMask) { l.notify(id) })
	c.wq.EventRegister(&c.entry)
}

func (l *nsLoop) run() {
	defer func() {
		for _, c := range l.conns {
			c.wq.EventUnregister(&c.entry)
			c.ep.Close()
			if !c.listener {
				l.s.open.Add(-1)
				l.s.log.add(Closed, c.peer)
			}
		}
	}()
	buf := make([]byte, bufSize) // one buffer for every connection
	for {
		select {
		case <-l.stop:
			return
		case <-l.wake:
		}
		for {
			l.mu.Lock()
			batch := l.ready
			l.ready = nil
			clear(l.queued)
			l.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, id := range batch {
				c := l.conns[id]
				switch {
				case c == nil:
				case c.listener:
					l.acceptAll(c)
				case !l.ready1(c, buf):
					l.closeConn(c)
				}
			}
		}
	}
}

// acceptAll accepts every connection waiting (until ErrWouldBlock) and watches each.
func (l *nsLoop) acceptAll(lc *nsConn) {
	for {
		var fa tcpip.FullAddress
		ep, wq, terr := lc.ep.Accept(&fa)
		if terr != nil { // ErrWouldBlock: the queue is empty
			return
		}
		c := &nsConn{id: l.nextID(), ep: ep, wq: wq, peer: fullAddrString(fa)}
		l.conns[c.id] = c
		l.s.accepted.Add(1)
		l.s.open.Add(1)
		l.s.log.add(Accepted, c.peer)
		l.watch(c, waiter.ReadableEvents)
		l.notify(c.id) // data may have come with the handshake
	}
}

// sliceWriter appends to a slice of a fixed buffer.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// ready1 does what c is ready for; false means the connection is finished.
func (l *nsLoop) ready1(c *nsConn, buf []byte) bool {
	if len(c.pending) > 0 {
		n, terr := c.ep.Write(bytes.NewReader(c.pending), tcpip.WriteOptions{})
		if terr != nil {
			_, block := terr.(*tcpip.ErrWouldBlock)
			return block
		}
		c.pending = c.pending[n:]
		if len(c.pending) > 0 {
			return true
		}
		c.pending = nil
		l.watch(c, waiter.ReadableEvents) // drained: read again
	}
	w := &sliceWriter{b: buf[:0]}
	_, terr := c.ep.Read(&tcpip.LimitedWriter{W: w, N: int64(len(buf))}, tcpip.ReadOptions{})
	if terr != nil {
		_, block := terr.(*tcpip.ErrWouldBlock)
		return block // otherwise closed for receive (the client's FIN), reset, …
	}
	if len(w.b) == 0 {
		return true
	}
	n, terr := c.ep.Write(bytes.NewReader(w.b), tcpip.WriteOptions{})
	if terr != nil {
		if _, block := terr.(*tcpip.ErrWouldBlock); !block {
			return false
		}
		n = 0
	}
	if int(n) < len(w.b) { // the send buffer is full: keep the rest, wait until writable
		l.s.partial.Add(1)
		c.pending = append([]byte(nil), w.b[n:]...)
		l.watch(c, waiter.WritableEvents)
		return true
	}
	if c.ep.Readiness(waiter.ReadableEvents) != 0 { // more than one buffer's worth waits
		l.notify(c.id)
	}
	return true
}

func (l *nsLoop) closeConn(c *nsConn) {
	c.wq.EventUnregister(&c.entry)
	c.ep.Close()
	delete(l.conns, c.id)
	l.s.open.Add(-1)
	l.s.log.add(Closed, c.peer)
}

func fullAddrString(fa tcpip.FullAddress) string {
	if fa.Addr.Len() == 4 {
		return netip.AddrPortFrom(netip.AddrFrom4(fa.Addr.As4()), fa.Port).String()
	}
	return fmt.Sprintf("%v:%d", fa.Addr, fa.Port)
}
