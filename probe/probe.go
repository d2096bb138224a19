// Package probe is `wireplay probe`: it sends numbered messages over one transport to a wireplay
// server's echo endpoint and reports each message's round trip time, then a summary (percentiles,
// loss, reordering), as text or as JSON lines. It lets anyone try QUIC without a browser.
package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// Options say what to probe.
type Options struct {
	Transport protocol.Transport
	Addr      string // host:port of the endpoint; for ws also a ws:// URL
	Count     int
	Size      int
	// Interval between sends; 0 waits for each echo (or its loss) before sending the next.
	Interval    time.Duration
	LossTimeout time.Duration // default 1 s
	JSON        bool
	Network     netx.Network // default netx.Kernel; ignored with Link
	// Link, when set, runs both ends in this process across an emulated link (package link):
	// wireplay's echo endpoints on the link's server host, the probe on its client host. Addr is
	// then ignored.
	Link *LinkOptions
	// QLogDir, when set, receives a qlog (JSON-SEQ, <odcid>_client.sqlog; with Link also
	// _server.sqlog) of every QUIC connection.
	QLogDir string
}

// Result is one message's outcome.
type Result struct {
	Type      string `json:"type"` // "message"
	Msg       uint64 `json:"msg"`
	Bytes     int    `json:"bytes"`
	RTTMicros int64  `json:"rtt_us,omitempty"`
	Lost      bool   `json:"lost,omitempty"`
	Reads     int    `json:"reads"` // read calls that returned part of this message
}

// Summary is the whole run.
type Summary struct {
	Type            string             `json:"type"` // "summary"
	Transport       protocol.Transport `json:"transport"`
	Addr            string             `json:"addr"`
	HandshakeMicros int64              `json:"handshake_us"`
	// Handshake says what HandshakeMicros covers ("none" for UDP: no handshake, no time).
	Handshake string `json:"handshake,omitempty"`
	// TimedOut says the run hit --timeout: the figures cover the messages settled by then.
	TimedOut   bool            `json:"timed_out,omitempty"`
	Sent       int             `json:"sent"`
	Received   int             `json:"received"`
	Lost       int             `json:"lost"`
	OutOfOrder int             `json:"out_of_order"`
	Duplicated int             `json:"duplicated"`
	P50Micros  int64           `json:"p50_us"`
	P99Micros  int64           `json:"p99_us"`
	MinMicros  int64           `json:"min_us"`
	MaxMicros  int64           `json:"max_us"`
	Stats      *protocol.Stats `json:"stats,omitempty"`
	// The stack's own loss counters, from Stats: TCP_INFO's total retransmissions (tcp) and
	// quic-go's packets lost (quic-stream, quic-dgram); the client's side of the connection.
	TCPRetransmissions *uint32 `json:"tcp_retransmissions,omitempty"`
	QUICPacketsLost    *uint64 `json:"quic_packets_lost,omitempty"`
	// Link describes the emulated link and what it did, with Options.Link.
	Link *LinkSummary `json:"link,omitempty"`
}

// Target builds the transports.Target for one endpoint address.
func Target(t protocol.Transport, addr string) transports.Target {
	var tg transports.Target
	switch t {
	case protocol.TCP:
		tg.TCP = addr
	case protocol.UDP:
		tg.UDP = addr
	case protocol.QUICStream, protocol.QUICDgram:
		tg.QUIC = addr
	case protocol.WS:
		tg.WS = addr
		if !strings.Contains(addr, "://") {
			tg.WS = "ws://" + addr + "/ws/echo"
		}
	}
	return tg
}

// Run probes and writes one line per message and a summary to out.
func Run(ctx context.Context, o Options, out io.Writer) (Summary, error) {
	if !o.Transport.Valid() {
		return Summary{}, fmt.Errorf("unknown transport %q (want one of tcp, udp, quic-stream, quic-dgram, ws)", o.Transport)
	}
	if o.Count < 1 || o.Size < 1 {
		return Summary{}, fmt.Errorf("--count and --size must be at least 1")
	}
	if o.Network == nil {
		o.Network = netx.Kernel
	}
	var qlog *transports.QLog
	if o.QLogDir != "" {
		if err := os.MkdirAll(o.QLogDir, 0o755); err != nil {
			return Summary{}, fmt.Errorf("qlog: %w", err)
		}
		qlog = &transports.QLog{Dir: o.QLogDir}
	}
	if o.Link != nil {
		return runLink(ctx, o, qlog, out)
	}
	tg := Target(o.Transport, o.Addr)
	if qlog != nil {
		tg.QUICConfig = transports.QUICOptions{Tracer: qlog.Tracer}.QUICConfig()
	}
	sum, err := probe(ctx, o, tg, out)
	waitQLog(qlog)
	if err != nil && !sum.TimedOut {
		return sum, err
	}
	return sum, errors.Join(emitSummary(out, o.JSON, sum), err)
}

// waitQLog waits (at most a second) until every trace has been written out to its close.
func waitQLog(q *transports.QLog) {
	if q == nil {
		return
	}
	deadline := time.Now().Add(time.Second)
	for _, t := range q.Traces() {
		for !bytes.Contains(t.Bytes(), []byte("connection_closed")) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// probe runs the probe against tg over o.Network and returns the summary, not yet written.
func probe(ctx context.Context, o Options, tg transports.Target, out io.Writer) (Summary, error) {
	p := &probeRun{
		o:       o,
		out:     out,
		sum:     Summary{Type: "summary", Transport: o.Transport, Addr: o.Addr},
		events:  make(chan protocol.Event, 1024),
		results: map[uint64]*Result{},
	}
	c, err := transports.Dial(ctx, o.Network, o.Transport, tg, transports.ClientOptions{
		LossTimeout: o.LossTimeout,
		Emit: func(e protocol.Event) {
			if e.Type == protocol.EventConnected {
				p.sum.HandshakeMicros, p.sum.Handshake = e.DurMicros, e.Handshake
			}
			select {
			case p.events <- e:
			case <-ctx.Done():
			}
		},
	})
	if err != nil {
		return p.sum, err
	}
	defer c.Close()

	err = p.sendAll(ctx, c)
	if err == nil {
		err = p.wait(ctx, func() bool { return p.settled == p.sum.Sent })
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return p.sum, err
	}
	p.summarize(c.Stats())
	if err != nil {
		// --timeout: what was measured so far is still the run's summary.
		p.sum.TimedOut = true
		return p.sum, fmt.Errorf("timed out: %d of %d messages sent, %d settled (the summary covers those)", p.sum.Sent, p.o.Count, p.settled)
	}
	return p.sum, nil
}

// probeRun is one probe's state: the summary so far, each message's result, and the round trips
// of those that came back.
type probeRun struct {
	o      Options
	out    io.Writer
	sum    Summary
	events chan protocol.Event // the client's events, in order

	results  map[uint64]*Result
	rtts     []int64 // µs, of the messages echoed
	lastDone uint64  // highest message number echoed so far
	settled  int     // messages echoed or lost
}

// sendAll sends o.Count numbered messages: each after the previous one settled, or with
// o.Interval, every o.Interval, handling events in between.
func (p *probeRun) sendAll(ctx context.Context, c *transports.Client) error {
	msgs := transports.Numbered(p.o.Count, p.o.Size)
	for i, m := range msgs {
		n, err := c.Send(0, m)
		if err != nil {
			return err
		}
		p.results[n] = &Result{Type: "message", Msg: n, Bytes: len(m)}
		p.sum.Sent++
		if p.o.Interval == 0 {
			if err := p.wait(ctx, func() bool { return p.settled == i+1 }); err != nil {
				return err
			}
			continue
		}
		timer := time.NewTimer(p.o.Interval)
		err = p.wait(ctx, func() bool {
			select {
			case <-timer.C:
				return true
			default:
				return false
			}
		})
		timer.Stop()
		if err != nil {
			return err
		}
	}
	return nil
}

// wait handles events until until reports true, an event fails the probe, or ctx ends.
func (p *probeRun) wait(ctx context.Context, until func() bool) error {
	for !until() {
		select {
		case e := <-p.events:
			if err := p.handle(e); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// handle takes one client event into the results and the summary, writing a message's line when
// it settles (echoed or lost; only the first settling counts).
func (p *probeRun) handle(e protocol.Event) error {
	switch e.Type {
	case protocol.EventRead:
		for _, m := range e.Msgs {
			if r := p.results[m]; r != nil {
				r.Reads++
			}
		}
	case protocol.EventComplete, protocol.EventLost:
		r := p.results[e.Msg]
		if r == nil || r.RTTMicros != 0 || r.Lost {
			return nil
		}
		p.settled++
		if e.Type == protocol.EventLost {
			r.Lost = true
			p.sum.Lost++
		} else {
			r.RTTMicros = e.DurMicros
			p.rtts = append(p.rtts, e.DurMicros)
			p.sum.Received++
			if e.Msg < p.lastDone {
				p.sum.OutOfOrder++
			}
			p.lastDone = max(p.lastDone, e.Msg)
		}
		return emitLine(p.out, p.o.JSON, r)
	case protocol.EventError, protocol.EventClosed:
		return fmt.Errorf("probe %s: %s", p.o.Transport, e.Error)
	}
	return nil
}

// summarize completes the summary with the client's stats and the round trips' percentiles.
func (p *probeRun) summarize(stats *protocol.Stats) {
	p.sum.Stats = stats
	if s := stats; s != nil {
		if s.Seq != nil {
			p.sum.Duplicated = int(s.Seq.Duplicated)
		}
		if s.TCP != nil {
			p.sum.TCPRetransmissions = &s.TCP.TotalRetrans
		}
		if s.QUIC != nil {
			p.sum.QUICPacketsLost = &s.QUIC.PacketsLost
		}
	}
	slices.Sort(p.rtts)
	if rtts := p.rtts; len(rtts) > 0 {
		p.sum.P50Micros = percentile(rtts, 0.50)
		p.sum.P99Micros = percentile(rtts, 0.99)
		p.sum.MinMicros, p.sum.MaxMicros = rtts[0], rtts[len(rtts)-1]
	}
}

// percentile of sorted values, nearest rank.
func percentile(sorted []int64, p float64) int64 {
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func emitLine(w io.Writer, asJSON bool, r *Result) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	if r.Lost {
		_, err := fmt.Fprintf(w, "msg %-5d %6d B  lost\n", r.Msg, r.Bytes)
		return err
	}
	_, err := fmt.Fprintf(w, "msg %-5d %6d B  rtt %8.3f ms  reads %d\n", r.Msg, r.Bytes, float64(r.RTTMicros)/1000, r.Reads)
	return err
}

func emitSummary(w io.Writer, asJSON bool, s Summary) error {
	if asJSON {
		return json.NewEncoder(w).Encode(s)
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	var b strings.Builder
	hs := fmt.Sprintf("%.3f ms (%s)", ms(s.HandshakeMicros), s.Handshake)
	if s.Handshake == protocol.HandshakeNone {
		hs = "none"
	}
	fmt.Fprintf(&b, "\n%s %s: handshake %s; %d sent, %d received, %d lost, %d out of order, %d duplicated\nrtt p50 %.3f ms, p99 %.3f ms, min %.3f ms, max %.3f ms\n",
		s.Transport, s.Addr, hs, s.Sent, s.Received, s.Lost, s.OutOfOrder, s.Duplicated,
		ms(s.P50Micros), ms(s.P99Micros), ms(s.MinMicros), ms(s.MaxMicros))
	if s.TCPRetransmissions != nil {
		fmt.Fprintf(&b, "stack: %d TCP retransmissions (TCP_INFO, client side)\n", *s.TCPRetransmissions)
	}
	if s.QUICPacketsLost != nil {
		fmt.Fprintf(&b, "stack: %d QUIC packets lost (quic-go, client side)\n", *s.QUICPacketsLost)
	}
	if l := s.Link; l != nil {
		b.WriteString(l.text())
	}
	_, err := io.WriteString(w, b.String())
	return err
}
