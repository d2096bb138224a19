package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

func init() {
	Register(&Scenario{
		Name:    "loss-order",
		Title:   "Loss, reordering, duplication",
		Summary: "a burst of numbered messages under loss, reordering jitter and duplication: who loses, who reorders, who delivers everything late but in order",
		Explain: `A burst of numbered messages goes to an echo server over each transport at once, and the client times each message's round trip (there and back, so each message crosses the impaired link twice). On top of the link's own loss and delay, the run adds jitter that lets packets overtake each other, and a little duplication.

UDP and QUIC datagrams pass on whatever the network does: a lost datagram is simply gone (the client declares it lost when no echo comes within a timeout of about three round trips), one that is overtaken arrives out of order, and a duplicated UDP packet arrives twice. QUIC numbers every packet and drops copies it has already seen, so its datagrams are never duplicated — but they are not retransmitted either.

TCP, QUIC streams and WebSocket (over TCP) deliver every message, once and in order. They pay for it in time: a lost segment is sent again after the sender notices (duplicate ACKs, SACK, or a retransmission timer), and every message behind it in the stream waits for it even though it has already arrived — head-of-line blocking. Compare the p50 and p99 delays and the tail of each curve: reliable transports have no losses in their table but a long tail in their chart.

Read the counts per transport: lost, reordered and duplicated are counted by wireplay's client from the sequence numbers it puts in each datagram; for the stream transports the client checks that each echoed message is the one it expected next.`,
		Preset: "wifi",
		Params: []Param{
			{Name: "messages", Label: "messages in the burst", Kind: KindInt, Min: "1", Max: "10000", Unit: "messages", Default: "100", Help: "messages in the burst, per transport"},
			{Name: "size", Label: "message size", Kind: KindInt, Min: "8", Max: "1000", Unit: "bytes", Default: "64", Help: "bytes per message"},
			{Name: "interval", Label: "pause between messages", Kind: KindDuration, Min: "0", Max: "1s", Default: "1ms", Help: "pause between two messages of the burst"},
			{Name: "jitter", Label: "reordering jitter", Kind: KindDuration, Min: "0", Max: "1s", Default: "10ms", Help: "reordering jitter added to both directions of the link for this run (0: leave the link as set)"},
			{Name: "duplicate", Label: "duplication chance", Kind: KindFloat, Min: "0", Max: "0.5", Unit: "probability", Default: "0.01", Help: "probability a packet is delivered twice, added to both directions (0: leave as set)"},
		},
		Run: runLossOrder,
	})
}

var loTransports = []protocol.Transport{protocol.TCP, protocol.UDP, protocol.QUICStream, protocol.QUICDgram, protocol.WS}

// loOutcome is one transport's burst.
type loOutcome struct {
	t          protocol.Transport
	sent       int
	delays     []float64 // ms, in completion order
	outOfOrder int       // stream transports: echoes that were not the message expected next
	seq        protocol.SeqStats
	datagrams  bool
	err        error
	repair     loRepair // what the link dropped and how each side repaired it
}

func runLossOrder(ctx context.Context, env *Env) (*Result, error) {
	n, size := env.Int("messages"), env.Int("size")
	interval, jitter, dup := env.Duration("interval"), env.Duration("jitter"), env.Float("duplicate")
	var added []string
	for _, d := range link.Directions {
		im := env.Link.Impairment(d)
		if jitter > 0 {
			im.Jitter, im.Reorder = jitter, true
		}
		if dup > 0 {
			im.Duplicate = dup
		}
		if err := env.Link.SetImpairment(d, im); err != nil {
			return nil, err
		}
	}
	if jitter > 0 {
		added = append(added, fmt.Sprintf("±%v reordering jitter", jitter))
	}
	if dup > 0 {
		added = append(added, fmt.Sprintf("%g%% duplication", dup*100))
	}

	eo := transports.EchoOptions{QUICTracer: env.QUICTracer()}
	hosts, err := transports.StartEcho(ctx, env.Link.Server(), env.Link.ServerAddr().String(), eo)
	if err != nil {
		return nil, err
	}
	defer hosts.Close()
	// QUIC datagrams get an echo of their own, so that each transport is one flow to a server
	// port of its own: the link draws each flow's losses from a random stream keyed by that port
	// (and the flow's order among those to it), so a seed gives every transport the same losses
	// on every run. Sharing quic-stream's port, whichever of the two connected first would take
	// the first stream.
	dgramHosts, err := transports.StartEcho(ctx, env.Link.Server(), env.Link.ServerAddr().String(), eo)
	if err != nil {
		return nil, err
	}
	defer dgramHosts.Close()
	rtt := env.RTT() + 2*jitter
	lossTimeout := 3*rtt + 200*time.Millisecond
	msgs := transports.Numbered(n, size)

	outs := make([]*loOutcome, len(loTransports))
	var wg sync.WaitGroup
	for i, t := range loTransports {
		h := hosts
		if t == protocol.QUICDgram {
			h = dgramHosts
		}
		wg.Go(func() { outs[i] = loBurst(ctx, env, h, t, msgs, interval, lossTimeout) })
	}
	wg.Wait()
	for _, o := range outs {
		if o.err != nil {
			return nil, fmt.Errorf("%s: %w", o.t, o.err)
		}
	}
	// Counted once the endpoints have closed: every packet of each connection, its close
	// included, is then in the link's counts and in the run's capture.
	hosts.Close()
	dgramHosts.Close()
	env.quiet(rtt)
	for _, o := range outs {
		o.repair.finish(env, o.t)
	}

	return loReport(n, outs, added), nil
}

// loReport turns the bursts into the lesson's table, series, metrics and conclusion.
func loReport(n int, outs []*loOutcome, added []string) *Result {
	res := &Result{}
	tb := Table{Title: fmt.Sprintf("%d numbered messages per transport, echoed", n),
		Columns: []string{"transport", "delivered", "lost", "reordered", "duplicated", "in order", "p50 ms", "p99 ms", "max ms"}}
	var lossy, reliable []string
	for _, o := range outs {
		sorted := sortedCopy(o.delays)
		p50, p99 := quantile(sorted, 0.5), quantile(sorted, 0.99)
		delivered := len(o.delays)
		lost, reordered, duplicated := o.counts()
		name := string(o.t)
		res.Metrics = append(res.Metrics, o.metrics(p50, p99)...)
		tb.Rows = append(tb.Rows, o.row(sorted))
		s := Series{Chart: "Round-trip delay of each message (cumulative)", Name: name, XLabel: "round trip ms", YLabel: "% of messages sent"}
		for i, d := range sorted {
			s.Points = append(s.Points, Point{X: hundredths(d), Y: hundredths(100 * float64(i+1) / float64(o.sent))})
		}
		res.Series = append(res.Series, s)
		if o.datagrams {
			lossy = append(lossy, fmt.Sprintf("%s lost %d, reordered %d and duplicated %d", name, lost, reordered, duplicated))
		} else {
			reliable = append(reliable, fmt.Sprintf("%s delivered %d of %d %s (p50 %.0f ms, p99 %.0f ms)", name, delivered, o.sent, orderWord(reordered), p50, p99))
		}
	}
	res.Tables = []Table{tb, loRepairTable(outs)}
	for _, o := range outs {
		res.Metrics = append(res.Metrics, o.repair.metrics(string(o.t))...)
	}
	c := fmt.Sprintf("Of %d messages each, ", n) + strings.Join(lossy, "; ") + ". " + strings.Join(reliable, "; ") + "." + loQUICNote(outs)
	if len(added) > 0 {
		c += " (This run added " + strings.Join(added, " and ") + " to the link's own settings.)"
	}
	res.Conclusion = c + loTailNote(outs)
	return res
}

// counts are the burst's lost, reordered and duplicated messages: from the sequence numbers for
// datagrams, from what never came back and what came back out of turn for streams.
func (o *loOutcome) counts() (lost, reordered, duplicated int) {
	if o.datagrams {
		return int(o.seq.Lost), int(o.seq.Reordered), int(o.seq.Duplicated)
	}
	return o.sent - len(o.delays), o.outOfOrder, 0
}

func (o *loOutcome) metrics(p50, p99 float64) []Metric {
	lost, reordered, duplicated := o.counts()
	name := string(o.t)
	ms := []Metric{
		{Transport: name, Name: "delivered", Unit: "count", Value: float64(len(o.delays))},
		{Transport: name, Name: "lost", Unit: "count", Value: float64(lost)},
		{Transport: name, Name: "reordered", Unit: "count", Value: float64(reordered)},
		{Transport: name, Name: "duplicated", Unit: "count", Value: float64(duplicated)},
	}
	if len(o.delays) > 0 {
		ms = append(ms,
			Metric{Transport: name, Name: "p50_delay", Unit: "ms", Value: hundredths(p50)},
			Metric{Transport: name, Name: "p99_delay", Unit: "ms", Value: hundredths(p99)})
	}
	return ms
}

// row is the burst's row of the table; sorted are its delays in ascending order.
func (o *loOutcome) row(sorted []float64) []string {
	lost, reordered, duplicated := o.counts()
	delivered := len(o.delays)
	inOrder := "yes"
	if reordered > 0 {
		inOrder = "no"
	}
	fmtMS := func(v float64) string {
		if delivered == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", v)
	}
	return []string{string(o.t), fmt.Sprint(delivered), fmt.Sprint(lost), fmt.Sprint(reordered), fmt.Sprint(duplicated), inOrder,
		fmtMS(quantile(sorted, 0.5)), fmtMS(quantile(sorted, 0.99)), fmtMS(quantile(sorted, 1))}
}

// loTailNote names the reliable transport whose p99 delay was furthest above its p50, when it
// was 1.5× or more.
func loTailNote(outs []*loOutcome) string {
	var worst string
	var worstRatio float64
	for _, o := range outs {
		if o.datagrams || len(o.delays) == 0 {
			continue
		}
		sorted := sortedCopy(o.delays)
		if p50 := quantile(sorted, 0.5); p50 > 0 {
			if r := quantile(sorted, 0.99) / p50; r > worstRatio {
				worst, worstRatio = string(o.t), r
			}
		}
	}
	if worst != "" && worstRatio > 1.5 {
		return fmt.Sprintf(" Reliability costs time: %s's p99 was %.1f× its p50, the messages that waited for a retransmission.", worst, worstRatio)
	}
	return ""
}

func orderWord(reordered int) string {
	if reordered == 0 {
		return "in order"
	}
	return fmt.Sprintf("with %d out of order", reordered)
}

// loBurst sends msgs over one transport and waits for their echoes or their loss.
// loDialLimit bounds one transport's connection set-up.
const loDialLimit = 30 * time.Second

func loBurst(ctx context.Context, env *Env, hosts *transports.Echo, t protocol.Transport, msgs [][]byte, interval, lossTimeout time.Duration) *loOutcome {
	o := &loOutcome{t: t}
	var mu sync.Mutex
	var nextExpected uint64 = 1
	done := make(chan struct{}, 1)
	settled := 0
	emit := func(e protocol.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Type {
		case protocol.EventComplete:
			o.delays = append(o.delays, float64(e.DurMicros)/1000)
			if !o.datagrams {
				// The stream client matches echoed bytes to messages in order; check the number
				// each echo carries.
				if !strings.HasPrefix(e.Text, fmt.Sprintf("#%04d ", nextExpected)) {
					o.outOfOrder++
				}
				nextExpected++
			}
			settled++
		case protocol.EventLost:
			settled++
		default:
			return
		}
		if e.Stats != nil && e.Stats.Seq != nil {
			o.seq = *e.Stats.Seq
		}
		if settled >= len(msgs) {
			select {
			case done <- struct{}{}:
			default:
			}
		}
	}
	// A connection's handshake across heavy loss waits out the stack's exponential
	// retransmission backoff (1 + 2 + 4 + 8 s for a SYN lost four times): allow it.
	dctx, cancel := context.WithTimeout(ctx, loDialLimit)
	defer cancel()
	c, err := transports.Dial(dctx, env.Link.Client(), t, hosts.Target, transports.ClientOptions{Emit: emit, LossTimeout: lossTimeout, Epoch: env.Epoch})
	if err != nil {
		o.err = err
		return o
	}
	closed := false
	closeClient := func() {
		if !closed {
			closed = true
			c.Close()
		}
	}
	defer closeClient()
	mu.Lock()
	o.datagrams = t == protocol.UDP || t == protocol.QUICDgram
	mu.Unlock()
	for i, m := range msgs {
		if i > 0 && interval > 0 {
			time.Sleep(interval)
		}
		if _, err := c.Send(uint64(i+1), m); err != nil {
			if o.datagrams {
				continue // a datagram that could not be sent is lost
			}
			o.err = err
			return o
		}
		o.sent++
	}
	wait := time.NewTimer(lossTimeout + 5*time.Second)
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C:
	case <-ctx.Done():
		o.err = ctx.Err()
		return o
	}
	if o.datagrams {
		// A datagram declared lost may still arrive late; duplicates trail their originals.
		time.Sleep(50 * time.Millisecond)
		if st := c.Stats(); st != nil && st.Seq != nil {
			mu.Lock()
			o.seq = *st.Seq
			mu.Unlock()
		}
	}
	o.repair.start(c, hosts.TCP)
	closeClient() // no event comes after this
	mu.Lock()
	defer mu.Unlock()
	o.delays = slices.Clone(o.delays)
	return o
}
