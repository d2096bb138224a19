// Package probe is `wireplay probe`: it sends numbered messages over one transport to a wireplay
// server's echo endpoint and reports each message's round trip time, then a summary (percentiles,
// loss, reordering), as text or as JSON lines. It lets anyone try QUIC without a browser.
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/observe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// Options say what to probe.
type Options struct {
	Transport protocol.Transport
	Addr      string // host:port of the endpoint; for ws also a ws:// URL; for unix the socket's path
	Count     int
	Size      int
	// Interval paces the sends: message i is sent i×Interval after the first, whether or not
	// earlier ones were echoed, with at most Window awaiting their echo (or their loss) at once.
	// 0 waits for each echo (or its loss) before sending the next.
	Interval time.Duration
	// Window bounds the messages sent and not yet echoed or lost, with Interval (default
	// DefaultWindow): a send waits while Window are outstanding.
	Window      int
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

// DefaultWindow is Options.Window when not set.
const DefaultWindow = 256

// Result is one message's outcome.
type Result struct {
	Type      string `json:"type"` // "message"
	Msg       uint64 `json:"msg"`
	Bytes     int    `json:"bytes"`
	RTTMicros int64  `json:"rtt_us,omitempty"`
	Lost      bool   `json:"lost,omitempty"`
	Reads     int    `json:"reads"` // read calls that returned part of this message
	// SentMicros is when the message was written, in µs from the first message's write.
	SentMicros int64 `json:"sent_us"`
}

// Summary is the whole run.
type Summary struct {
	Type            string             `json:"type"` // "summary"
	Transport       protocol.Transport `json:"transport"`
	Addr            string             `json:"addr"`
	HandshakeMicros int64              `json:"handshake_us"`
	// Handshake says what HandshakeMicros covers ("none" for UDP: no handshake, no time).
	Handshake  string          `json:"handshake,omitempty"`
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
	// quic-go's "packets lost" (quic-stream, quic-dgram), the client's side of the connection.
	// quic-go counts only packets declared lost by acknowledgement, not losses repaired after a
	// probe timeout: QUICRecovery has those.
	TCPRetransmissions *uint32 `json:"tcp_retransmissions,omitempty"`
	QUICPacketsLost    *uint64 `json:"quic_packets_lost,omitempty"`
	// QUICRecovery is how the QUIC connection's endpoints recovered from loss, each from its
	// own qlog events: the client's always, the server's with Link (where it runs in-process).
	QUICRecovery *protocol.QUICRecoveryStats `json:"quic_recovery,omitempty"`
	quicPort     uint16                      // the QUIC connection's client port, for QUICRecovery
	// Link describes the emulated link and what it did, with Options.Link.
	Link *LinkSummary `json:"link,omitempty"`
	// IntervalMicros and Window are the pacing of the sends (Options.Interval, Options.Window;
	// window 1 with no interval).
	IntervalMicros int64 `json:"interval_us"`
	Window         int   `json:"window"`
	// TimedOut says the probe's context ended (its deadline passed) before every message was
	// echoed or lost; Interrupted that it was cancelled. The figures are then those so far, and
	// Sent − Received − Lost messages were still awaiting their echo.
	TimedOut    bool `json:"timed_out,omitempty"`
	Interrupted bool `json:"interrupted,omitempty"`
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
	case protocol.Unix:
		tg.Unix = addr
	}
	return tg
}

// Validate checks o's values, naming the flag of `wireplay probe` at fault ("--count 0: must
// be at least 1"). Run calls it; a command can call it first to tell a usage error from a failed
// probe.
func (o Options) Validate() error {
	switch {
	case !o.Transport.Valid() && o.Transport != protocol.Unix:
		return fmt.Errorf("--transport %q: want one of tcp, udp, quic-stream, quic-dgram, ws, unix", o.Transport)
	case o.Transport == protocol.Unix && o.Link != nil:
		return fmt.Errorf("--transport unix: a Unix socket cannot cross the emulated link (--link)")
	case o.Transport == protocol.Unix && o.Addr == "":
		return fmt.Errorf("--transport unix: --addr must be the socket's path (wireplay serve --unix-path)")
	case o.Count < 1:
		return fmt.Errorf("--count %d: must be at least 1", o.Count)
	case o.Size < 1:
		return fmt.Errorf("--size %d: must be at least 1", o.Size)
	case o.Interval < 0:
		return fmt.Errorf("--interval %v: must be at least 0", o.Interval)
	case o.Window < 0:
		return fmt.Errorf("--window %d: must be at least 1", o.Window)
	case o.LossTimeout < 0:
		return fmt.Errorf("--loss-timeout %v: must be more than 0", o.LossTimeout)
	}
	if o.Link != nil {
		if _, err := linkspec.Resolve(o.Link.Spec, ""); err != nil {
			return err
		}
	}
	return nil
}

// Run probes and writes one line per message and a summary to out. When ctx ends first, the
// summary so far is written too (Summary.TimedOut or Interrupted) and the error is ctx's.
func Run(ctx context.Context, o Options, out io.Writer) (Summary, error) {
	if err := o.Validate(); err != nil {
		return Summary{}, err
	}
	if o.Network == nil {
		o.Network = netx.Kernel
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	var qlog *transports.QLog
	if o.QLogDir != "" {
		if err := os.MkdirAll(o.QLogDir, 0o755); err != nil {
			return Summary{}, fmt.Errorf("qlog: %w", err)
		}
		qlog = &transports.QLog{Dir: o.QLogDir}
	}
	// rec counts the QUIC connection's loss recovery from its qlog events (both sides' with
	// Link, where the server is this process's).
	rec := observe.NewQUIC()
	tracer := transports.JoinTracers(rec.Tracer, nil)
	if qlog != nil {
		tracer = transports.JoinTracers(rec.Tracer, qlog.Tracer)
	}
	if o.Link != nil {
		return runLink(ctx, o, tracer, rec, qlog, out)
	}
	tg := Target(o.Transport, o.Addr)
	tg.QUICConfig = transports.QUICOptions{Tracer: tracer}.QUICConfig()
	sum, err := probe(ctx, o, tg, rec, out)
	waitQLog(qlog)
	sum.addRecovery(rec)
	if err != nil && !sum.stopped() {
		return sum, err
	}
	return sum, errors.Join(err, emitSummary(out, o.JSON, sum))
}

// addRecovery fills in QUICRecovery once the QUIC connection has closed, so that its counts
// are the whole connection's (what its qlog files hold).
func (s *Summary) addRecovery(rec *observe.QUIC) {
	if s.quicPort == 0 {
		return
	}
	if r, ok := rec.Recovery(s.quicPort); ok {
		s.QUICRecovery = &r
	}
}

// stopped says the probe's context ended before the probe did.
func (s Summary) stopped() bool { return s.TimedOut || s.Interrupted }

// waitQLog waits (at most 5 s) until every trace has ended and its file is written: the server's
// side ends on its own goroutine, after the probe has closed the echo.
func waitQLog(q *transports.QLog) {
	if q == nil {
		return
	}
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for _, t := range q.Traces() {
		select {
		case <-t.Done():
		case <-timeout.C:
			return
		}
	}
}

// probe runs the probe against tg over o.Network and returns the summary, not yet written: when
// ctx ends first, the summary so far with ctx's error.
func probe(ctx context.Context, o Options, tg transports.Target, rec *observe.QUIC, out io.Writer) (Summary, error) {
	p := &probeRun{
		o:       o,
		rec:     rec,
		out:     out,
		sum:     Summary{Type: "summary", Transport: o.Transport, Addr: o.Addr, IntervalMicros: o.Interval.Microseconds(), Window: 1},
		events:  make(chan protocol.Event, 1024),
		results: map[uint64]*Result{},
	}
	if o.Interval > 0 {
		p.sum.Window = o.Window
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
		return p.finish(ctx, nil, err)
	}
	defer c.Close()
	err = p.sendAll(ctx, c)
	if err == nil {
		err = p.wait(ctx, func() bool { return p.settled == p.sum.Sent })
	}
	return p.finish(ctx, c, err)
}

// finish completes the summary after the probe ended with err (nil, or ctx's when it ended
// first); c is nil when it never connected.
func (p *probeRun) finish(ctx context.Context, c *transports.Client, err error) (Summary, error) {
	if err != nil && ctx.Err() == nil {
		return p.sum, err
	}
	if ctxErr := ctx.Err(); err != nil && ctxErr != nil {
		p.sum.TimedOut = errors.Is(ctxErr, context.DeadlineExceeded)
		p.sum.Interrupted = !p.sum.TimedOut
		err = ctxErr
	}
	var stats *protocol.Stats
	if c != nil {
		stats = c.Stats()
		if ap, err := netip.ParseAddrPort(c.LocalAddr().String()); err == nil && stats != nil && stats.QUIC != nil {
			p.sum.quicPort = ap.Port()
		}
	}
	p.summarize(stats)
	return p.sum, err
}

// probeRun is one probe's state: the summary so far, each message's result, and the round trips
// of those that came back.
type probeRun struct {
	o      Options
	out    io.Writer
	rec    *observe.QUIC // the QUIC connection's recovery, from its qlog events
	sum    Summary
	events chan protocol.Event // the client's events, in order

	results  map[uint64]*Result
	rtts     []int64 // µs, of the messages echoed
	lastDone uint64  // highest message number echoed so far
	settled  int     // messages echoed or lost
}

// sendAll sends o.Count numbered messages, handling events in between: with no o.Interval each
// after the previous one settled; with it, message i at i×o.Interval after the first (later if
// o.Window messages are outstanding, then catching up), whether or not the earlier ones came back.
func (p *probeRun) sendAll(ctx context.Context, c *transports.Client) error {
	window := 1
	if p.o.Interval > 0 {
		window = p.o.Window
	}
	var first time.Time
	for i, m := range transports.Numbered(p.o.Count, p.o.Size) {
		if i > 0 && p.o.Interval > 0 {
			if err := p.waitUntil(ctx, first.Add(time.Duration(i)*p.o.Interval)); err != nil {
				return err
			}
		}
		if err := p.wait(ctx, func() bool { return p.sum.Sent-p.settled < window }); err != nil {
			return err
		}
		at := time.Now()
		if i == 0 {
			first = at
		}
		n, err := c.Send(0, m)
		if err != nil {
			return err
		}
		p.results[n] = &Result{Type: "message", Msg: n, Bytes: len(m), SentMicros: at.Sub(first).Microseconds()}
		p.sum.Sent++
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

// waitUntil handles events until the time at, an event fails the probe, or ctx ends.
func (p *probeRun) waitUntil(ctx context.Context, at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e := <-p.events:
			if err := p.handle(e); err != nil {
				return err
			}
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
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
	case protocol.EventError: // the client's own, naming the transport ("send udp: …")
		return errors.New(e.Error)
	case protocol.EventClosed:
		return fmt.Errorf("%s connection closed: %s", p.o.Transport, e.Error)
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

// recoveryText is one QUIC endpoint's recovery, as the summary prints it.
func recoveryText(side string, r *protocol.QUICRecovery) string {
	return fmt.Sprintf("QUIC recovery, %s (its qlog): %d packets sent, %d probe timeouts (PTO) expired, %d STREAM frames sent again, %d packets declared lost by acknowledgement\n",
		side, r.PacketsSent, r.PTOExpiries, r.StreamFramesResent, r.PacketsDeclaredLost)
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
	if s.IntervalMicros > 0 {
		fmt.Fprintf(&b, "sends paced every %v, at most %d awaiting their echo\n", time.Duration(s.IntervalMicros)*time.Microsecond, s.Window)
	}
	if s.TCPRetransmissions != nil {
		fmt.Fprintf(&b, "stack: %d TCP retransmissions (TCP_INFO, client side)\n", *s.TCPRetransmissions)
	}
	if s.QUICPacketsLost != nil && s.QUICRecovery == nil {
		fmt.Fprintf(&b, "stack: %d QUIC packets declared lost by acknowledgement (quic-go's \"packets lost\", client side; losses repaired after a probe timeout are not in it)\n", *s.QUICPacketsLost)
	}
	if r := s.QUICRecovery; r != nil {
		b.WriteString(recoveryText("client", &r.Client))
		if r.Server != nil {
			b.WriteString(recoveryText("server", r.Server))
		} else {
			b.WriteString("QUIC recovery, server: not known (its qlog is the server's own)\n")
		}
	}
	if l := s.Link; l != nil {
		b.WriteString(l.text())
	}
	if s.stopped() {
		why := "timed out"
		if s.Interrupted {
			why = "interrupted"
		}
		if s.Sent == 0 {
			fmt.Fprintf(&b, "%s before the first message was sent\n", why)
		} else {
			fmt.Fprintf(&b, "%s: the figures are those so far; %d of %d sent were still awaiting their echo\n", why, s.Sent-s.Received-s.Lost, s.Sent)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
