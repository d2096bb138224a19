package observe

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
)

// Defaults and bounds of a Stream.
const (
	DefaultDelay   = 20 * time.Millisecond // packets and samples are coalesced this long
	DefaultBuffer  = 4096                  // packets waiting for the next batch; more are skipped
	MaxBatch       = 60                    // packets in one "packets" event
	maxBatchBytes  = 20 << 10              // and their estimated encoded size
	maxSamples     = 150                   // metric samples in one "metrics" event
	SampleInterval = 20 * time.Millisecond // at most one metric sample per transport this often
)

// Config says where a Stream's events go and how it attributes packets.
type Config struct {
	// Epoch is the time base: packet times and event times are counted from it.
	Epoch time.Time
	// Emit receives the events, one at a time, from the Stream's own goroutines (never from
	// the link's); Flush, when set, is called after each batch of events.
	Emit  func(protocol.Event)
	Flush func()
	// Attribute tells which transport a packet belongs to and its client-side port; packets
	// for which it says false are not shown. It runs on the link's goroutines, so it must be
	// quick. Nil is ByProtocol.
	Attribute func(p *link.Packet) (t protocol.Transport, clientPort uint16, ok bool)
	// QUIC, when set, gives QUIC packets their packet numbers and frames.
	QUIC *QUIC
	// Busy, when set and true at the time of a batch, skips the batch (counted in the next
	// event's Skipped): the reader is behind.
	Busy func() bool
	// Delay is how long packets are coalesced (DefaultDelay when 0); Buffer how many may wait
	// (DefaultBuffer when 0); Limit, when not 0, how many the Stream passes on in all.
	Delay  time.Duration
	Buffer int
	Limit  int
}

// A Stream turns link packets and metric samples into "packets" and "metrics" events. Add and
// AddSample never block beyond a short lock; what cannot be passed on in time is skipped and
// counted. Every packet, shown or not, keeps the flows' sequence state right.
type Stream struct {
	cfg Config

	mu       sync.Mutex
	pkts     []pending
	skipped  uint64
	accepted int
	samples  []protocol.MetricSample
	last     map[protocol.Transport]time.Time
	held     map[protocol.Transport]protocol.MetricSample // rate-limited, sent when due
	timer    *time.Timer
	armed    bool
	stopped  bool

	flows Flows // every attributed packet, shown or not

	proc    sync.Mutex // one batch at a time, in order
	tracker tracker    // proc held
}

type pending struct {
	p    link.Packet
	t    protocol.Transport
	port uint16 // client side
}

// New returns a Stream; stop it with Stop.
func New(cfg Config) *Stream {
	if cfg.Attribute == nil {
		cfg.Attribute = ByProtocol
	}
	if cfg.Delay <= 0 {
		cfg.Delay = DefaultDelay
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	return &Stream{cfg: cfg}
}

// Add queues a link packet (it is a link.Link.OnPacket hook); its payload is not kept.
func (s *Stream) Add(p link.Packet) {
	t, port, ok := s.cfg.Attribute(&p)
	if !ok {
		return
	}
	s.flows.Add(t, port, &p)
	p.Data = nil
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if len(s.pkts) >= s.cfg.Buffer || (s.cfg.Limit > 0 && s.accepted >= s.cfg.Limit) {
		s.skipped++
		return
	}
	s.accepted++
	s.pkts = append(s.pkts, pending{p, t, port})
	s.armLocked()
}

// Flow is what the link did to the packets of transport t's connection whose client side is
// clientPort, per direction, counted from every packet the Stream was given (skipped ones too).
func (s *Stream) Flow(t protocol.Transport, clientPort uint16) (protocol.FlowCounts, bool) {
	return s.flows.Get(t, clientPort)
}

// AddSample queues a metric sample, at most one per transport every SampleInterval unless
// final; a sample held back is sent when due, so the latest reading always arrives.
func (s *Stream) AddSample(m protocol.MetricSample, final bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if s.last == nil {
		s.last = map[protocol.Transport]time.Time{}
		s.held = map[protocol.Transport]protocol.MetricSample{}
	}
	if !final && now.Sub(s.last[m.Transport]) < SampleInterval {
		s.held[m.Transport] = m
	} else {
		s.last[m.Transport] = now
		delete(s.held, m.Transport)
		s.samples = append(s.samples, m)
	}
	s.armLocked()
}

// armLocked makes sure a batch will be sent; s.mu held.
func (s *Stream) armLocked() {
	if s.armed || s.stopped {
		return
	}
	s.armed = true
	if s.timer == nil {
		s.timer = time.AfterFunc(s.cfg.Delay, s.flush)
	} else {
		s.timer.Reset(s.cfg.Delay)
	}
}

// Stop passes on what is pending (and the count of what was skipped); after it, Emit is not
// called again.
func (s *Stream) Stop() {
	s.proc.Lock()
	defer s.proc.Unlock()
	s.flushLocked(true)
	s.mu.Lock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
}

func (s *Stream) flush() {
	s.proc.Lock()
	defer s.proc.Unlock()
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if !stopped {
		s.flushLocked(false)
	}
}

// take empties what is pending, with the held samples now due; s.mu not held.
func (s *Stream) take() ([]pending, uint64, []protocol.MetricSample) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	pkts, skipped, samples := s.pkts, s.skipped, s.samples
	s.pkts, s.skipped, s.samples = nil, 0, nil
	for t, m := range s.held {
		if now.Sub(s.last[t]) >= SampleInterval {
			samples = append(samples, m)
			s.last[t] = now
			delete(s.held, t)
		}
	}
	s.armed = false
	if len(s.held) > 0 {
		s.armLocked()
	}
	return pkts, skipped, samples
}

// unskip counts n packets skipped again, to be reported with the next event.
func (s *Stream) unskip(n uint64) {
	s.mu.Lock()
	s.skipped += n
	s.mu.Unlock()
}

// flushLocked sends what is pending; final reports the skipped count even without packets.
// s.proc held.
func (s *Stream) flushLocked(final bool) {
	pkts, skipped, samples := s.take()
	at := time.Since(s.cfg.Epoch).Microseconds()
	infos := s.describe(pkts)
	busy := s.cfg.Busy != nil && s.cfg.Busy()
	if busy {
		skipped += uint64(len(infos))
		infos = nil
	}
	sent := false
	switch {
	case len(infos) > 0 || (final && skipped > 0):
		s.emitPackets(at, infos, skipped)
		sent = true
	case skipped > 0:
		s.unskip(skipped) // reported with the next packets
	}
	if len(samples) > 0 && !busy {
		for len(samples) > 0 {
			n := min(len(samples), maxSamples)
			s.cfg.Emit(protocol.Event{Type: protocol.EventMetrics, AtMicros: at, Metrics: samples[:n:n]})
			samples = samples[n:]
		}
		sent = true
	}
	if sent && s.cfg.Flush != nil {
		s.cfg.Flush()
	}
}

// describe turns packets into their page form, in link order.
func (s *Stream) describe(pkts []pending) []protocol.PacketInfo {
	if len(pkts) == 0 {
		return nil
	}
	slices.SortFunc(pkts, func(a, b pending) int { return cmp.Compare(a.p.Seq, b.p.Seq) })
	infos := make([]protocol.PacketInfo, len(pkts))
	for i := range pkts {
		pk := &pkts[i]
		infos[i] = s.tracker.info(&pk.p, pk.t, pk.port, s.cfg.Epoch)
		if s.cfg.QUIC != nil {
			s.cfg.QUIC.annotate(&infos[i], &pk.p, pk.port)
		}
	}
	return infos
}

// emitPackets sends infos in events of at most MaxBatch packets (and maxBatchBytes), the
// first carrying the skipped count; with no packets, one event carries only the count.
func (s *Stream) emitPackets(at int64, infos []protocol.PacketInfo, skipped uint64) {
	for first := true; first || len(infos) > 0; first = false {
		n, size := 0, 0
		for n < len(infos) && n < MaxBatch && size < maxBatchBytes {
			size += 160 + len(infos[n].Summary)
			n++
		}
		s.cfg.Emit(protocol.Event{Type: protocol.EventPackets, AtMicros: at, Packets: infos[:n:n], Skipped: skipped})
		infos, skipped = infos[n:], 0
	}
}
