package servermodels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a server.
type Options struct {
	// Workers is the worker pool's size (Pool only); 0 is 4.
	Workers int
}

// Stats are what a server holds and has done.
type Stats struct {
	Accepted int64 // connections taken from the accept queue
	Open     int64 // connections accepted and not yet closed
	Children int64 // child processes alive (Process)
	Spawned  int64 // child processes started (Process)
	// PartialWrites counts writes that the kernel took only part of (Epoll: the rest waited
	// for EPOLLOUT).
	PartialWrites int64
}

// Server is one running echo server.
type Server struct {
	model Model
	addr  string
	log   *eventLog
	// control runs f on the listening socket's descriptor.
	control func(f func(fd uintptr)) error
	close   func() error

	accepted, open, children, spawned, partial atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]string // open connections (the blocking models), to their peers
	pids  map[int]struct{}    // live children (Process)
}

// Start starts model's echo server on 127.0.0.1 (an ephemeral port). ctx bounds the start only;
// Close stops it.
func Start(ctx context.Context, model Model, opt Options) (*Server, error) {
	s := newServer(model)
	if model == Epoll {
		if err := s.startEpoll(); err != nil {
			return nil, fmt.Errorf("start %s server: %w", model, err)
		}
		return s, nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start %s server: %w", model, err)
	}
	s.addr = ln.Addr().String()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("start %s server: %w", model, err)
	}
	s.control = func(f func(fd uintptr)) error { return rc.Control(f) }
	if err := s.serveListener(ln, opt); err != nil {
		ln.Close()
		return nil, err
	}
	return s, nil
}

// Serve starts model's echo server on ln, any listener (the emulated link's too), for the
// models that need nothing but a net.Listener: Iterative, Goroutines and Pool. Close closes ln.
// AcceptQueue fails: only a kernel listener's queue can be read.
func Serve(model Model, ln net.Listener, opt Options) (*Server, error) {
	s := newServer(model)
	s.addr = ln.Addr().String()
	s.control = func(func(uintptr)) error { return errors.New("not a kernel socket") }
	if model == Epoll || model == Process {
		return nil, fmt.Errorf("serve %s on a %T: it needs a kernel socket", model, ln)
	}
	if err := s.serveListener(ln, opt); err != nil {
		return nil, err
	}
	return s, nil
}

func newServer(model Model) *Server {
	return &Server{model: model, log: &eventLog{start: time.Now()}, conns: map[net.Conn]string{}, pids: map[int]struct{}{}}
}

// serveListener starts the accept loop (and workers) of a model served from a net.Listener.
func (s *Server) serveListener(ln net.Listener, opt Options) error {
	model := s.model
	var wg sync.WaitGroup
	var acceptDone chan struct{} // closed when the accept loop ends (Process: no child starts after)
	switch model {
	case Iterative:
		wg.Go(func() { s.iterative(ln) })
	case Goroutines:
		wg.Go(func() { s.perConn(ln, &wg) })
	case Pool:
		n := opt.Workers
		if n <= 0 {
			n = 4
		}
		work := make(chan net.Conn)
		for range n {
			wg.Go(func() {
				for c := range work {
					s.serve(c)
				}
			})
		}
		wg.Go(func() {
			defer close(work)
			for {
				c, err := s.accept(ln)
				if err != nil {
					return
				}
				work <- c // waits for a free worker; meanwhile new connections wait in the kernel
			}
		})
	case Process:
		acceptDone = make(chan struct{})
		wg.Go(func() { defer close(acceptDone); s.forking(ln, &wg) })
	default:
		return fmt.Errorf("start server: no model %q", model)
	}
	s.close = func() error {
		err := ln.Close()
		if acceptDone != nil {
			<-acceptDone
		}
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.killChildren()
		wg.Wait()
		return err
	}
	return nil
}

// Model is the server's model.
func (s *Server) Model() Model { return s.model }

// Addr is the listening address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// Events is the server's log of accepts and closes so far, in order.
func (s *Server) Events() []Event { return s.log.events() }

// Stats are the server's counters now.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Open: s.open.Load(), Children: s.children.Load(),
		Spawned: s.spawned.Load(), PartialWrites: s.partial.Load()}
}

// ChildPIDs are the live children's process ids (Process).
func (s *Server) ChildPIDs() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, 0, len(s.pids))
	for p := range s.pids {
		out = append(out, p)
	}
	return out
}

// Close stops accepting, closes every connection (kills every child) and waits for the
// server's goroutines.
func (s *Server) Close() error { return s.close() }

// accept takes the next connection and logs it.
func (s *Server) accept(ln net.Listener) (net.Conn, error) {
	c, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	peer := c.RemoteAddr().String()
	s.accepted.Add(1)
	s.open.Add(1)
	s.log.add(Accepted, peer)
	s.mu.Lock()
	s.conns[c] = peer
	s.mu.Unlock()
	return c, nil
}

// done closes an accepted connection and logs it.
func (s *Server) done(c net.Conn) {
	s.mu.Lock()
	peer := s.conns[c] // the link's conns forget their addresses once closed
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
	s.open.Add(-1)
	s.log.add(Closed, peer)
}

// serve echoes c until the client closes it (or the server does), then closes it.
func (s *Server) serve(c net.Conn) {
	defer s.done(c)
	echo(c)
}

// echo copies what c reads back to c until EOF or an error.
func echo(c io.ReadWriter) {
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// iterative serves one connection at a time, in the accepting goroutine.
func (s *Server) iterative(ln net.Listener) {
	for {
		c, err := s.accept(ln)
		if err != nil {
			return
		}
		s.serve(c)
	}
}

// perConn starts a goroutine for each connection.
func (s *Server) perConn(ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := s.accept(ln)
		if err != nil {
			return
		}
		wg.Go(func() { s.serve(c) })
	}
}
