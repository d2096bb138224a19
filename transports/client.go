package transports

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
)

// Target says where a client connects: one wireplay server's endpoints.
type Target struct {
	TCP, UDP, QUIC string // host:port of each endpoint
	WS             string // ws:// URL of the WebSocket echo
	Unix           string // path of a Unix stream socket echo (kernel only)
	// TLS is the QUIC client's TLS configuration; nil trusts any certificate (wireplay servers make
	// their own self-signed ones), see ClientTLSConfig.
	TLS *tls.Config
	// QUICConfig is the client's quic-go configuration; nil uses QUICEchoConfig{}.QUICConfig().
	QUICConfig *quic.Config
}

// ClientOptions are what every Client shares.
type ClientOptions struct {
	// Emit receives the client's events; it is called from the client's goroutines, one at a time
	// per client, and must not block for long.
	Emit func(protocol.Event)
	// Epoch is the time events' AtMicros count from; default the client's creation.
	Epoch time.Time
	// Flush, when set, is called after each group of related events (a read's "read" and
	// "complete", a loss, a handshake) but not after a "write": a relay can hold write events back
	// until something follows them, keeping its own work off the measured round trip.
	Flush func()
	// LossTimeout is how long a datagram's echo may take before it is reported lost; default 1 s.
	LossTimeout time.Duration
	// PreviewBytes is how many bytes of each read an event shows; default 64.
	PreviewBytes int
}

// Client sends messages over one transport to an echo endpoint and reports, through
// ClientOptions.Emit, every write, every read, each complete echo with its round trip time, and
// each datagram lost.
type Client struct {
	t    protocol.Transport
	opts ClientOptions
	io   clientIO

	emitMu sync.Mutex
	mu     sync.Mutex
	next   uint64 // last message number used
	// stream transports: messages in flight, in order, and the bytes of the first one read so far
	inflight []*inflight
	partial  []byte
	// datagram transports
	sent     map[uint64]*inflight
	seq      protocol.SeqStats
	highest  uint64
	lostSeqs map[uint64]bool
	// lossQ holds datagrams in the order sent, so in the order their loss deadlines fall; one
	// timer, armed for the oldest, declares the overdue ones lost (no timer per datagram).
	lossQ     []*inflight
	lossTimer *time.Timer
	lossArmed bool
	wsStats   protocol.WSStats

	done    chan struct{}
	closing atomic.Bool
	err     error
}

type inflight struct {
	msg, req uint64
	size     int
	at       time.Time
	lostAt   time.Time // datagrams: when it counts as lost
}

// clientIO is one transport's connection as the Client needs it.
type clientIO interface {
	write(b []byte) error
	read(b []byte) (int, error)
	close() error
	stats() *protocol.Stats
	datagrams() bool
	localAddr() net.Addr
}

// dial sets up c.io and says what its handshake was and how long it took: TCP's connect, QUIC's
// handshake alone (its socket is opened first, its stream after), WebSocket's connect and upgrade;
// UDP has none.
func (c *Client) dial(ctx context.Context, n netx.Network, t protocol.Transport, target Target) (string, time.Duration, error) {
	start := time.Now()
	var err error
	switch t {
	case protocol.TCP:
		c.io, err = dialTCP(ctx, n, target.TCP)
		return protocol.HandshakeTCP, time.Since(start), err
	case protocol.UDP:
		c.io, err = dialUDP(ctx, n, target.UDP)
		return protocol.HandshakeNone, 0, err
	case protocol.QUICStream, protocol.QUICDgram:
		var q *quicIO
		q, err = dialQUIC(ctx, n, target, t == protocol.QUICDgram)
		if err != nil {
			return "", 0, err
		}
		c.io = q
		return protocol.HandshakeQUIC, q.qc.Handshake, nil
	case protocol.WS:
		c.io, err = dialWSIO(ctx, n, target.WS, &c.wsStats, &c.mu)
		return protocol.HandshakeWS, time.Since(start), err
	case protocol.Unix, protocol.Pipe:
		if n != netx.Kernel {
			return "", 0, fmt.Errorf("%s is the kernel's, beside the network: it does not cross the emulated link", t.Label())
		}
		if t == protocol.Pipe {
			c.io, err = startPipe()
			return protocol.HandshakePipe, time.Since(start), err
		}
		c.io, err = dialUnix(ctx, target.Unix)
		return protocol.HandshakeUnix, time.Since(start), err
	}
	return "", 0, fmt.Errorf("unknown transport %q", t)
}

// Dial connects a client for transport t to target over network n, emitting "dial" and, once
// connected, "connected" with the handshake duration.
func Dial(ctx context.Context, n netx.Network, t protocol.Transport, target Target, opts ClientOptions) (*Client, error) {
	if opts.Emit == nil {
		opts.Emit = func(protocol.Event) {}
	}
	if opts.Epoch.IsZero() {
		opts.Epoch = time.Now()
	}
	if opts.LossTimeout == 0 {
		opts.LossTimeout = time.Second
	}
	if opts.PreviewBytes == 0 {
		opts.PreviewBytes = 64
	}
	c := &Client{t: t, opts: opts, done: make(chan struct{}), sent: map[uint64]*inflight{}, lostSeqs: map[uint64]bool{}}
	c.emit(protocol.Event{Type: protocol.EventDial})
	hs, dur, err := c.dial(ctx, n, t, target)
	if err != nil {
		if !strings.HasPrefix(err.Error(), "dial ") {
			// net's own dial errors already say so: "dial tcp 127.0.0.1:7001: …"
			err = fmt.Errorf("dial %s: %w", t, err)
		}
		c.emit(protocol.Event{Type: protocol.EventError, Error: err.Error()})
		c.flush()
		return nil, err
	}
	c.emit(protocol.Event{Type: protocol.EventConnected, DurMicros: dur.Microseconds(), Handshake: hs, Stats: c.io.stats()})
	c.flush()
	go c.readLoop()
	return c, nil
}

// Transport is the transport the client speaks.
func (c *Client) Transport() protocol.Transport { return c.t }

// LocalAddr is the client's own address on its network: the socket its packets leave from (for
// WebSocket, the TCP conn its HTTP client dialled; for QUIC, the UDP socket quic-go runs on).
func (c *Client) LocalAddr() net.Addr { return c.io.localAddr() }

// Done is closed when the connection has ended (closed, or failed: see Err).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, once Done is closed; nil after Close.
func (c *Client) Err() error {
	<-c.done
	return c.err
}

func (c *Client) now() int64 { return time.Since(c.opts.Epoch).Microseconds() }

func (c *Client) flush() {
	if c.opts.Flush != nil {
		c.opts.Flush()
	}
}

func (c *Client) emit(e protocol.Event) {
	e.V = protocol.Version
	e.Transport = c.t
	e.AtMicros = c.now()
	c.emitMu.Lock()
	c.opts.Emit(e)
	c.emitMu.Unlock()
}

// DatagramHeader is the size of the sequence number wireplay puts before each datagram's message.
const DatagramHeader = 8

// Send writes one message, tagged with req (copied into its events), and returns its number.
func (c *Client) Send(req uint64, msg []byte) (uint64, error) {
	select {
	case <-c.done:
		return 0, fmt.Errorf("send %s: connection closed", c.t)
	default:
	}
	c.mu.Lock()
	c.next++
	m := &inflight{msg: c.next, req: req, size: len(msg), at: time.Now()}
	payload := msg
	if c.io.datagrams() {
		payload = make([]byte, DatagramHeader+len(msg))
		binary.BigEndian.PutUint64(payload, m.msg)
		copy(payload[DatagramHeader:], msg)
		c.sent[m.msg] = m
		c.seq.Sent++
		m.lostAt = m.at.Add(c.opts.LossTimeout)
		c.lossQ = append(c.lossQ, m)
		c.armLoss(m.lostAt)
	} else {
		c.inflight = append(c.inflight, m)
	}
	c.mu.Unlock()
	c.emit(protocol.Event{Type: protocol.EventWrite, Req: req, Msg: m.msg, Bytes: len(payload), Text: c.preview(msg)})
	c.mu.Lock()
	m.at = time.Now() // the round trip starts at the write, not before the event's bookkeeping
	c.mu.Unlock()
	if err := c.io.write(payload); err != nil {
		c.mu.Lock()
		if c.io.datagrams() {
			delete(c.sent, m.msg) // the loss sweep skips it
			c.seq.Sent--
		}
		c.mu.Unlock()
		err = fmt.Errorf("send %s: %w", c.t, err)
		c.emit(protocol.Event{Type: protocol.EventError, Req: req, Msg: m.msg, Error: err.Error()})
		c.flush()
		return m.msg, err
	}
	return m.msg, nil
}

// armLoss makes sure the loss timer fires by at; c.mu held.
func (c *Client) armLoss(at time.Time) {
	if c.lossArmed {
		return
	}
	c.lossArmed = true
	d := time.Until(at)
	if c.lossTimer == nil {
		c.lossTimer = time.AfterFunc(d, c.sweepLoss)
		return
	}
	c.lossTimer.Reset(d)
}

// sweepLoss declares lost every datagram whose deadline has passed without its echo, oldest
// first, and re-arms for the next.
func (c *Client) sweepLoss() {
	now := time.Now()
	var lost []*inflight
	c.mu.Lock()
	c.lossArmed = false
	for len(c.lossQ) > 0 {
		m := c.lossQ[0]
		if _, ok := c.sent[m.msg]; !ok { // echoed (or failed to send) meanwhile
			c.lossQ = c.lossQ[1:]
			continue
		}
		if m.lostAt.After(now) {
			c.armLoss(m.lostAt)
			break
		}
		c.lossQ = c.lossQ[1:]
		delete(c.sent, m.msg)
		c.lostSeqs[m.msg] = true
		c.seq.Lost++
		lost = append(lost, m)
	}
	if len(c.lossQ) == 0 {
		c.lossQ = nil
	}
	st := c.seq
	closing := c.closing.Load()
	c.mu.Unlock()
	if closing {
		return
	}
	for _, m := range lost {
		c.emit(protocol.Event{Type: protocol.EventLost, Req: m.req, Msg: m.msg, Stats: &protocol.Stats{Seq: &st}})
	}
	if len(lost) > 0 {
		c.flush()
	}
}

// Stats is the stack's (or, for datagrams, wireplay's sequence-number) view of the connection.
func (c *Client) Stats() *protocol.Stats {
	if c.io.datagrams() {
		c.mu.Lock()
		st := c.seq
		c.mu.Unlock()
		s := c.io.stats()
		if s == nil {
			s = &protocol.Stats{}
		}
		s.Seq = &st
		return s
	}
	return c.io.stats()
}

// Close ends the connection and waits for the client's goroutine.
func (c *Client) Close() error {
	c.closing.Store(true)
	err := c.io.close()
	<-c.done
	c.mu.Lock()
	if c.lossTimer != nil {
		c.lossTimer.Stop()
	}
	c.mu.Unlock()
	return err
}

func (c *Client) preview(b []byte) string {
	if len(b) > c.opts.PreviewBytes {
		b = b[:c.opts.PreviewBytes]
	}
	return strings.ToValidUTF8(string(b), string(utf8.RuneError))
}

func (c *Client) readLoop() {
	defer close(c.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := c.io.read(buf)
		if n > 0 {
			if c.io.datagrams() {
				c.gotDatagram(buf[:n])
			} else {
				c.gotStream(buf[:n])
			}
		}
		if err != nil {
			if !c.closing.Load() && !isClosed(err) {
				c.err = err
				c.emit(protocol.Event{Type: protocol.EventClosed, Error: err.Error()})
				c.flush()
			}
			return
		}
	}
}

func isClosed(err error) bool {
	var ae *quic.ApplicationError
	return errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &ae) && !ae.Remote) || websocket.CloseStatus(err) == websocket.StatusNormalClosure
}

// gotStream matches the bytes of one read against the messages in flight, in order.
func (c *Client) gotStream(b []byte) {
	now := time.Now()
	type done struct {
		m    *inflight
		text []byte
	}
	var completed []done
	var msgs []uint64
	var req uint64
	c.mu.Lock()
	rest := b
	for len(rest) > 0 && len(c.inflight) > 0 {
		m := c.inflight[0]
		if req == 0 {
			req = m.req
		}
		msgs = append(msgs, m.msg)
		need := m.size - len(c.partial)
		take := min(need, len(rest))
		c.partial = append(c.partial, rest[:take]...)
		rest = rest[take:]
		if len(c.partial) == m.size {
			completed = append(completed, done{m, c.partial})
			c.partial = nil
			c.inflight = c.inflight[1:]
		}
	}
	c.mu.Unlock()
	c.emit(protocol.Event{Type: protocol.EventRead, Req: req, Msg: first(msgs), Msgs: msgs, Bytes: len(b), Text: c.preview(b)})
	for _, d := range completed {
		c.emit(protocol.Event{Type: protocol.EventComplete, Req: d.m.req, Msg: d.m.msg, Bytes: d.m.size,
			DurMicros: now.Sub(d.m.at).Microseconds(), Text: c.preview(d.text)})
	}
	if len(rest) > 0 {
		c.emit(protocol.Event{Type: protocol.EventError, Error: fmt.Sprintf("%d unexpected bytes echoed", len(rest))})
	}
	c.flush()
}

func first(s []uint64) uint64 {
	if len(s) == 0 {
		return 0
	}
	return s[0]
}

// gotDatagram matches one datagram by its sequence number and counts loss, reordering and
// duplication.
func (c *Client) gotDatagram(b []byte) {
	now := time.Now()
	if len(b) < DatagramHeader {
		c.emit(protocol.Event{Type: protocol.EventError, Bytes: len(b), Error: "short datagram echoed"})
		c.flush()
		return
	}
	seq := binary.BigEndian.Uint64(b)
	body := b[DatagramHeader:]
	c.mu.Lock()
	m, ok := c.sent[seq]
	late := c.lostSeqs[seq]
	switch {
	case ok:
		delete(c.sent, seq)
		c.seq.Received++
		if seq < c.highest {
			c.seq.Reordered++
		}
		c.highest = max(c.highest, seq)
	case late: // declared lost, then arrived: it was late, not lost
		delete(c.lostSeqs, seq)
		c.seq.Lost--
		c.seq.Received++
		c.seq.Reordered++
	case seq > 0 && seq <= c.next:
		c.seq.Duplicated++
	}
	st := c.seq
	c.mu.Unlock()
	var req uint64
	if m != nil {
		req = m.req
	}
	c.emit(protocol.Event{Type: protocol.EventRead, Req: req, Msg: seq, Msgs: []uint64{seq}, Bytes: len(b), Text: c.preview(body)})
	if ok {
		c.emit(protocol.Event{Type: protocol.EventComplete, Req: m.req, Msg: seq, Bytes: len(body),
			DurMicros: now.Sub(m.at).Microseconds(), Text: c.preview(body), Stats: &protocol.Stats{Seq: &st}})
	}
	c.flush()
}
