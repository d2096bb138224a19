package server

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/scenarios"
	"github.com/wireplay/wireplay/transports"
)

const (
	observeDelay      = 20 * time.Millisecond // packets and samples are coalesced this long
	maxPendingPackets = 4096                  // packets waiting for the next batch; more are skipped
	packetsPerEvent   = 60                    // packets in one "packets" event
	packetEventBytes  = 20 << 10              // and their estimated encoded size, under MaxEventMessage
	maxObserveBacklog = 1 << 20               // queued bytes beyond which packets are skipped
	sampleEvery       = 20 * time.Millisecond // at most one metric sample per transport this often
)

// observer streams what a session's link shows — its packets and the congestion control
// samples of the session's TCP and QUIC connections — as "packets" and "metrics" events,
// coalesced for observeDelay. It never blocks the link or quic-go: what the browser cannot take
// is skipped and counted.
type observer struct {
	s *session

	mu       sync.Mutex
	pkts     []pendingPacket
	skipped  uint64
	samples  []protocol.MetricSample
	last     map[protocol.Transport]time.Time
	held     map[protocol.Transport]protocol.MetricSample // rate-limited, sent when due
	timer    *time.Timer
	armed    bool
	stopped  bool
	sampling bool // a TCP sampler is running

	proc    sync.Mutex              // one batch at a time, in order
	tracker scenarios.PacketTracker // o.proc held
	quic    *quicPackets            // set before the first packet: QUIC packet numbers and frames
}

type pendingPacket struct {
	p    link.Packet
	t    protocol.Transport
	port uint16 // client side
}

func newObserver(s *session) *observer { return &observer{s: s} }

// armLocked makes sure a batch will be sent; o.mu held.
func (o *observer) armLocked() {
	if o.armed || o.stopped {
		return
	}
	o.armed = true
	if o.timer == nil {
		o.timer = time.AfterFunc(observeDelay, o.flush)
	} else {
		o.timer.Reset(observeDelay)
	}
}

func (o *observer) addPacket(p link.Packet, t protocol.Transport, port uint16) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return
	}
	if len(o.pkts) >= maxPendingPackets {
		o.skipped++
		return
	}
	o.pkts = append(o.pkts, pendingPacket{p, t, port})
	o.armLocked()
}

// addSample queues a metric sample, at most one per transport every sampleEvery unless final; a
// sample held back is sent when due, so the latest reading always arrives.
func (o *observer) addSample(m protocol.MetricSample, final bool) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return
	}
	if o.last == nil {
		o.last = map[protocol.Transport]time.Time{}
		o.held = map[protocol.Transport]protocol.MetricSample{}
	}
	if !final && now.Sub(o.last[m.Transport]) < sampleEvery {
		o.held[m.Transport] = m
	} else {
		o.last[m.Transport] = now
		delete(o.held, m.Transport)
		o.samples = append(o.samples, m)
	}
	o.armLocked()
}

// flush sends what is pending.
func (o *observer) flush() {
	o.proc.Lock()
	defer o.proc.Unlock()
	now := time.Now()
	o.mu.Lock()
	pkts, skipped, samples := o.pkts, o.skipped, o.samples
	o.pkts, o.skipped, o.samples = nil, 0, nil
	for t, m := range o.held {
		if now.Sub(o.last[t]) >= sampleEvery {
			samples = append(samples, m)
			o.last[t] = now
			delete(o.held, t)
		}
	}
	o.armed = false
	if len(o.held) > 0 {
		o.armLocked()
	}
	o.mu.Unlock()

	at := time.Since(o.s.epoch).Microseconds()
	sent := false
	if len(pkts) > 0 {
		slices.SortFunc(pkts, func(a, b pendingPacket) int { return cmp.Compare(a.p.Seq, b.p.Seq) })
		infos := make([]protocol.PacketInfo, len(pkts))
		for i := range pkts {
			// Every packet, shown or not, keeps the flows' state right.
			infos[i] = o.tracker.Info(&pkts[i].p, pkts[i].t, pkts[i].port, o.s.epoch)
			if o.quic != nil && (pkts[i].t == protocol.QUICStream || pkts[i].t == protocol.QUICDgram) {
				o.quic.annotate(&infos[i], &pkts[i].p, pkts[i].port)
			}
		}
		if o.s.backlog() > maxObserveBacklog {
			o.mu.Lock()
			o.skipped += skipped + uint64(len(infos))
			o.mu.Unlock()
		} else {
			for len(infos) > 0 {
				n, size := 0, 0
				for n < len(infos) && n < packetsPerEvent && size < packetEventBytes {
					size += 160 + len(infos[n].Summary)
					n++
				}
				o.s.send(protocol.Event{Type: protocol.EventPackets, AtMicros: at, Packets: infos[:n], Skipped: skipped})
				infos, skipped = infos[n:], 0
			}
			sent = true
		}
	} else if skipped > 0 {
		o.mu.Lock()
		o.skipped += skipped // reported with the next packets
		o.mu.Unlock()
	}
	if len(samples) > 0 && o.s.backlog() <= maxObserveBacklog {
		for len(samples) > 0 {
			n := min(len(samples), 150)
			o.s.send(protocol.Event{Type: protocol.EventMetrics, AtMicros: at, Metrics: samples[:n]})
			samples = samples[n:]
		}
		sent = true
	}
	if sent {
		o.s.flush()
	}
}

// stop sends what is pending and stops the timer.
func (o *observer) stop() {
	o.flush()
	o.mu.Lock()
	o.stopped = true
	if o.timer != nil {
		o.timer.Stop()
	}
	o.mu.Unlock()
}

// tcpSample turns a TCP connection's stats into a metric sample.
func tcpSample(epoch time.Time, st *protocol.Stats) (protocol.MetricSample, bool) {
	if st == nil || st.TCP == nil {
		return protocol.MetricSample{}, false
	}
	mss := st.TCP.MSS
	if mss == 0 {
		mss = 1448
	}
	return protocol.MetricSample{Transport: protocol.TCP, AtMicros: time.Since(epoch).Microseconds(),
		CwndBytes: uint64(st.TCP.Cwnd) * uint64(mss), SRTTMicros: st.TCP.RTTMicros, Source: "tcp_info"}, true
}

// sampleTCP makes sure the TCP connection's congestion window and RTT are sampled every
// sampleEvery while it has messages in flight.
func (lk *linkMode) sampleTCP(c *transports.Client) {
	o := lk.obs
	if !o.setSampling(true) {
		return
	}
	lk.wg.Go(func() {
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-c.Done():
				o.setSampling(false)
				return
			case <-lk.ctx.Done():
				o.setSampling(false)
				return
			}
			if m, ok := tcpSample(lk.s.epoch, c.Stats()); ok {
				o.addSample(m, false)
			}
			if lk.s.inFlight(protocol.TCP) > 0 {
				continue
			}
			o.setSampling(false)
			// A send that found the sampler running just as it stopped needs it again.
			if lk.s.inFlight(protocol.TCP) == 0 || !o.setSampling(true) {
				return
			}
		}
	})
}

// setSampling marks the TCP sampler running (reporting false if it already was, or the observer
// has stopped) or stopped.
func (o *observer) setSampling(on bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if on && (o.sampling || o.stopped) {
		return false
	}
	o.sampling = on
	return true
}

// qlogConfig is the quic-go configuration of a QUIC dial over the link: its qlog is kept as the
// session's latest trace for t, its metric updates become samples, and every event is passed
// to also (when set).
func (s *session) qlogConfig(t protocol.Transport, o *observer, also func(*transports.QLogTrace, qlogwriter.Event)) *quic.Config {
	q := &transports.QLog{OnEvent: func(tr *transports.QLogTrace, ev qlogwriter.Event) {
		if also != nil {
			also(tr, ev)
		}
		m, ok := ev.(qlog.MetricsUpdated)
		if !ok || !tr.IsClient || (m.CongestionWindow == 0 && m.SmoothedRTT == 0) {
			return
		}
		o.addSample(protocol.MetricSample{Transport: t, AtMicros: time.Since(s.epoch).Microseconds(),
			CwndBytes: uint64(max(m.CongestionWindow, 0)), SRTTMicros: m.SmoothedRTT.Microseconds(), Source: "qlog"}, false)
	}}
	s.mu.Lock()
	if s.qlogs == nil {
		s.qlogs = map[protocol.Transport]*transports.QLog{}
	}
	s.qlogs[t] = q
	s.mu.Unlock()
	conf := transports.QUICEchoConfig{}.QUICConfig()
	conf.Tracer = q.Tracer
	return conf
}
