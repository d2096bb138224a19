package experiments

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// HOLTransports are the transports of the head-of-line experiment, in the order their phases run.
var HOLTransports = []protocol.Transport{protocol.TCP, protocol.QUICStream, protocol.UDP, protocol.WS}

// HOLStreams is the number of independent message streams.
const HOLStreams = 3

// holHeader is the frame header every message carries: stream (1 byte, 0-based), message number
// (4 bytes, 0-based), payload length (4 bytes), big-endian.
const holHeader = 9

// HOL runs the head-of-line blocking experiment across l: three independent streams of
// req.Messages messages of req.Size bytes each, sent at once from l.Client() to listeners HOL opens
// on l.Server(), over
//
//   - tcp: ONE TCP connection, wireplay multiplexing the three streams with a 9-byte frame header
//     (stream, message number, length);
//   - quic-stream: three QUIC streams of ONE quic-go connection, one stream each;
//   - udp: one datagram per message, the three sequences interleaved; loss is loss;
//   - ws: ONE WebSocket connection, one binary message per frame, multiplexed like tcp.
//
// The transports run one after another, each in its own phase: connect, wait until the link has
// been quiet (no packet either way) for one round trip plus 25 ms, send, wait for every message
// or the phase's timeout (3 s + 4 round trips, plus the time the link's rate limit needs for the
// data; for udp, also when nothing can still be in flight), close.
//
// # The drop
//
// With req.DropNth = k > 0, each phase sets DropNth = k on the client→server direction, keeping
// the rest of that direction's impairment, just before its first write: packet #k of that
// transport's data (counted from the phase's first data packet, 1 = the first) is dropped, once.
// To make sure that packet carries stream 1 and nothing else, each phase writes a lead of stream
// 1's first messages (enough to fill k full-size packets: ⌈k·1500 / (Size+9)⌉ messages, at most
// all of them), waits until k packets have entered the link (at most 250 ms), then writes the
// rest round-robin (stream 2, 3, 1, 2, 3, …). Without a drop the order is round-robin from the
// start. For udp the dropped packet is exactly stream 1's message k; for tcp and ws it is the
// k-th segment of the connection's data, all of it stream 1's; for quic-stream the k-th 1-RTT
// packet, whose stream frames are stream 1's. The phase restores the impairment when it ends.
// When re-applying the impairment HOL leaves out BlackholeFor (it would restart the blackhole)
// and any pending DropNth.
//
// # The result
//
// Runs[t][s][m] is when message m of stream s arrived whole at the receiving application, in
// microseconds since the phase's first write (so the four transports share one time axis), or -1
// if it never did within the timeout. Stalls[t][s] is stream s's worst delivery delay minus its
// median delivery delay (delay = arrival − the message's own write), in microseconds; 0 when fewer
// than two of its messages arrived. Notes[t] says in words what the measured times show: which
// packet was dropped, when stream 1's hit message arrived, and whether streams 2 and 3 were held
// behind it or went on delivering.
//
// epoch is the caller's clock origin (the relay's session start); HOL reports no absolute times,
// so it only checks epoch is not in the future. HOL closes every listener and connection it opened
// before it returns, and leaves l's client→server impairment as it found it (but see above).
func HOL(ctx context.Context, l *link.Link, req protocol.HOLRequest, epoch time.Time) (*protocol.HOLResult, error) {
	if req.Messages < 1 || req.Messages > 200 || req.Size < 1 || req.Size > 16<<10 {
		return nil, fmt.Errorf("hol: %d messages of %d bytes is outside 1..200 × 1..16384", req.Messages, req.Size)
	}
	if !epoch.IsZero() && time.Until(epoch) > time.Second {
		return nil, errors.New("hol: epoch is in the future")
	}
	h := newHOL(l, req)
	cancel := l.OnPacket(h.wire.onPacket)
	defer cancel()
	defer func() { _ = l.SetImpairment(link.ClientToServer, h.base) }()

	res := &protocol.HOLResult{
		Messages: req.Messages, Size: req.Size, DropNth: req.DropNth,
		Runs:   map[protocol.Transport][][]int64{},
		Stalls: map[protocol.Transport][]int64{},
		Notes:  map[protocol.Transport]string{},
	}
	var phases []*phase
	for _, t := range HOLTransports {
		p, err := h.run(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("hol %s: %w", t, err)
		}
		phases = append(phases, p)
	}
	best := int64(-1) // the fastest delivery of the whole run: the link's one-way time, near enough
	for _, p := range phases {
		for s := range HOLStreams {
			for m := range req.Messages {
				if d := p.delay(s, m); d >= 0 && (best < 0 || d < best) {
					best = d
				}
			}
		}
	}
	for _, p := range phases {
		res.Runs[p.t] = p.runs()
		res.Stalls[p.t] = p.stalls()
		res.Notes[p.t] = h.note(p, best)
	}
	return res, nil
}

type hol struct {
	l       *link.Link
	req     protocol.HOLRequest
	base    link.Impairment // client→server impairment to keep (without DropNth and BlackholeFor)
	rtt     time.Duration   // the link's round trip, delays and jitter
	timeout time.Duration
	idle    time.Duration // udp: nothing can still be in flight this long after the last event
	at      string        // server listen address, port 0
	wire    wire
	lead    int // stream 1's messages written before the others, when dropping
}

func newHOL(l *link.Link, req protocol.HOLRequest) *hol {
	up, down := l.Impairment(link.ClientToServer), l.Impairment(link.ServerToClient)
	base := up
	base.DropNth, base.BlackholeFor = 0, 0
	h := &hol{l: l, req: req, base: base, at: net.JoinHostPort(l.ServerAddr().String(), "0")}
	h.rtt = up.Delay + up.Jitter + down.Delay + down.Jitter
	// Serialization of the whole burst at the slower direction's rate (and its queue).
	var serial time.Duration
	bits := float64(HOLStreams*req.Messages*(req.Size+holHeader+60)) * 8
	for _, im := range []link.Impairment{up, down} {
		if im.RateBitsPerSec > 0 {
			serial = max(serial, time.Duration(bits/float64(im.RateBitsPerSec)*float64(time.Second)))
		}
	}
	h.timeout = 3*time.Second + 4*h.rtt + serial
	h.idle = h.rtt + 250*time.Millisecond + serial
	if req.DropNth > 0 {
		frame := req.Size + holHeader
		h.lead = min(req.Messages, int((req.DropNth*1500+uint64(frame)-1)/uint64(frame)))
	}
	return h
}

// wire watches the link's packets: when the last one passed, how many went client→server, and
// which were dropped by the DropNth rule.
type wire struct {
	last    atomic.Int64
	c2s     atomic.Uint64
	mu      sync.Mutex
	dropped []link.Packet
}

func (w *wire) onPacket(p link.Packet) {
	w.last.Store(time.Now().UnixNano())
	if p.Dir == link.ClientToServer {
		w.c2s.Add(1)
		if p.Rule == link.RuleDropNth {
			w.mu.Lock()
			w.dropped = append(w.dropped, p)
			w.mu.Unlock()
		}
	}
}

func (w *wire) droppedSince(n int) []link.Packet {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.dropped[n:])
}

func (w *wire) droppedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dropped)
}

// quiesce waits until no packet has entered the link for quiet (at most 3 s).
func (h *hol) quiesce(ctx context.Context) {
	quiet := h.rtt + 25*time.Millisecond
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		since := time.Since(time.Unix(0, h.wire.last.Load()))
		if since >= quiet {
			return
		}
		time.Sleep(min(quiet-since, 20*time.Millisecond) + time.Millisecond)
	}
}

// phase is one transport's run and what its receiver recorded.
type phase struct {
	t       protocol.Transport
	msgs    int
	start   time.Time
	mu      sync.Mutex
	sent    [HOLStreams][]time.Time
	got     [HOLStreams][]time.Time
	left    int
	done    chan struct{}
	latest  time.Time // last send or delivery
	dropped []link.Packet
	lead    int
}

func newPhase(t protocol.Transport, msgs int) *phase {
	p := &phase{t: t, msgs: msgs, left: HOLStreams * msgs, done: make(chan struct{})}
	for s := range HOLStreams {
		p.sent[s] = make([]time.Time, msgs)
		p.got[s] = make([]time.Time, msgs)
	}
	return p
}

func (p *phase) markSent(s, m int) {
	now := time.Now()
	p.mu.Lock()
	p.sent[s][m] = now
	p.latest = now
	p.mu.Unlock()
}

// deliver records message m of stream s arriving whole, now.
func (p *phase) deliver(s, m int) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if s < 0 || s >= HOLStreams || m < 0 || m >= p.msgs || !p.got[s][m].IsZero() {
		return
	}
	p.got[s][m] = now
	p.latest = now
	if p.left--; p.left == 0 {
		close(p.done)
	}
}

// at is when message m of stream s arrived, µs since the phase's start; -1 for never.
func (p *phase) at(s, m int) int64 {
	if p.got[s][m].IsZero() {
		return -1
	}
	return p.got[s][m].Sub(p.start).Microseconds()
}

// delay is message m's arrival minus its write, µs; -1 for never.
func (p *phase) delay(s, m int) int64 {
	if p.got[s][m].IsZero() || p.sent[s][m].IsZero() {
		return -1
	}
	return p.got[s][m].Sub(p.sent[s][m]).Microseconds()
}

func (p *phase) runs() [][]int64 {
	out := make([][]int64, HOLStreams)
	for s := range HOLStreams {
		out[s] = make([]int64, p.msgs)
		for m := range p.msgs {
			out[s][m] = p.at(s, m)
		}
	}
	return out
}

func (p *phase) stalls() []int64 {
	out := make([]int64, HOLStreams)
	for s := range HOLStreams {
		var d []int64
		for m := range p.msgs {
			if x := p.delay(s, m); x >= 0 {
				d = append(d, x)
			}
		}
		if len(d) < 2 {
			continue
		}
		slices.Sort(d)
		out[s] = d[len(d)-1] - d[(len(d)-1)/2]
	}
	return out
}

// conn is one transport's client side; its receiver calls phase.deliver.
type conn struct {
	send func(s int, frame []byte) error
}

// closers closes what a phase opened, in reverse order, once; things added after are closed at once.
type closers struct {
	mu   sync.Mutex
	done bool
	list []func()
}

func (c *closers) add(f func()) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		f()
		return
	}
	c.list = append(c.list, f)
	c.mu.Unlock()
}

// enter adds one to wg unless the closers have run (so wg.Wait, after close, sees every Add).
func (c *closers) enter(wg *sync.WaitGroup) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	wg.Add(1)
	return true
}

func (c *closers) close() {
	c.mu.Lock()
	c.done = true
	list := c.list
	c.list = nil
	c.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i]()
	}
}

func (h *hol) run(ctx context.Context, t protocol.Transport) (*phase, error) {
	p := newPhase(t, h.req.Messages)
	var cl closers
	var wg sync.WaitGroup
	defer func() {
		cl.close()
		wg.Wait()
	}()
	ctx, cancel := context.WithCancel(ctx)
	cl.add(cancel)
	var c conn
	var err error
	switch t {
	case protocol.TCP:
		c, err = h.tcp(ctx, p, &cl, &wg)
	case protocol.QUICStream:
		c, err = h.quic(ctx, p, &cl, &wg)
	case protocol.UDP:
		c, err = h.udp(ctx, p, &cl, &wg)
	case protocol.WS:
		c, err = h.ws(ctx, p, &cl, &wg)
	default:
		err = fmt.Errorf("unknown transport %q", t)
	}
	if err != nil {
		return nil, err
	}

	// Every frame is built before the clock starts.
	type item struct {
		s, m  int
		frame []byte
	}
	var order []item
	mk := func(s, m int) item {
		b := make([]byte, holHeader+h.req.Size)
		b[0] = byte(s)
		binary.BigEndian.PutUint32(b[1:], uint32(m))
		binary.BigEndian.PutUint32(b[5:], uint32(h.req.Size))
		for i := holHeader; i < len(b); i++ {
			b[i] = 'a' + byte(s)
		}
		return item{s, m, b}
	}
	for m := range h.lead {
		order = append(order, mk(0, m))
	}
	for m := range h.req.Messages {
		for s := range HOLStreams {
			if s == 0 && m < h.lead {
				continue
			}
			order = append(order, mk(s, m))
		}
	}

	h.quiesce(ctx)
	k := h.req.DropNth
	ndropped := h.wire.droppedCount()
	var mark uint64
	if k > 0 {
		imp := h.base
		imp.DropNth = k
		if err := h.l.SetImpairment(link.ClientToServer, imp); err != nil {
			return nil, err
		}
		mark = h.wire.c2s.Load()
		defer func() { _ = h.l.SetImpairment(link.ClientToServer, h.base) }()
	}
	p.lead = h.lead
	p.start = time.Now()
	for i, it := range order {
		if k > 0 && i == h.lead {
			h.waitPackets(ctx, mark+k, 250*time.Millisecond)
		}
		p.markSent(it.s, it.m)
		if err := c.send(it.s, it.frame); err != nil {
			return nil, fmt.Errorf("send stream %d message %d: %w", it.s+1, it.m+1, err)
		}
	}
	h.wait(ctx, p)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock() // receivers may still run until the closers have run; take a consistent copy
	defer p.mu.Unlock()
	p.dropped = h.wire.droppedSince(ndropped)
	cp := &phase{t: p.t, msgs: p.msgs, start: p.start, sent: p.sent, dropped: p.dropped, lead: p.lead}
	for s := range HOLStreams {
		cp.got[s] = slices.Clone(p.got[s])
	}
	return cp, nil
}

// waitPackets waits until the link has counted n client→server packets, or for at most limit.
func (h *hol) waitPackets(ctx context.Context, n uint64, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for h.wire.c2s.Load() < n && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Microsecond)
	}
}

// wait waits for every message, the timeout, or (udp) until nothing can still be in flight.
func (h *hol) wait(ctx context.Context, p *phase) {
	timeout := time.NewTimer(h.timeout)
	defer timeout.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			if p.t == protocol.UDP {
				p.mu.Lock()
				latest := p.latest
				p.mu.Unlock()
				if time.Since(latest) > h.idle {
					return
				}
			}
		}
	}
}

// readFrames reads header-framed messages from r until it fails.
func readFrames(r io.Reader, p *phase) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [holHeader]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int64(binary.BigEndian.Uint32(hdr[5:]))
		if _, err := io.CopyN(io.Discard, br, n); err != nil {
			return
		}
		p.deliver(int(hdr[0]), int(binary.BigEndian.Uint32(hdr[1:])))
	}
}

func deliverFrame(b []byte, p *phase) {
	if len(b) < holHeader || len(b)-holHeader != int(binary.BigEndian.Uint32(b[5:])) {
		return
	}
	p.deliver(int(b[0]), int(binary.BigEndian.Uint32(b[1:])))
}

func (h *hol) tcp(ctx context.Context, p *phase, cl *closers, wg *sync.WaitGroup) (conn, error) {
	ln, err := h.l.Server().Listen(ctx, "tcp", h.at)
	if err != nil {
		return conn{}, err
	}
	cl.add(func() { ln.Close() })
	wg.Go(func() {
		sc, err := ln.Accept()
		if err != nil {
			return
		}
		cl.add(func() { sc.Close() })
		readFrames(sc, p)
	})
	c, err := h.l.Client().Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return conn{}, err
	}
	cl.add(func() { c.Close() })
	return conn{send: func(_ int, b []byte) error {
		_ = c.SetWriteDeadline(time.Now().Add(h.timeout))
		_, err := c.Write(b)
		return err
	}}, nil
}

type bufferSetter interface{ SetReadBuffer(int) error }

func (h *hol) udp(ctx context.Context, p *phase, cl *closers, wg *sync.WaitGroup) (conn, error) {
	pc, err := h.l.Server().ListenPacket(ctx, "udp", h.at)
	if err != nil {
		return conn{}, err
	}
	cl.add(func() { pc.Close() })
	if bs, ok := pc.(bufferSetter); ok {
		_ = bs.SetReadBuffer(16 << 20)
	}
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			deliverFrame(buf[:n], p)
		}
	})
	c, err := h.l.Client().Dial(ctx, "udp", pc.LocalAddr().String())
	if err != nil {
		return conn{}, err
	}
	cl.add(func() { c.Close() })
	return conn{send: func(_ int, b []byte) error {
		_, err := c.Write(b)
		return err
	}}, nil
}

func (h *hol) quic(ctx context.Context, p *phase, cl *closers, wg *sync.WaitGroup) (conn, error) {
	stls, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return conn{}, err
	}
	conf := transports.QUICEchoConfig{}.QUICConfig()
	conf.EnableDatagrams = false
	spc, err := h.l.Server().ListenPacket(ctx, "udp", h.at)
	if err != nil {
		return conn{}, err
	}
	cl.add(func() { spc.Close() })
	str := &quic.Transport{Conn: spc}
	cl.add(func() { str.Close() })
	ln, err := str.Listen(stls, conf)
	if err != nil {
		return conn{}, err
	}
	cl.add(func() { ln.Close() })
	wg.Go(func() {
		sc, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		cl.add(func() { sc.CloseWithError(0, "") })
		for {
			s, err := sc.AcceptStream(ctx)
			if err != nil {
				return
			}
			wg.Go(func() { readFrames(s, p) })
		}
	})
	cpc, err := h.l.Client().ListenPacket(ctx, "udp", net.JoinHostPort(h.l.ClientAddr().String(), "0"))
	if err != nil {
		return conn{}, err
	}
	cl.add(func() { cpc.Close() })
	ctr := &quic.Transport{Conn: cpc}
	cl.add(func() { ctr.Close() })
	qc, err := ctr.Dial(ctx, spc.LocalAddr(), transports.ClientTLSConfig(stls), conf)
	if err != nil {
		return conn{}, err
	}
	cl.add(func() { qc.CloseWithError(0, "") })
	var streams [HOLStreams]*quic.Stream
	for s := range streams {
		if streams[s], err = qc.OpenStreamSync(ctx); err != nil {
			return conn{}, err
		}
	}
	return conn{send: func(s int, b []byte) error {
		_ = streams[s].SetWriteDeadline(time.Now().Add(h.timeout))
		_, err := streams[s].Write(b)
		return err
	}}, nil
}

func (h *hol) ws(ctx context.Context, p *phase, cl *closers, wg *sync.WaitGroup) (conn, error) {
	ln, err := h.l.Server().Listen(ctx, "tcp", h.at)
	if err != nil {
		return conn{}, err
	}
	limit := int64(h.req.Size + holHeader + 1024)
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cl.enter(wg) {
			return
		}
		defer wg.Done()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		cl.add(func() { c.CloseNow() })
		c.SetReadLimit(limit)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			deliverFrame(b, p)
		}
	})}
	wg.Go(func() { _ = hs.Serve(ln) })
	cl.add(func() { hs.Close() })
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return h.l.Client().Dial(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
	cl.add(hc.CloseIdleConnections)
	c, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return conn{}, err
	}
	cl.add(func() { c.CloseNow() })
	return conn{send: func(_ int, b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, h.timeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageBinary, b)
	}}, nil
}

// note says in words what phase p's measured times show; best is the run's fastest delivery delay.
func (h *hol) note(p *phase, best int64) string {
	ms := func(us int64) string { return fmt.Sprintf("%.1f ms", float64(us)/1000) }
	var b strings.Builder
	lost := [HOLStreams]int{}
	for s := range HOLStreams {
		for m := range p.msgs {
			if p.at(s, m) < 0 {
				lost[s]++
			}
		}
	}
	if h.req.DropNth == 0 {
		st := p.stalls()
		fmt.Fprintf(&b, "no packet dropped on purpose; worst delay over the median: stream 1 %s, stream 2 %s, stream 3 %s",
			ms(st[0]), ms(st[1]), ms(st[2]))
		if n := lost[0] + lost[1] + lost[2]; n > 0 {
			fmt.Fprintf(&b, "; %s never arrived", plural(n, "message"))
		}
		return b.String() + "."
	}
	if len(p.dropped) == 0 {
		fmt.Fprintf(&b, "packet #%d was never sent (the phase's data took fewer packets), so nothing was dropped on purpose", h.req.DropNth)
		return b.String() + "."
	}
	fmt.Fprintf(&b, "packet #%d of the data (%d bytes on the wire, stream 1's data only) was dropped; ", h.req.DropNth, p.dropped[0].Size)
	// The hit message: the first of stream 1's lead that never arrived or arrived late (held
	// until the retransmission); failing that, the latest of the lead.
	thresh := max(h.rtt.Microseconds()/2, 2000)
	victim, vAt := -1, int64(-1)
	for m := range max(p.lead, 1) {
		if a := p.at(0, m); a < 0 || a-best >= thresh {
			victim, vAt = m, a
			break
		}
	}
	if victim < 0 {
		for m := range max(p.lead, 1) {
			if a := p.at(0, m); a > vAt {
				victim, vAt = m, a
			}
		}
	}
	if vAt < 0 {
		fmt.Fprintf(&b, "stream 1's message %d never arrived (nothing retransmits it)", victim+1)
	} else {
		fmt.Fprintf(&b, "stream 1's message %d arrived after %s", victim+1, ms(vAt))
	}
	var first [HOLStreams]int64
	var before [HOLStreams]int
	for s := 1; s < HOLStreams; s++ {
		first[s] = -1
		for m := range p.msgs {
			a := p.at(s, m)
			if a < 0 {
				continue
			}
			if first[s] < 0 || a < first[s] {
				first[s] = a
			}
			if vAt < 0 || a < vAt {
				before[s]++
			}
		}
	}
	held := true
	for s := 1; s < HOLStreams; s++ {
		if before[s] > 0 || first[s] < 0 || first[s]-best < thresh {
			held = false
		}
	}
	switch {
	case first[1] < 0 || first[2] < 0:
		fmt.Fprintf(&b, "; stream 2 or 3 delivered nothing")
	case held:
		fmt.Fprintf(&b, ". Streams 2 and 3 waited %s and %s behind stream 1's lost segment: nothing of theirs was delivered before it, their first messages arrived at %s and %s against %s for the run's fastest delivery",
			ms(first[1]-best), ms(first[2]-best), ms(first[1]), ms(first[2]), ms(best))
	default:
		fmt.Fprintf(&b, ". Streams 2 and 3 were not held behind it: they delivered %d and %d of their messages meanwhile", before[1], before[2])
		fmt.Fprintf(&b, ", the first at %s and %s (the run's fastest delivery: %s)", ms(first[1]), ms(first[2]), ms(best))
	}
	if n := lost[0] + lost[1] + lost[2]; n > 0 {
		fmt.Fprintf(&b, "; %s never arrived (stream 1: %d, 2: %d, 3: %d)", plural(n, "message"), lost[0], lost[1], lost[2])
	}
	return b.String() + "."
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
