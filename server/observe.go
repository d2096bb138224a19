package server

import (
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/observe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// maxObserveBacklog is how many bytes may wait in a session's queue before its packet events
// (the Messages view's and its lessons') are skipped, and counted, until the browser catches up.
const maxObserveBacklog = 1 << 20

// newObserver is the stream of what a session's link shows — its packets and the congestion
// control samples of the session's TCP and QUIC connections — as "packets" and "metrics"
// events. It never blocks the link or quic-go: what the browser cannot take is skipped and
// counted.
func (s *session) newObserver(attribute func(*link.Packet) (protocol.Transport, uint16, bool), q *observe.QUIC) *observe.Stream {
	return observe.New(observe.Config{
		Epoch:     s.epoch,
		Emit:      s.send,
		Flush:     s.flush,
		Busy:      s.observeBusy,
		Attribute: attribute,
		QUIC:      q,
	})
}

// observeBusy says the browser is too far behind for packet events.
func (s *session) observeBusy() bool { return s.backlog() > maxObserveBacklog }

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
	if !lk.setSampling(true) {
		return
	}
	lk.wg.Go(func() {
		tick := time.NewTicker(observe.SampleInterval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-c.Done():
				lk.setSampling(false)
				return
			case <-lk.ctx.Done():
				lk.setSampling(false)
				return
			}
			if m, ok := tcpSample(lk.s.epoch, c.Stats()); ok {
				o.AddSample(m, false)
			}
			if lk.s.inFlight(protocol.TCP) > 0 {
				continue
			}
			lk.setSampling(false)
			// A send that found the sampler running just as it stopped needs it again.
			if lk.s.inFlight(protocol.TCP) == 0 || !lk.setSampling(true) {
				return
			}
		}
	})
}

// setSampling marks the TCP sampler running (reporting false if it already was, or the link
// mode has ended) or stopped.
func (lk *linkMode) setSampling(on bool) bool {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if on && (lk.sampling || lk.ctx.Err() != nil) {
		return false
	}
	lk.sampling = on
	return true
}

// qlogConfig is the quic-go configuration of a QUIC dial over the link: its qlog is kept as the
// session's latest trace for t, its metric updates become samples, and every event is passed
// to also (when set).
func (s *session) qlogConfig(t protocol.Transport, o *observe.Stream, also func(*transports.QLogTrace, qlogwriter.Event)) *quic.Config {
	q := &transports.QLog{MaxEvents: qlogMaxEvents, MaxBytes: qlogTraceBytes(s.r.cfg), OnEvent: func(tr *transports.QLogTrace, ev qlogwriter.Event) {
		if also != nil {
			also(tr, ev)
		}
		m, ok := ev.(qlog.MetricsUpdated)
		if !ok || !tr.IsClient || (m.CongestionWindow == 0 && m.SmoothedRTT == 0) {
			return
		}
		o.AddSample(protocol.MetricSample{Transport: t, AtMicros: time.Since(s.epoch).Microseconds(),
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
