package rawhttp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Dir says which way bytes went on a connection, for Config.Tap.
type Dir int

const (
	Read    Dir = iota // from the client
	Written            // to the client
)

func (d Dir) String() string {
	if d == Read {
		return "read"
	}
	return "written"
}

// Config sets a Server up; the zero value of each field is a usable default.
type Config struct {
	Limits
	// HeaderTimeout is how long a request may take, from its first byte to the end of its body;
	// a client slower than that (one byte at a time, or stalled half way) is answered 408 and
	// its connection closed. Default 5 s.
	HeaderTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for the first byte of its next
	// request before the server closes it (silently: no request is in progress). Default 30 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one response; default 10 s.
	WriteTimeout time.Duration
	// MaxConns caps the connections served at once; one more is answered 503 and closed.
	// Default 256.
	MaxConns int
	// Admit, when set, is asked about each connection MaxConns admits: an error refuses it (503,
	// with the error as the reason), and release, when the error is nil, is called when the
	// connection ends. wireplay serve caps each client's connections with it.
	Admit func(net.Conn) (release func(), err error)
	// MaxBytes caps /bytes?n= (400 beyond); default 1 MiB.
	MaxBytes int
	// Handler answers a request; default the server's own routes (see Routes).
	Handler func(*Request) *Response
	// Tap, when set, is given every byte read from and written to each connection, numbered
	// from 1 in accept order, as the reads and writes happen (from the connection's goroutine:
	// calls for different connections may run at once). b is valid only during the call.
	Tap func(conn uint64, dir Dir, b []byte)
	// OnRequest, when set, is told of each request answered (or refused), in order per
	// connection.
	OnRequest func(Exchange)
	// OnClose, when set, is told when a connection closes, with how many requests it served
	// and why it closed.
	OnClose func(conn uint64, requests int, why string)
}

// Exchange is one request and its response, for Config.OnRequest.
type Exchange struct {
	Conn uint64 // the connection, numbered from 1 in accept order
	Seq  int    // the request's number on its connection, from 1
	// Method, Target and Proto are the request's ("" when its request line was refused).
	Method, Target, Proto string
	Status                int
	Bytes                 int  // the response's body length (its Content-Length)
	KeepAlive             bool // the connection stays open after the response
	Err                   string
}

// Stats are a server's counters since it started.
type Stats struct {
	Accepted  uint64 // connections accepted (refused ones included)
	Refused   uint64 // connections answered 503 at once: MaxConns were open, or Admit refused
	Requests  uint64 // requests answered, refusals (4xx, 5xx) included
	Reused    uint64 // requests that were not the first on their connection
	Rejected  uint64 // requests refused for their form (400, 413, 414, 417, 431, 501, 505)
	TimedOut  uint64 // requests answered 408: their head or body came too slowly
	IdleClose uint64 // kept-alive connections closed after IdleTimeout without a request
}

// Server serves HTTP/1.x on the listeners given to Serve.
type Server struct {
	cfg Config

	nextID atomic.Uint64
	stats  struct {
		accepted, refused, requests, reused, rejected, timedOut, idleClose atomic.Uint64
	}

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	cfg.Limits.setDefaults()
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.HeaderTimeout, 5*time.Second)
	def(&cfg.IdleTimeout, 30*time.Second)
	def(&cfg.WriteTimeout, 10*time.Second)
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	s := &Server{cfg: cfg, lns: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
	if s.cfg.Handler == nil {
		s.cfg.Handler = s.Routes
	}
	return s
}

// ErrClosed is what Serve returns once Close was called.
var ErrClosed = errors.New("rawhttp: server closed")

// Serve accepts connections on ln and serves each in a goroutine of its own, until ln fails or
// Close is called (then it returns ErrClosed). It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			// Out of file descriptors (or a timeout): wait and go on, as the client that could not
			// be accepted waits in the backlog; anything else ends Serve.
			var ne net.Error
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		id := s.nextID.Add(1)
		s.stats.accepted.Add(1)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrClosed
		}
		full := len(s.conns) >= s.cfg.MaxConns
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			if full {
				s.stats.refused.Add(1)
				s.refuse(id, c, fmt.Sprintf("this server serves %d connections at once", s.cfg.MaxConns))
				return
			}
			if s.cfg.Admit != nil {
				release, err := s.cfg.Admit(c)
				if err != nil {
					s.stats.refused.Add(1)
					s.refuse(id, c, err.Error())
					return
				}
				defer release()
			}
			s.serveConn(id, c)
		}()
	}
}

// Close stops every Serve, closes every connection and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted:  s.stats.accepted.Load(),
		Refused:   s.stats.refused.Load(),
		Requests:  s.stats.requests.Load(),
		Reused:    s.stats.reused.Load(),
		Rejected:  s.stats.rejected.Load(),
		TimedOut:  s.stats.timedOut.Load(),
		IdleClose: s.stats.idleClose.Load(),
	}
}

// tapConn hands every byte read and written to a Tap.
type tapConn struct {
	net.Conn
	id  uint64
	tap func(uint64, Dir, []byte)
}

func (t *tapConn) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	if n > 0 {
		t.tap(t.id, Read, b[:n])
	}
	return n, err
}

func (t *tapConn) Write(b []byte) (int, error) {
	n, err := t.Conn.Write(b)
	if n > 0 {
		t.tap(t.id, Written, b[:n])
	}
	return n, err
}

// refuse answers a connection it will not serve with 503 and closes it.
func (s *Server) refuse(id uint64, c net.Conn, why string) {
	nc := s.wrap(id, c)
	bw := bufio.NewWriter(nc)
	c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	resp := errorResponse(&Error{Status: 503, Reason: why})
	s.writeResponse(bw, resp, nil, false)
	bw.Flush()
	s.linger(nc)
	s.report(Exchange{Conn: id, Seq: 1, Status: 503, Err: why})
	s.closed1(id, 0, "refused: "+why)
}

func (s *Server) wrap(id uint64, c net.Conn) net.Conn {
	if s.cfg.Tap == nil {
		return c
	}
	return &tapConn{Conn: c, id: id, tap: s.cfg.Tap}
}

func (s *Server) report(x Exchange) {
	if s.cfg.OnRequest != nil {
		s.cfg.OnRequest(x)
	}
}

func (s *Server) closed1(id uint64, n int, why string) {
	if s.cfg.OnClose != nil {
		s.cfg.OnClose(id, n, why)
	}
}

// serveConn reads requests off c and answers them one after another, in order (pipelined
// requests wait in br's buffer and the kernel's), until the connection is to close.
func (s *Server) serveConn(id uint64, c net.Conn) {
	nc := s.wrap(id, c)
	br := bufio.NewReaderSize(nc, 4096)
	bw := bufio.NewWriterSize(nc, 4096)
	served := 0
	why := "closed"
	defer func() {
		s.closed1(id, served, why)
	}()
	defer c.Close()
	for {
		// Wait for the next request's first byte (it may already be buffered: pipelining).
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		if _, err := br.Peek(1); err != nil {
			switch {
			case isTimeout(err):
				s.stats.idleClose.Add(1)
				why = fmt.Sprintf("idle for %v", s.cfg.IdleTimeout)
			case errors.Is(err, io.EOF):
				why = "client closed"
			default:
				why = err.Error()
			}
			return
		}
		// From its first byte on, the whole request must arrive within HeaderTimeout.
		c.SetReadDeadline(time.Now().Add(s.cfg.HeaderTimeout))
		req, err := readRequest(br, s.cfg.Limits, func() error {
			// The client waits for this before it sends its body (curl does for over 1 KiB).
			c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			return bw.Flush()
		})
		seq := served + 1
		var perr *Error
		switch {
		case err == nil:
		case errors.As(err, &perr):
			s.stats.rejected.Add(1)
		case isTimeout(err):
			s.stats.timedOut.Add(1)
			perr = &Error{Status: 408, Reason: fmt.Sprintf("the request did not arrive within %v of its first byte", s.cfg.HeaderTimeout)}
		default:
			why = fmt.Sprintf("reading request %d: %v", seq, err)
			return
		}
		if served > 0 {
			s.stats.reused.Add(1)
		}
		s.stats.requests.Add(1)
		served++
		c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if perr != nil {
			resp := errorResponse(perr)
			x := Exchange{Conn: id, Seq: seq, Status: perr.Status, Bytes: len(resp.Body), Err: perr.Reason}
			if req != nil {
				x.Method, x.Target, x.Proto = req.Method, req.Target, req.Proto()
			}
			s.writeResponse(bw, resp, nil, false)
			werr := bw.Flush()
			s.report(x)
			why = fmt.Sprintf("refused request %d: %d %s", seq, perr.Status, StatusText(perr.Status))
			if werr == nil {
				s.linger(nc)
			}
			return
		}
		resp := s.cfg.Handler(req)
		keep := req.KeepAlive() && !resp.Close
		s.writeResponse(bw, resp, req, keep)
		werr := bw.Flush()
		s.report(Exchange{Conn: id, Seq: seq, Method: req.Method, Target: req.Target, Proto: req.Proto(),
			Status: resp.Status, Bytes: len(resp.Body), KeepAlive: keep})
		if werr != nil {
			why = fmt.Sprintf("writing response %d: %v", seq, werr)
			return
		}
		if !keep {
			why = closeReason(req)
			s.linger(nc)
			return
		}
	}
}

// closeReason says why a connection closes after req's response.
func closeReason(req *Request) string {
	switch {
	case req.hasToken("Connection", "close"):
		return "client asked: Connection: close"
	case req.Major == 1 && req.Minor == 0:
		return "HTTP/1.0 without keep-alive"
	}
	return "the response said Connection: close"
}

// lingerTime is how long linger waits for the client to close after the server's last response:
// long enough for a lost response to be sent again on a lossy link.
const lingerTime = 2 * time.Second

// linger closes the sending half and reads what the client still sends (until it closes, for at
// most lingerTime and 256 KiB) before the connection is closed: closing with unread bytes (a
// pipelined request the server will not answer, the rest of a slow client's request) makes the
// stack send a reset, which can destroy the response before the client has read it.
func (s *Server) linger(c net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := unwrap(c).(closeWriter)
	if !ok {
		return
	}
	if cw.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, c, 256<<10)
}

func unwrap(c net.Conn) net.Conn {
	if t, ok := c.(*tapConn); ok {
		return t.Conn
	}
	return c
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Response is what a Handler answers.
type Response struct {
	Status int
	Header []Field // besides Content-Length, Date, Server and Connection, which the server writes
	Body   []byte
	// Close makes the server close the connection after this response.
	Close bool
}

func errorResponse(e *Error) *Response {
	return &Response{Status: e.Status, Close: true,
		Header: []Field{{"Content-Type", "text/plain; charset=utf-8"}},
		Body:   []byte(e.Error() + "\n")}
}

// writeResponse writes resp's head and (except to HEAD) its body to bw. The version is always
// HTTP/1.1, the highest this server speaks (RFC 9110 6.2); Connection tells the client what
// becomes of the connection.
func (s *Server) writeResponse(bw *bufio.Writer, resp *Response, req *Request, keep bool) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", resp.Status, StatusText(resp.Status))
	fmt.Fprintf(bw, "Date: %s\r\n", time.Now().UTC().Format(timeFormat))
	bw.WriteString("Server: wireplay-rawhttp\r\n")
	for _, f := range resp.Header {
		fmt.Fprintf(bw, "%s: %s\r\n", f.Name, f.Value)
	}
	bw.WriteString("Content-Length: " + strconv.Itoa(len(resp.Body)) + "\r\n")
	switch {
	case !keep:
		bw.WriteString("Connection: close\r\n")
	case req != nil && req.Minor == 0:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
	if req == nil || req.Method != "HEAD" {
		bw.Write(resp.Body)
	}
}

// timeFormat is HTTP's date format (IMF-fixdate).
const timeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"
