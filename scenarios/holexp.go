package scenarios

import (
	"bufio"
	"context"
	"encoding/binary"
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

// holTransports are the transports of the head-of-line experiment, in the order their phases run.
var holTransports = []protocol.Transport{protocol.TCP, protocol.QUICStream, protocol.UDP, protocol.WS}

// holStreams is the number of independent message streams.
const holStreams = 3

// holHeader is the frame header every message carries: stream (1 byte, 0-based), message number
// (4 bytes, 0-based), payload length (4 bytes), big-endian.
const holHeader = 9

// holRequest shapes one head-of-line experiment: three streams of messages messages of size bytes;
// dropNth > 0 drops that client→server data packet of each transport.
type holRequest struct {
	messages, size int
	dropNth        uint64
}

// holResult is the experiment's outcome. runs[t][s][m] is when message m of stream s arrived whole
// at the receiving application, in µs since the phase's first write, or -1 if it never did;
// stalls[t][s] is stream s's worst delivery delay minus its median, in µs; notes[t] says in words
// what the times show.
type holResult struct {
	runs   map[protocol.Transport][][]int64
	stalls map[protocol.Transport][]int64
	notes  map[protocol.Transport]string
	views  map[protocol.Transport]*holView
	best   int64 // the fastest first delivery of any stream on any transport, µs since its phase's start
}

// holExperiment runs the head-of-line blocking experiment across l: three independent streams of
// req.messages messages of req.size bytes each, sent at once from l.Client() to listeners it opens
// on l.Server(), every one set up with the transports kit, over
//
//   - tcp: ONE TCP connection, wireplay multiplexing the three streams with a 9-byte frame header
//     (stream, message number, length);
//   - quic-stream: three QUIC streams of ONE quic-go connection (qconf, datagrams off), one
//     stream each;
//   - udp: one datagram per message, the three sequences interleaved; loss is loss;
//   - ws: ONE WebSocket connection, one binary message per frame, multiplexed like tcp.
//
// The transports run one after another, each in its own phase: connect, wait until the link has
// been quiet (no packet either way) for one round trip plus 25 ms, send, wait for every message
// or the phase's timeout (3 s + 4 round trips, plus the time the link's rate limit needs for the
// data; for udp, also when nothing can still be in flight), close (one transports.Group a phase).
//
// # The drop
//
// With req.dropNth = k > 0, each phase sets DropNth = k on the client→server direction, keeping
// the rest of that direction's impairment, just before its first write: packet #k of that
// transport's data (counted from the phase's first data packet, 1 = the first) is dropped, once.
// To make sure that packet carries stream 1 and nothing else, each phase writes a lead of stream
// 1's first messages (enough to fill k full-size packets: ⌈k·1500 / (size+9)⌉ messages, at most
// all of them), waits until k packets have entered the link (at most 250 ms), then writes the
// rest round-robin (stream 2, 3, 1, 2, 3, …). Without a drop the order is round-robin from the
// start. For udp the dropped packet is exactly stream 1's message k; for tcp and ws it is the
// k-th segment of the connection's data, all of it stream 1's; for quic-stream the k-th 1-RTT
// packet, whose stream frames are stream 1's. The phase restores the impairment when it ends.
// When re-applying the impairment it leaves out BlackholeFor (it would restart the blackhole)
// and any pending DropNth.
//
// It closes every listener and connection it opened before it returns, and leaves l's
// client→server impairment as it found it (but see above).
func holExperiment(ctx context.Context, l *link.Link, req holRequest, qconf *quic.Config) (*holResult, error) {
	if req.messages < 1 || req.messages > 200 || req.size < 1 || req.size > 16<<10 {
		return nil, fmt.Errorf("hol: %d messages of %d bytes is outside 1..200 × 1..16384", req.messages, req.size)
	}
	h := newHOL(l, req, qconf)
	cancel := l.OnPacket(h.wire.onPacket)
	defer cancel()
	defer func() { _ = l.SetImpairment(link.ClientToServer, h.base) }()

	res := &holResult{
		runs:   map[protocol.Transport][][]int64{},
		stalls: map[protocol.Transport][]int64{},
		notes:  map[protocol.Transport]string{},
		views:  map[protocol.Transport]*holView{},
	}
	var phases []*holPhase
	for _, t := range holTransports {
		p, err := h.run(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("hol %s: %w", t, err)
		}
		phases = append(phases, p)
	}
	// The fastest first delivery of any stream on any transport: the link's one-way time and the
	// stacks' own work, near enough. A stream's first delivery beyond it is how long the stream
	// was held before anything of it reached the application.
	res.best = -1
	for _, p := range phases {
		for _, times := range p.runs() {
			if f := holFirst(times); f >= 0 && (res.best < 0 || f < res.best) {
				res.best = f
			}
		}
	}
	for _, p := range phases {
		v := h.view(p, res.best)
		res.runs[p.t] = p.runs()
		res.stalls[p.t] = p.stalls()
		res.views[p.t] = v
		res.notes[p.t] = h.note(p, v)
	}
	return res, nil
}

type hol struct {
	l       *link.Link
	req     holRequest
	qconf   *quic.Config    // the QUIC phase's configuration, datagrams off
	base    link.Impairment // client→server impairment to keep (without DropNth and BlackholeFor)
	rtt     time.Duration   // the link's round trip, delays and jitter
	timeout time.Duration
	idle    time.Duration // udp: nothing can still be in flight this long after the last event
	at      string        // server listen address, port 0
	wire    holWire
	lead    int // stream 1's messages written before the others, when dropping
}

func newHOL(l *link.Link, req holRequest, qconf *quic.Config) *hol {
	up, down := l.Impairment(link.ClientToServer), l.Impairment(link.ServerToClient)
	base := up
	base.DropNth, base.BlackholeFor = 0, 0
	h := &hol{l: l, req: req, qconf: qconf, base: base, at: net.JoinHostPort(l.ServerAddr().String(), "0")}
	h.rtt = up.Delay + up.Jitter + down.Delay + down.Jitter
	// Serialization of the whole burst at the slower direction's rate (and its queue).
	var serial time.Duration
	bits := float64(holStreams*req.messages*(req.size+holHeader+60)) * 8
	for _, im := range []link.Impairment{up, down} {
		if im.RateBitsPerSec > 0 {
			serial = max(serial, time.Duration(bits/float64(im.RateBitsPerSec)*float64(time.Second)))
		}
	}
	h.timeout = 3*time.Second + 4*h.rtt + serial
	h.idle = h.rtt + 250*time.Millisecond + serial
	if req.dropNth > 0 {
		frame := req.size + holHeader
		h.lead = min(req.messages, int((req.dropNth*1500+uint64(frame)-1)/uint64(frame)))
	}
	return h
}

// holWire watches the link's packets: when the last one passed, how many went client→server, and
// which were dropped by the DropNth rule.
type holWire struct {
	last    atomic.Int64
	c2s     atomic.Uint64
	mu      sync.Mutex
	dropped []link.Packet
}

func (w *holWire) onPacket(p link.Packet) {
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

func (w *holWire) droppedSince(n int) []link.Packet {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.dropped[n:])
}

func (w *holWire) droppedCount() int {
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

// holPhase is one transport's run and what its receiver recorded.
type holPhase struct {
	t       protocol.Transport
	msgs    int
	start   time.Time
	mu      sync.Mutex
	sent    [holStreams][]time.Time
	got     [holStreams][]time.Time
	left    int
	done    chan struct{}
	latest  time.Time // last send or delivery
	dropped []link.Packet
	lead    int
}

func newHolPhase(t protocol.Transport, msgs int) *holPhase {
	p := &holPhase{t: t, msgs: msgs, left: holStreams * msgs, done: make(chan struct{})}
	for s := range holStreams {
		p.sent[s] = make([]time.Time, msgs)
		p.got[s] = make([]time.Time, msgs)
	}
	return p
}

func (p *holPhase) markSent(s, m int) {
	now := time.Now()
	p.mu.Lock()
	p.sent[s][m] = now
	p.latest = now
	p.mu.Unlock()
}

// deliver records message m of stream s arriving whole, now.
func (p *holPhase) deliver(s, m int) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if s < 0 || s >= holStreams || m < 0 || m >= p.msgs || !p.got[s][m].IsZero() {
		return
	}
	p.got[s][m] = now
	p.latest = now
	if p.left--; p.left == 0 {
		close(p.done)
	}
}

// at is when message m of stream s arrived, µs since the phase's start; -1 for never.
func (p *holPhase) at(s, m int) int64 {
	if p.got[s][m].IsZero() {
		return -1
	}
	return p.got[s][m].Sub(p.start).Microseconds()
}

// delay is message m's arrival minus its write, µs; -1 for never.
func (p *holPhase) delay(s, m int) int64 {
	if p.got[s][m].IsZero() || p.sent[s][m].IsZero() {
		return -1
	}
	return p.got[s][m].Sub(p.sent[s][m]).Microseconds()
}

func (p *holPhase) runs() [][]int64 {
	out := make([][]int64, holStreams)
	for s := range holStreams {
		out[s] = make([]int64, p.msgs)
		for m := range p.msgs {
			out[s][m] = p.at(s, m)
		}
	}
	return out
}

func (p *holPhase) stalls() []int64 {
	out := make([]int64, holStreams)
	for s := range holStreams {
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

// holSend writes one frame of stream s on a transport's client side; the receiver, in the
// phase's group, calls holPhase.deliver.
type holSend func(s int, frame []byte) error

// holItem is one message to write.
type holItem struct {
	s, m  int
	frame []byte
}

// order builds every frame of a phase, in the order they are written: stream 1's lead, then
// round-robin.
func (h *hol) order() []holItem {
	mk := func(s, m int) holItem {
		b := make([]byte, holHeader+h.req.size)
		b[0] = byte(s)
		binary.BigEndian.PutUint32(b[1:], uint32(m))
		binary.BigEndian.PutUint32(b[5:], uint32(h.req.size))
		for i := holHeader; i < len(b); i++ {
			b[i] = 'a' + byte(s)
		}
		return holItem{s, m, b}
	}
	var order []holItem
	for m := range h.lead {
		order = append(order, mk(0, m))
	}
	for m := range h.req.messages {
		for s := range holStreams {
			if s == 0 && m < h.lead {
				continue
			}
			order = append(order, mk(s, m))
		}
	}
	return order
}

// open sets up transport t's connection with the kit; everything it opens is closed with g.
func (h *hol) open(ctx context.Context, t protocol.Transport, p *holPhase, g *transports.Group) (holSend, error) {
	switch t {
	case protocol.TCP:
		return h.tcp(ctx, p, g)
	case protocol.QUICStream:
		return h.quic(ctx, p, g)
	case protocol.UDP:
		return h.udp(ctx, p, g)
	case protocol.WS:
		return h.ws(ctx, p, g)
	}
	return nil, fmt.Errorf("unknown transport %q", t)
}

func (h *hol) run(ctx context.Context, t protocol.Transport) (*holPhase, error) {
	p := newHolPhase(t, h.req.messages)
	var g transports.Group
	defer g.Close()
	ctx, cancel := context.WithCancel(ctx)
	g.Defer(cancel)
	send, err := h.open(ctx, t, p, &g)
	if err != nil {
		return nil, err
	}
	order := h.order() // every frame is built before the clock starts

	h.quiesce(ctx)
	k := h.req.dropNth
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
		if err := send(it.s, it.frame); err != nil {
			return nil, fmt.Errorf("send stream %d message %d: %w", it.s+1, it.m+1, err)
		}
	}
	h.wait(ctx, p)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock() // receivers may still run until the group is closed; take a consistent copy
	defer p.mu.Unlock()
	p.dropped = h.wire.droppedSince(ndropped)
	cp := &holPhase{t: p.t, msgs: p.msgs, start: p.start, sent: p.sent, dropped: p.dropped, lead: p.lead}
	for s := range holStreams {
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
func (h *hol) wait(ctx context.Context, p *holPhase) {
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

// holReadFrames reads header-framed messages from r until it fails.
func holReadFrames(r io.Reader, p *holPhase) {
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

func holDeliverFrame(b []byte, p *holPhase) {
	if len(b) < holHeader || len(b)-holHeader != int(binary.BigEndian.Uint32(b[5:])) {
		return
	}
	p.deliver(int(b[0]), int(binary.BigEndian.Uint32(b[1:])))
}

func (h *hol) tcp(ctx context.Context, p *holPhase, g *transports.Group) (holSend, error) {
	ln, err := transports.ListenTCP(ctx, h.l.Server(), h.at)
	if err != nil {
		return nil, err
	}
	g.Add(ln.Close)
	g.Go(func() {
		sc, err := ln.Accept()
		if err != nil {
			return
		}
		g.Add(sc.Close)
		holReadFrames(sc, p)
	})
	c, err := transports.DialTCP(ctx, h.l.Client(), ln.Addr().String(), transports.TCPOptions{})
	if err != nil {
		return nil, err
	}
	g.Add(c.Close)
	return func(_ int, b []byte) error {
		_ = c.SetWriteDeadline(time.Now().Add(h.timeout))
		_, err := c.Write(b)
		return err
	}, nil
}

func (h *hol) udp(ctx context.Context, p *holPhase, g *transports.Group) (holSend, error) {
	pc, err := transports.ListenUDP(ctx, h.l.Server(), h.at)
	if err != nil {
		return nil, err
	}
	g.Add(pc.Close)
	if bs, ok := pc.(interface{ SetReadBuffer(int) error }); ok {
		_ = bs.SetReadBuffer(16 << 20)
	}
	g.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			holDeliverFrame(buf[:n], p)
		}
	})
	c, err := transports.DialUDP(ctx, h.l.Client(), pc.LocalAddr().String())
	if err != nil {
		return nil, err
	}
	g.Add(c.Close)
	return func(_ int, b []byte) error {
		_, err := c.Write(b)
		return err
	}, nil
}

func (h *hol) quic(ctx context.Context, p *holPhase, g *transports.Group) (holSend, error) {
	stls, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return nil, err
	}
	ln, err := transports.ListenQUIC(ctx, h.l.Server(), h.at, transports.QUICOptions{TLS: stls, Config: h.qconf, NoDatagrams: true})
	if err != nil {
		return nil, err
	}
	g.Add(ln.Close) // and its endpoint, with every connection on it
	g.Go(func() {
		sc, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		for {
			s, err := sc.AcceptStream(ctx)
			if err != nil {
				return
			}
			g.Go(func() { holReadFrames(s, p) })
		}
	})
	qc, err := transports.DialQUIC(ctx, h.l.Client(), ln.Addr().String(), transports.QUICOptions{
		TLS: transports.ClientTLSConfig(stls), Config: h.qconf, NoDatagrams: true,
		LocalAddr: net.JoinHostPort(h.l.ClientAddr().String(), "0"),
	})
	if err != nil {
		return nil, err
	}
	g.Add(qc.Close)
	var streams [holStreams]*quic.Stream
	for s := range streams {
		if streams[s], err = qc.OpenStreamSync(ctx); err != nil {
			return nil, err
		}
	}
	return func(s int, b []byte) error {
		_ = streams[s].SetWriteDeadline(time.Now().Add(h.timeout))
		_, err := streams[s].Write(b)
		return err
	}, nil
}

func (h *hol) ws(ctx context.Context, p *holPhase, g *transports.Group) (holSend, error) {
	limit := int64(h.req.size + holHeader + 1024)
	// The server's Close ends the handler's read (its request context and its hijacked conn)
	// and waits for it.
	srv, err := transports.ListenWS(ctx, h.l.Server(), h.at, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(limit)
		for {
			_, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			holDeliverFrame(b, p)
		}
	}))
	if err != nil {
		return nil, err
	}
	g.Add(srv.Close)
	c, err := transports.DialWS(ctx, h.l.Client(), "ws://"+srv.Addr().String()+"/", transports.WSOptions{})
	if err != nil {
		return nil, err
	}
	g.Add(c.CloseNow)
	return func(_ int, b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, h.timeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageBinary, b)
	}, nil
}

// holView is what one phase's times show, every time rounded to 0.1 ms (holRound) so that the
// figures, the table and the sentences made of them agree to the digit.
type holView struct {
	best    int64             // the run's fastest first delivery, µs since a phase's start
	first   [holStreams]int64 // each stream's first delivery, µs since the phase's start; -1: never
	held    [holStreams]int64 // first - best; -1: never
	lost    [holStreams]int   // messages that never arrived
	victim  int               // stream 1's message the drop hit (0-based)
	vAt     int64             // when it arrived; -1: never
	before  [holStreams]int   // messages of each stream delivered before it (all, when it never did)
	blocked [holStreams]bool  // streams 2 and 3: nothing delivered before it, and held ≥ thresh
	thresh  int64             // µs: held this long beyond the fastest delivery counts as held back
	dropped int               // bytes on the wire of the packet dropped on purpose; 0: none
}

// holRound rounds µs to the nearest 0.1 ms (negative, for never, stays -1).
func holRound(us int64) int64 {
	if us < 0 {
		return -1
	}
	return (us + 50) / 100 * 100
}

// view works out what phase p's times show against best, the run's fastest first delivery.
func (h *hol) view(p *holPhase, best int64) *holView {
	v := &holView{best: holRound(best), thresh: max(h.rtt.Microseconds()/2, 2000), vAt: -1}
	if len(p.dropped) > 0 {
		v.dropped = p.dropped[0].Size
	}
	for s := range holStreams {
		v.first[s], v.held[s] = -1, -1
		for m := range p.msgs {
			if a := p.at(s, m); a < 0 {
				v.lost[s]++
			} else if v.first[s] < 0 || a < v.first[s] {
				v.first[s] = a
			}
		}
		v.first[s] = holRound(v.first[s])
		if v.first[s] >= 0 && v.best >= 0 {
			v.held[s] = v.first[s] - v.best
		}
	}
	v.victim, v.vAt = h.victim(p, best, v.thresh)
	v.vAt = holRound(v.vAt)
	for s := 1; s < holStreams; s++ {
		for m := range p.msgs {
			if a := holRound(p.at(s, m)); a >= 0 && (v.vAt < 0 || a < v.vAt) {
				v.before[s]++
			}
		}
		v.blocked[s] = v.vAt >= 0 && v.before[s] == 0 && v.held[s] >= v.thresh
	}
	return v
}

// note says in words what phase p's view v shows.
func (h *hol) note(p *holPhase, v *holView) string {
	var b strings.Builder
	n := v.lost[0] + v.lost[1] + v.lost[2]
	if h.req.dropNth == 0 {
		st := p.stalls()
		fmt.Fprintf(&b, "no packet dropped on purpose; worst delay over the median: stream 1 %s, stream 2 %s, stream 3 %s",
			holMs(st[0]), holMs(st[1]), holMs(st[2]))
		if n > 0 {
			fmt.Fprintf(&b, "; %s never arrived", holPlural(n, "message"))
		}
		return b.String() + "."
	}
	if v.dropped == 0 {
		fmt.Fprintf(&b, "packet #%d was never sent (the phase's data took fewer packets), so nothing was dropped on purpose", h.req.dropNth)
		return b.String() + "."
	}
	fmt.Fprintf(&b, "packet #%d of the data (%d bytes on the wire, stream 1's data only) was dropped; ", h.req.dropNth, v.dropped)
	if v.vAt < 0 {
		fmt.Fprintf(&b, "stream 1's message %d never arrived (nothing retransmits it)", v.victim+1)
	} else {
		fmt.Fprintf(&b, "stream 1's message %d arrived after %s", v.victim+1, holMs(v.vAt))
	}
	b.WriteString(v.heldNote())
	if n > 0 {
		fmt.Fprintf(&b, "; %s never arrived (stream 1: %d, 2: %d, 3: %d)", holPlural(n, "message"), v.lost[0], v.lost[1], v.lost[2])
	}
	return b.String() + "."
}

// victim is the message of stream 1 the drop hit, and when it arrived (-1: never): the first of
// stream 1's lead that never arrived or arrived late (held until the retransmission); failing
// that, the latest of the lead.
func (h *hol) victim(p *holPhase, best, thresh int64) (int, int64) {
	for m := range max(p.lead, 1) {
		if a := p.at(0, m); a < 0 || a-best >= thresh {
			return m, a
		}
	}
	victim, vAt := -1, int64(-1)
	for m := range max(p.lead, 1) {
		if a := p.at(0, m); a > vAt {
			victim, vAt = m, a
		}
	}
	return victim, vAt
}

// heldNote says whether streams 2 and 3 were held behind stream 1's message that the drop hit.
func (v *holView) heldNote() string {
	switch {
	case v.first[1] < 0 || v.first[2] < 0:
		return "; stream 2 or 3 delivered nothing"
	case v.blocked[1] && v.blocked[2]:
		return fmt.Sprintf(". Streams 2 and 3 waited %s and %s behind stream 1's lost segment: nothing of theirs was delivered before it, their first messages arrived at %s and %s against %s for the run's fastest delivery",
			holMs(v.held[1]), holMs(v.held[2]), holMs(v.first[1]), holMs(v.first[2]), holMs(v.best))
	case v.vAt < 0:
		return fmt.Sprintf(". Streams 2 and 3 were not held behind it: they delivered %d and %d of their messages, the first at %s and %s (the run's fastest delivery: %s)",
			v.before[1], v.before[2], holMs(v.first[1]), holMs(v.first[2]), holMs(v.best))
	case v.before[1] > 0 && v.before[2] > 0:
		return fmt.Sprintf(". Streams 2 and 3 were not held behind it: they delivered %d and %d of their messages before it arrived, the first at %s and %s (the run's fastest delivery: %s)",
			v.before[1], v.before[2], holMs(v.first[1]), holMs(v.first[2]), holMs(v.best))
	case v.before[1] == 0 && v.before[2] == 0 && !v.blocked[1] && !v.blocked[2]:
		return fmt.Sprintf(". The loss was repaired before streams 2 and 3 had delivered anything, too soon to hold them back: their first messages arrived at %s and %s, %s and %s after the run's fastest delivery (%s), under the %s that would count as held",
			holMs(v.first[1]), holMs(v.first[2]), holMs(v.held[1]), holMs(v.held[2]), holMs(v.best), holMs(v.thresh))
	}
	var parts []string
	for s := 1; s < holStreams; s++ {
		switch {
		case v.blocked[s]:
			parts = append(parts, fmt.Sprintf("stream %d waited %s behind it (first message at %s)", s+1, holMs(v.held[s]), holMs(v.first[s])))
		case v.before[s] > 0:
			parts = append(parts, fmt.Sprintf("stream %d delivered %s before it (the first at %s)", s+1, holPlural(v.before[s], "message"), holMs(v.first[s])))
		default:
			parts = append(parts, fmt.Sprintf("stream %d delivered nothing before it but was not held back (first message at %s, %s after the run's fastest delivery)", s+1, holMs(v.first[s]), holMs(v.held[s])))
		}
	}
	return ". Of the other streams, " + strings.Join(parts, "; ")
}

// holMs is µs as milliseconds to 0.1 ms.
func holMs(us int64) string { return fmt.Sprintf("%.1f ms", holMsValue(us)) }

// holMsValue is µs as milliseconds rounded to 0.1 ms: the value of every figure the lesson shows.
func holMsValue(us int64) float64 { return float64(holRound(us)/100) / 10 }

func holPlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
