// Package natsbroker is the broker.Broker of wireplay instances that share rooms through a NATS
// server (core NATS, github.com/nats-io/nats.go): every instance dials the same server, and a
// message one publishes reaches the subscriptions of all.
//
// Core NATS is at-most-once, as package broker documents: while the connection is down nats.go
// reconnects without end and restores the subscriptions, but what was published meanwhile is not
// replayed to them; publishes made while it is down are buffered by nats.go (its reconnect buffer,
// 8 MiB by default) and sent on reconnect. A subscription's buffer is nats.go's pending limit
// (broker.Options, less what its partial messages hold, below): past it, messages are dropped and
// counted (Dropped), as a slow consumer.
//
// # Large messages
//
// A message that fits the server's max_payload (nats.Conn.MaxPayload, 1 MB by default) goes as it
// is: one NATS message, no header. A larger one, up to broker.MaxMessage, goes as fragments of at
// most max_payload each (header included), every fragment one NATS message on the same subject
// with the NATS header FragmentHeader, whose value is five fields separated by spaces:
//
//	PUBLISHER SEQ INDEX COUNT TOTAL
//
// PUBLISHER names the publishing Broker (16 hex digits, random per Dial), SEQ numbers its
// fragmented messages (decimal, from 1), INDEX is the fragment's (0 to COUNT-1), COUNT how many
// fragments the message has and TOTAL its length in bytes. An instance sends its fragmented
// messages one at a time (a lock), so their fragments never interleave with each other's (a
// small message published meanwhile by another goroutine may come between them).
//
// A subscription reassembles per publisher. NATS keeps one connection's messages in order, so a
// fragment that is not the next one expected from its publisher means a fragment was lost: the
// partial message is discarded and counted in Dropped, and the fragments left of a message whose
// start was lost are ignored (the message is counted once). Small messages carry no publisher, so
// they neither end nor disturb a partial one. Partial messages count against the subscription's
// buffer: the bytes they hold so far (and a reassembled message's while it is delivered) come
// off the byte limit of nats.go's queue in front of the subscription, and each one takes one
// message off its message limit; a message whose TOTAL does not fit in what the others leave of
// Options.BufferBytes is dropped at its first fragment. A partial message whose next fragment
// has not come within PartialTimeout (its last fragment lost, and no later fragmented message
// from that publisher to show it) is discarded and counted too. A complete message is delivered
// in the position of its last fragment, byte-identical.
package natsbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wireplay/wireplay/broker"
)

// FragmentHeader is the NATS header that marks a fragment of a large message (see the package
// doc for its value).
const FragmentHeader = "Wireplay-Frag"

// PartialTimeout is how long a subscription waits for the next fragment of a partial message
// before it discards the message.
const PartialTimeout = 10 * time.Second

// partialTimeout is PartialTimeout; tests shorten it.
var partialTimeout = PartialTimeout

// headerReserve is the room a fragment leaves for its header within max_payload: "NATS/1.0\r\n",
// the FragmentHeader line (at most 16+4×20+4 characters of value) and the closing "\r\n".
const headerReserve = 256

// Broker is one connection to a NATS server.
type Broker struct {
	nc   *nats.Conn
	opts broker.Options
	id   string // FragmentHeader's PUBLISHER

	fragMu sync.Mutex // held while one message's fragments are published
	seq    uint64     // under fragMu: the last fragmented message's SEQ

	mu     sync.Mutex
	closed bool
	subs   map[*sub]struct{}
}

// Dial connects to the NATS server at url (nats://HOST:4222). ctx bounds the first connection.
func Dial(ctx context.Context, url string, opts ...broker.Option) (*Broker, error) {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial nats: %w", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	nc, err := nats.Connect(url,
		nats.Name("wireplay"),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		// Slow consumers are counted by Subscription.Dropped; nats.go need not print them.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial nats: %w", err)
	}
	return &Broker{nc: nc, opts: broker.NewOptions(opts...), id: hex.EncodeToString(id[:]),
		subs: make(map[*sub]struct{})}, nil
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Publish implements broker.Broker. A message larger than the server's max_payload goes as
// fragments (see the package doc); ctx is checked before the first, not between them.
func (b *Broker) Publish(ctx context.Context, subject string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := broker.ValidSubject(subject); err != nil {
		return err
	}
	if err := broker.CheckSize(len(msg)); err != nil {
		return err
	}
	if b.isClosed() {
		return broker.ErrClosed
	}
	var err error
	if limit := b.nc.MaxPayload(); int64(len(msg)) <= limit || limit <= 0 {
		// limit is 0 before the first INFO; nats.go then does not check either.
		err = b.nc.Publish(subject, msg)
	} else {
		err = b.publishFragments(subject, msg, int(limit))
	}
	if err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return broker.ErrClosed
		}
		return fmt.Errorf("publish nats: %w", err)
	}
	return nil
}

// publishFragments sends msg as fragments of at most maxPayload bytes, header included. A
// failure part way leaves the subscriptions a partial message, which they discard.
func (b *Broker) publishFragments(subject string, msg []byte, maxPayload int) error {
	size := maxPayload - headerReserve
	if size < 1 {
		return fmt.Errorf("server max_payload %d is too small to fragment a %d-byte message", maxPayload, len(msg))
	}
	count := (len(msg) + size - 1) / size
	b.fragMu.Lock()
	defer b.fragMu.Unlock()
	b.seq++
	prefix := b.id + " " + strconv.FormatUint(b.seq, 10) + " "
	suffix := " " + strconv.Itoa(count) + " " + strconv.Itoa(len(msg))
	for i := range count {
		m := &nats.Msg{Subject: subject, Data: msg[i*size : min((i+1)*size, len(msg))],
			Header: nats.Header{FragmentHeader: []string{prefix + strconv.Itoa(i) + suffix}}}
		if err := b.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("fragment %d of %d: %w", i, count, err)
		}
	}
	return nil
}

// Subscribe implements broker.Broker. It returns after a round trip to the server (a flush), so
// the server has the subscription before any later publish by another instance reaches it.
func (b *Broker) Subscribe(ctx context.Context, subject string, deliver func(msg []byte)) (broker.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := broker.ValidSubject(subject); err != nil {
		return nil, err
	}
	s := &sub{b: b, deliver: deliver, opts: b.opts, partials: make(map[string]*partial)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, broker.ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	s.mu.Lock() // arrive waits for s.ns
	ns, err := b.nc.Subscribe(subject, s.arrive)
	if err == nil {
		s.ns = ns
		err = s.limitLocked()
	}
	s.mu.Unlock()
	if err == nil {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
		}
		err = b.nc.FlushWithContext(ctx)
	}
	if err != nil {
		s.Unsubscribe()
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil, broker.ErrClosed
		}
		return nil, fmt.Errorf("subscribe nats: %w", err)
	}
	return s, nil
}

// Close implements broker.Broker. What this instance published is flushed to the server (for
// up to 2 s) before the connection closes.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	for s := range subs {
		_ = s.Unsubscribe()
	}
	if b.nc.IsConnected() {
		_ = b.nc.FlushTimeout(2 * time.Second)
	}
	b.nc.Close()
	return nil
}

// sub is one subscription. Its buffer is nats.go's queue in front of arrive (pending limits,
// which count each fragment as a message); arrive, nats.go's callback, delivers whole messages
// and reassembles fragments. The partial messages' bytes, and a reassembled message's while it is
// delivered, are taken off nats.go's byte limit, and each partial message off its message limit,
// so that queue and partials together stay within Options.
type sub struct {
	b       *Broker
	deliver func([]byte)
	opts    broker.Options
	once    sync.Once
	stopped atomic.Bool

	mu       sync.Mutex
	ns       *nats.Subscription
	partials map[string]*partial // by publisher
	live     int                 // partials not doomed
	bytes    int                 // their bytes so far, and a reassembled message's being delivered
	timer    *time.Timer         // runs sweep while partials exist
	dropped  uint64              // messages arrive dropped
	natsDrop uint64              // nats.go's Dropped, last read before unsubscribing
}

// partial is a message arriving in fragments from one publisher.
type partial struct {
	seq   uint64
	next  int // the index expected
	count int
	total int
	buf   []byte // nil: doomed (its start was lost, or no room): the rest of it is ignored
	last  time.Time
}

// frag is a parsed FragmentHeader.
type frag struct {
	pub                 string
	seq                 uint64
	index, count, total int
}

func parseFrag(v string) (frag, error) {
	f := strings.Fields(v)
	if len(f) != 5 {
		return frag{}, fmt.Errorf("fragment header %q: want 5 fields", v)
	}
	var h frag
	var err [4]error
	h.pub = f[0]
	h.seq, err[0] = strconv.ParseUint(f[1], 10, 64)
	h.index, err[1] = strconv.Atoi(f[2])
	h.count, err[2] = strconv.Atoi(f[3])
	h.total, err[3] = strconv.Atoi(f[4])
	if e := errors.Join(err[:]...); e != nil {
		return frag{}, fmt.Errorf("fragment header %q: %w", v, e)
	}
	if h.count < 1 || h.index < 0 || h.index >= h.count || h.total < 0 || h.total > broker.MaxMessage {
		return frag{}, fmt.Errorf("fragment header %q: out of range", v)
	}
	return h, nil
}

// arrive is nats.go's callback, called from one goroutine per subscription in arrival order.
func (s *sub) arrive(m *nats.Msg) {
	if s.stopped.Load() {
		return
	}
	v := ""
	if m.Header != nil {
		v = m.Header.Get(FragmentHeader)
	}
	if v == "" {
		s.deliver(m.Data)
		return
	}
	msg := s.reassemble(v, m.Data)
	if msg == nil {
		return
	}
	if !s.stopped.Load() {
		s.deliver(msg)
	}
	s.mu.Lock()
	s.bytes -= len(msg)
	s.limitLocked()
	s.mu.Unlock()
}

// reassemble takes one fragment and returns the message it completes, if it does; the message's
// bytes stay counted until arrive has delivered it.
func (s *sub) reassemble(v string, data []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.Load() {
		return nil
	}
	defer s.limitLocked()
	h, err := parseFrag(v)
	if err != nil {
		s.dropped++ // a fragment no wireplay sends: its message is lost
		return nil
	}
	p := s.partials[h.pub]
	counted := false // the message of this fragment, as lost
	if p != nil && (p.seq != h.seq || p.next != h.index || p.count != h.count || p.total != h.total) {
		// Not the fragment p expects: one of p's was lost (NATS keeps a connection's order).
		s.discardLocked(h.pub, p)
		counted = p.seq == h.seq // the rest of p
		p = nil
	}
	if p == nil {
		p = &partial{seq: h.seq, count: h.count, total: h.total}
		switch {
		case h.index != 0:
			// Its start was lost; p stays doomed to ignore the rest of it.
			if !counted {
				s.dropped++
			}
		case s.live+1 >= s.opts.Buffer || s.bytes+h.total > s.opts.BufferBytes:
			s.dropped++ // no room for it
		default:
			p.buf = make([]byte, 0, h.total)
			s.live++
		}
		s.partials[h.pub] = p
	}
	p.next = h.index + 1
	p.last = time.Now()
	if p.buf != nil {
		if len(p.buf)+len(data) > p.total {
			s.discardLocked(h.pub, p) // longer than its TOTAL said: corrupt
			return nil
		}
		p.buf = append(p.buf, data...)
		s.bytes += len(data)
	}
	if p.next < p.count {
		if s.timer == nil {
			s.timer = time.AfterFunc(partialTimeout, s.sweep)
		}
		return nil
	}
	delete(s.partials, h.pub)
	if p.buf == nil {
		return nil
	}
	s.live--
	if len(p.buf) != p.total {
		s.bytes -= len(p.buf) // shorter than its TOTAL said: corrupt
		s.dropped++
		return nil
	}
	return p.buf
}

func (s *sub) natsDroppedLocked() int {
	if s.ns == nil {
		return 0
	}
	n, err := s.ns.Dropped()
	if err != nil {
		return 0
	}
	return n
}

// limitLocked sets nats.go's pending limits to Options less what the partials hold.
func (s *sub) limitLocked() error {
	if s.ns == nil {
		return nil
	}
	return s.ns.SetPendingLimits(max(1, s.opts.Buffer-s.live), max(1, s.opts.BufferBytes-s.bytes))
}

// discardLocked forgets pub's partial message p, counting it unless it was counted already
// (doomed).
func (s *sub) discardLocked(pub string, p *partial) {
	delete(s.partials, pub)
	if p.buf == nil {
		return
	}
	s.live--
	s.bytes -= len(p.buf)
	s.dropped++
}

// sweep discards the partial messages that waited PartialTimeout for their next fragment.
func (s *sub) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if s.stopped.Load() {
		return
	}
	now := time.Now()
	var next time.Duration
	for pub, p := range s.partials {
		if wait := partialTimeout - now.Sub(p.last); wait <= 0 {
			s.discardLocked(pub, p)
		} else if next == 0 || wait < next {
			next = wait
		}
	}
	s.limitLocked()
	if next > 0 {
		s.timer = time.AfterFunc(next, s.sweep)
	}
}

// Unsubscribe implements broker.Subscription.
func (s *sub) Unsubscribe() error {
	s.stopped.Store(true)
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		ns := s.ns
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		s.partials = map[string]*partial{}
		s.natsDrop = uint64(s.natsDroppedLocked())
		s.mu.Unlock()
		if ns != nil {
			if uerr := ns.Unsubscribe(); uerr != nil && !errors.Is(uerr, nats.ErrConnectionClosed) &&
				!errors.Is(uerr, nats.ErrBadSubscription) {
				err = fmt.Errorf("unsubscribe nats: %w", uerr)
			}
		}
		s.b.mu.Lock()
		delete(s.b.subs, s)
		s.b.mu.Unlock()
	})
	return err
}

// Dropped implements broker.Subscription: the NATS messages nats.go's queue dropped (buffer full)
// and the messages arrive dropped (a fragment lost, no room for a partial message). A large
// message that nats.go's full queue cut counts once per fragment it dropped and, if some of it
// came, once more.
func (s *sub) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.natsDrop
	if !s.stopped.Load() {
		n = uint64(s.natsDroppedLocked())
	}
	return s.dropped + n
}

var _ broker.Broker = (*Broker)(nil)
