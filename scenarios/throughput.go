package scenarios

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
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
	"github.com/wireplay/wireplay/transports"
)

func init() {
	Register(&Scenario{
		Name:    "throughput",
		Title:   "Throughput under loss",
		Summary: "bulk goodput of TCP, QUIC (one stream) and WebSocket over a grid of loss × RTT, against the Mathis estimate",
		Explain: `A bulk transfer does not go as fast as the wire allows: the sender's congestion control decides how much may be in flight, and every loss it notices halves (or, with cubic, cuts by 30%) that window. So goodput — the application bytes that arrive per second — falls as the loss rate rises, and falls faster the longer the round trip, because the window grows back by about one segment per round trip.

Mathis, Semke, Mahdavi and Ott put this into one line for a long-running Reno flow: goodput ≈ MSS / RTT · 1.22 / √p, where p is the packet loss rate. It is an estimate, not a limit: it models Reno's sawtooth in steady state, while netstack runs cubic with SACK. The dashed curves are that estimate for each round trip, with the MSS netstack's TCP actually puts in a full segment (read off the wire) and the nominal loss; the table's estimate for each point takes the loss the link actually dealt that transfer (its dropped data packets over those sent). The solid curves are what netstack TCP, quic-go and WebSocket (which is TCP underneath) measured here. Each point is a fresh link with the same seed, the loss on the data direction only (so p is the data's loss rate, as in the formula) and the round trip split evenly between the two directions.

Read the curves from left to right: at 0% loss the transfer is limited by slow start and the CPU, not by loss; from 0.5% on the measured points should follow the shape of the bound. Each transfer runs for the time limit (4 s by default, long enough for tens of losses at 0.5%: a 1.2 s transfer saw 3–12 and spent most of its life in slow start), so it reaches the sawtooth the formula describes; a shorter limit shows slow start instead. How far a point sits from the estimate, above or below, is in the conclusion and the table, measured, not assumed: cubic and QUIC's own congestion control grow faster than Reno after a loss and often sit above it. WebSocket tracks TCP: its framing costs a few bytes per message, not a different congestion control.`,
		Preset: "clean",
		Params: []Param{
			{Name: "losses", Label: "loss rates", Kind: KindFloat, List: true, Min: "0", Max: "99.9", Unit: "%", Default: "0,0.5,1,2", Help: "loss rates of the data direction, in percent, comma-separated"},
			{Name: "rtts", Label: "round trips", Kind: KindDuration, List: true, Min: "1ms", Max: "2s", Default: "20ms,50ms", Help: "round-trip times, comma-separated (half each way, added to the preset's delay)"},
			{Name: "bytes", Label: "bytes per transfer", Kind: KindInt, Min: "1", Max: "104857600", Unit: "bytes", Default: "50000000", Help: "bytes each transfer sends at most"},
			{Name: "cap", Label: "time limit per transfer", Kind: KindDuration, Min: "1ms", Max: "30s", Default: "4s", Help: "time limit of one transfer; goodput is over what arrived by then"},
			{Name: "transports", Label: "transports", Kind: KindEnum, List: true, Values: []string{"tcp", "quic", "ws"}, Default: "tcp,quic,ws", Help: "transports to measure: tcp, quic, ws"},
		},
		Run: runThroughput,
	})
}

// tpMSS is TCP's textbook full-segment payload on the link's default MTU (timestamps
// negotiated): the Mathis estimate's MSS only when no TCP transfer ran to read the stack's own.
const tpMSS = link.DefaultMTU - 52

// tpParallel bounds how many grid points run at once: most of a point's time is waiting on the
// link's delay, so several fit on a small machine.
const tpParallel = 12

// tpPoint is one transfer of the grid.
type tpPoint struct {
	transport string
	rtt       time.Duration
	loss      float64 // fraction
	got       int64   // bytes that arrived
	elapsed   time.Duration
	done      bool // all bytes arrived before the cap
	err       error
	// The data direction's packets on the link: sent and dropped (the realised loss), and the
	// largest TCP payload the client sent (0 but for tcp): its MSS.
	sent, dropped uint64
	mss           uint32
}

// realisedLoss is the fraction of the data direction's packets the link dropped.
func (p *tpPoint) realisedLoss() float64 {
	if p.sent == 0 {
		return 0
	}
	return float64(p.dropped) / float64(p.sent)
}

func (p *tpPoint) mbps() float64 {
	if p.elapsed <= 0 {
		return 0
	}
	return float64(p.got) * 8 / p.elapsed.Seconds() / 1e6
}

// tpMathisMbps is the Mathis estimate MSS/RTT · 1.22/√p in Mbit/s; +Inf for p = 0.
func tpMathisMbps(rtt time.Duration, p float64, mss uint32) float64 {
	if p <= 0 {
		return math.Inf(1)
	}
	return float64(mss*8) / rtt.Seconds() * 1.22 / math.Sqrt(p) / 1e6
}

func runThroughput(ctx context.Context, env *Env) (*Result, error) {
	var losses []float64
	for _, pct := range env.Floats("losses") {
		losses = append(losses, pct/100)
	}
	rtts, trs := env.Durations("rtts"), env.Enums("transports")
	total := int64(env.Int("bytes"))
	limit := env.Duration("cap")
	if len(losses)*len(rtts)*len(trs) > 100 {
		return nil, errors.New("throughput: more than 100 grid points")
	}
	serverTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return nil, err
	}

	points := tpGrid(rtts, trs, losses)
	if err := tpMeasure(ctx, env, points, total, limit, serverTLS); err != nil {
		return nil, err
	}
	return tpReport(points, trs, rtts, losses), nil
}

// tpGrid lists the grid's points, RTT outermost, then transport, then loss: the order the
// report's series and table rows follow.
func tpGrid(rtts []time.Duration, trs []string, losses []float64) []*tpPoint {
	var points []*tpPoint
	for _, rtt := range rtts {
		for _, tr := range trs {
			for _, loss := range losses {
				points = append(points, &tpPoint{transport: tr, rtt: rtt, loss: loss})
			}
		}
	}
	return points
}

// tpMeasure runs every point's transfer, at most tpParallel at once, and fills in the points. It
// returns the first failure in grid order.
func tpMeasure(ctx context.Context, env *Env, points []*tpPoint, total int64, limit time.Duration, serverTLS *tls.Config) error {
	sem := make(chan struct{}, tpParallel)
	var wg sync.WaitGroup
	for _, p := range points {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			settings := tpPointSettings(env.Settings, p)
			p.err = tpBulkTransfer(ctx, env, settings, p, total, limit, serverTLS, env.QUICConfig())
		})
	}
	wg.Wait()
	for _, p := range points {
		if p.err != nil {
			return fmt.Errorf("throughput %s at %v RTT, %g%% loss: %w", p.transport, p.rtt, p.loss*100, p.err)
		}
	}
	return nil
}

// tpPointSettings is the link of one point: the preset's, with the point's RTT split evenly
// between the directions, its loss on the data (client-to-server) direction, and no scripted
// drop or blackhole.
func tpPointSettings(base link.Settings, p *tpPoint) link.Settings {
	up, down := base.ClientToServer, base.ServerToClient
	up.Delay += p.rtt / 2
	down.Delay += p.rtt - p.rtt/2
	up.Loss = p.loss
	up.DropNth, down.DropNth = 0, 0
	up.BlackholeFor, down.BlackholeFor = 0, 0
	return link.Settings{ClientToServer: up, ServerToClient: down}
}

// tpReport turns the measured grid into the lesson's result: per RTT, one goodput series per
// transport and the dashed Mathis estimate; one table row and one metric per point; the conclusion.
func tpReport(points []*tpPoint, trs []string, rtts []time.Duration, losses []float64) *Result {
	res := &Result{}
	const chart = "Goodput vs loss"
	mss := tpStackMSS(points)
	res.Metrics = append(res.Metrics, Metric{Transport: "tcp", Name: "mss", Unit: "bytes", Value: float64(mss)})
	tbl := Table{Title: "Goodput per grid point", Columns: []string{"transport", "RTT", "loss", "realised loss", "arrived", "time", "goodput", "Mathis estimate"}}
	for _, rtt := range rtts {
		for _, tr := range trs {
			s := Series{Chart: chart, Name: fmt.Sprintf("%s %v", tr, rtt), XLabel: "loss %", YLabel: "Mbit/s"}
			for _, p := range points {
				if p.rtt != rtt || p.transport != tr {
					continue
				}
				s.Points = append(s.Points, Point{X: p.loss * 100, Y: tpRound2(p.mbps())})
				name := fmt.Sprintf("goodput_%s_loss%g", rtt, p.loss*100)
				res.Metrics = append(res.Metrics, Metric{Transport: tr, Name: name, Unit: "Mbit/s", Value: tpRound2(p.mbps())},
					Metric{Transport: tr, Name: fmt.Sprintf("realised_loss_%s_loss%g", rtt, p.loss*100), Unit: "%", Value: tpRound2(p.realisedLoss() * 100)})
				tbl.Rows = append(tbl.Rows, tpRow(p, mss))
			}
			res.Series = append(res.Series, s)
		}
		res.Series = append(res.Series, tpBoundSeries(chart, rtt, losses, mss))
	}
	res.Tables = append(res.Tables, tbl)
	res.Conclusion = tpConclusion(points, trs, rtts, losses, mss)
	return res
}

// tpStackMSS is the MSS the TCP stack used in the grid's TCP transfers (tpMSS when none ran).
func tpStackMSS(points []*tpPoint) uint32 {
	for _, p := range points {
		if p.mss > 0 {
			return p.mss
		}
	}
	return tpMSS
}

// tpRow is one point's row of the goodput table: its Mathis estimate takes the loss the link
// actually dealt the data direction.
func tpRow(p *tpPoint, mss uint32) []string {
	bound := "∞"
	if b := tpMathisMbps(p.rtt, p.realisedLoss(), mss); !math.IsInf(b, 1) {
		bound = fmt.Sprintf("%.2f Mbit/s", b)
	}
	arrived := fmt.Sprintf("%d B", p.got)
	if !p.done {
		arrived += " (capped)"
	}
	return []string{p.transport, p.rtt.String(), fmt.Sprintf("%g%%", p.loss*100),
		fmt.Sprintf("%.2f%% (%d of %d)", p.realisedLoss()*100, p.dropped, p.sent), arrived,
		fmt.Sprintf("%.0f ms", millis(p.elapsed)), fmt.Sprintf("%.2f Mbit/s", p.mbps()), bound}
}

// tpBoundSeries is the dashed Mathis estimate at rtt over the grid's non-zero losses.
func tpBoundSeries(chart string, rtt time.Duration, losses []float64, mss uint32) Series {
	ref := Series{Chart: chart, Name: fmt.Sprintf("Mathis estimate %v", rtt), XLabel: "loss %", YLabel: "Mbit/s", Style: "dashed"}
	for _, loss := range losses {
		if loss > 0 {
			ref.Points = append(ref.Points, Point{X: loss * 100, Y: tpRound2(tpMathisMbps(rtt, loss, mss))})
		}
	}
	return ref
}

func tpRound2(v float64) float64 { return math.Round(v*100) / 100 }

// tpConclusion compares the lowest and highest loss at the longest RTT, and the first transport's
// point at the highest loss with its Mathis estimate (at the loss the link realised).
func tpConclusion(points []*tpPoint, trs []string, rtts []time.Duration, losses []float64, mss uint32) string {
	rtt := slices.Max(rtts)
	lo, hi := slices.Min(losses), slices.Max(losses)
	find := func(tr string, loss float64) *tpPoint {
		for _, p := range points {
			if p.transport == tr && p.rtt == rtt && p.loss == loss {
				return p
			}
		}
		return nil
	}
	var parts []string
	for _, tr := range trs {
		a, b := find(tr, lo), find(tr, hi)
		parts = append(parts, fmt.Sprintf("%s %.1f → %.1f Mbit/s", tr, a.mbps(), b.mbps()))
	}
	out := fmt.Sprintf("At %v RTT, going from %g%% to %g%% loss took %s.", rtt, lo*100, hi*100, strings.Join(parts, ", "))
	if hi > 0 {
		p := find(trs[0], hi)
		if bound := tpMathisMbps(rtt, p.realisedLoss(), mss); !math.IsInf(bound, 1) {
			rel := "above"
			if p.mbps() < bound {
				rel = "below"
			}
			out += fmt.Sprintf(" At %g%% loss (%.2f%% realised: %d of %d data packets dropped) %s reached %.2f Mbit/s, %.2f× the Mathis estimate of %.2f Mbit/s (MSS %d bytes): %s it.",
				hi*100, p.realisedLoss()*100, p.dropped, p.sent, trs[0], p.mbps(), p.mbps()/bound, bound, mss, rel)
		}
	}
	return out
}

// tpBulkTransfer sends up to total bytes from the client host to the server host of a fresh link
// (settings, the run's seed) over one connection of transport and returns how many arrived, over what
// time (from the first write to the last byte, or to the cap), and whether all did.
func tpBulkTransfer(ctx context.Context, env *Env, settings link.Settings, p *tpPoint, total int64, limit time.Duration, serverTLS *tls.Config, qconf *quic.Config) error {
	l, err := env.NewLink(link.Config{Settings: settings, Seed: env.Seed, LogSize: -1})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, limit+20*time.Second) // setup never takes this long
	sk := &tpSink{total: total, full: make(chan struct{})}
	var g transports.Group
	defer func() {
		cancel()
		g.Close()
		l.Close()
	}()
	at := net.JoinHostPort(l.ServerAddr().String(), "0")

	var write tpWriter
	chunk := 32 << 10
	// The MSS is read off the wire: netstack's TCP_INFO says 1448 on a 1500-byte MTU while its
	// full segments carry 1420.
	var mss atomic.Uint32
	if p.transport == "tcp" {
		defer l.OnPacket(func(pk link.Packet) {
			if pk.Dir == link.ClientToServer && pk.Decoded.Proto == "tcp" && uint32(pk.Decoded.PayloadLen) > mss.Load() {
				mss.Store(uint32(pk.Decoded.PayloadLen))
			}
		})()
	}
	switch p.transport {
	case "tcp":
		write, err = tpOpenTCP(ctx, l, at, &g, sk)
	case "quic":
		write, err = tpOpenQUIC(ctx, l, at, &g, sk, serverTLS, qconf)
	case "ws":
		write, err = tpOpenWS(ctx, l, at, &g, sk)
		chunk = 16 << 10
	default:
		err = fmt.Errorf("unknown transport %q", p.transport)
	}
	if err != nil {
		return err
	}
	p.got, p.elapsed, p.done, err = tpSend(ctx, &g, sk, write, chunk, total, limit)
	p.mss = mss.Load()
	c := l.Counts(link.ClientToServer)
	p.sent, p.dropped = c.Sent, c.DroppedTotal()
	return err
}

// tpWriter writes one chunk of the transfer, giving up at ctx's deadline.
type tpWriter func(context.Context, []byte) error

// tpSend writes total bytes in chunks through write, from now until they have all arrived at sk
// or limit has passed, and reports as tpBulkTransfer does. The writer runs in g.
func tpSend(ctx context.Context, g *transports.Group, sk *tpSink, write tpWriter, chunk int, total int64, limit time.Duration) (got int64, elapsed time.Duration, done bool, err error) {
	start := time.Now()
	sk.start(start)
	wctx, wcancel := context.WithDeadline(ctx, start.Add(limit))
	g.Defer(wcancel)
	g.Go(func() {
		buf := make([]byte, chunk)
		for sent := int64(0); sent < total; {
			n := min(int64(len(buf)), total-sent)
			if write(wctx, buf[:n]) != nil {
				return
			}
			sent += n
		}
	})
	select {
	case <-sk.full:
	case <-wctx.Done():
	}
	got, last := sk.result()
	if got >= total {
		return got, last.Sub(start), true, nil
	}
	if err := ctx.Err(); err != nil {
		return got, 0, false, err
	}
	return got, limit, false, nil
}

// tpOpenTCP listens on the server host at at, with a sink reading the one connection it accepts,
// and dials it from the client host. Everything it opens is closed with g.
func tpOpenTCP(ctx context.Context, l *link.Link, at string, g *transports.Group, sk *tpSink) (tpWriter, error) {
	ln, err := transports.ListenTCP(ctx, l.Server(), at)
	if err != nil {
		return nil, err
	}
	g.Add(ln.Close)
	g.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		sk.readFrom(c)
	})
	c, err := transports.DialTCP(ctx, l.Client(), ln.Addr().String(), transports.TCPOptions{})
	if err != nil {
		return nil, err
	}
	g.Add(c.Close)
	return func(ctx context.Context, b []byte) error {
		dl, _ := ctx.Deadline()
		c.SetWriteDeadline(dl)
		_, err := c.Write(b)
		return err
	}, nil
}

// tpOpenQUIC listens for QUIC on the server host at at, with a sink reading the first stream of
// the one connection it accepts, and dials it from the client host, opening that stream. Everything
// it opens is closed with g.
func tpOpenQUIC(ctx context.Context, l *link.Link, at string, g *transports.Group, sk *tpSink, serverTLS *tls.Config, qconf *quic.Config) (tpWriter, error) {
	ln, err := transports.ListenQUIC(ctx, l.Server(), at, transports.QUICOptions{TLS: serverTLS, Config: qconf})
	if err != nil {
		return nil, err
	}
	g.Add(ln.Close)
	g.Go(func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer c.CloseWithError(0, "")
		s, err := c.AcceptStream(ctx)
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { s.CancelRead(0) })
		defer stop()
		sk.readFrom(s)
	})
	conn, err := transports.DialQUIC(ctx, l.Client(), ln.Addr().String(), transports.QUICOptions{
		TLS: transports.ClientTLSConfig(serverTLS), Config: qconf,
		LocalAddr: net.JoinHostPort(l.ClientAddr().String(), "0"),
	})
	if err != nil {
		return nil, err
	}
	g.Add(conn.Close)
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, b []byte) error {
		dl, _ := ctx.Deadline()
		s.SetWriteDeadline(dl)
		_, err := s.Write(b)
		return err
	}, nil
}

// tpOpenWS serves WebSocket on the server host at at, with a sink reading every message of the
// connection, and dials it from the client host. Everything it opens is closed with g.
func tpOpenWS(ctx context.Context, l *link.Link, at string, g *transports.Group, sk *tpSink) (tpWriter, error) {
	h, err := transports.ListenWS(ctx, l.Server(), at, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			_, rd, err := c.Reader(r.Context())
			if err != nil {
				return
			}
			if sk.readFrom(rd) {
				return
			}
		}
	}))
	if err != nil {
		return nil, err
	}
	g.Add(h.Close)
	c, err := transports.DialWS(ctx, l.Client(), "ws://"+h.Addr().String()+"/", transports.WSOptions{})
	if err != nil {
		return nil, err
	}
	g.Add(c.CloseNow)
	return func(ctx context.Context, b []byte) error {
		return c.Write(ctx, websocket.MessageBinary, b)
	}, nil
}

// tpSink counts the bytes that arrive and when the last of them did.
type tpSink struct {
	mu    sync.Mutex
	total int64
	t0    time.Time
	got   int64
	last  time.Time
	full  chan struct{}
}

func (s *tpSink) start(t time.Time) {
	s.mu.Lock()
	s.t0 = t
	s.mu.Unlock()
}

// readFrom reads r to its end, counting; it reports whether every byte has arrived.
func (s *tpSink) readFrom(r io.Reader) bool {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			s.mu.Lock()
			before := s.got
			s.got += int64(n)
			s.last = time.Now()
			if before < s.total && s.got >= s.total {
				close(s.full)
			}
			all := s.got >= s.total
			s.mu.Unlock()
			if all {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
}

func (s *tpSink) result() (int64, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got, s.last
}
