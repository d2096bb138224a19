package scenarios

import (
	"context"
	"fmt"
	"strings"

	"github.com/wireplay/wireplay/protocol"
)

func init() {
	Register(&Scenario{
		Name:    "hol",
		Title:   "Head-of-line blocking",
		Summary: "three independent message streams, one lost packet of stream 1: who waits for it — TCP, QUIC streams, UDP, WebSocket",
		Explain: `An application often has several independent things to say at once — three files, three chat rooms, three game objects. Put them on one TCP connection and they become one byte stream: when a segment carrying stream 1's data is lost, everything behind it in the byte stream, stream 2's and stream 3's messages included, sits in the receiver's buffer until the retransmission fills the hole. TCP may only hand bytes to the application in order. That wait is head-of-line blocking.

QUIC numbers its packets, not its bytes: each stream has its own offsets, so a lost packet leaves a hole only in the streams whose frames it carried. Streams 2 and 3 keep delivering while stream 1 waits for its retransmission. UDP has no order to keep and no retransmission: the lost message is simply gone. WebSocket runs on one TCP connection, so it inherits TCP's behaviour exactly.

The run sends the same messages over each transport in turn and drops the same packet of each — one carrying only stream 1's data. Look at the per-transport charts: a vertical step in all three TCP (and WebSocket) streams at the same moment is head-of-line blocking; in the QUIC chart only stream 1 steps. The metrics give, per stream, how long it was held before its first delivery (held: beyond the run's fastest delivery) and its worst stall (its slowest delivery over its median; on a short burst this also counts the wait for the congestion window to open, which differs between stacks).`,
		Preset: "clean",
		Params: []Param{
			{Name: "messages", Kind: KindInt, Min: "1", Max: "200", Unit: "messages", Default: "30", Help: "messages per stream"},
			{Name: "size", Kind: KindInt, Min: "1", Max: "16384", Unit: "bytes", Default: "1000", Help: "bytes per message"},
			{Name: "drop_nth", Kind: KindInt, Min: "0", Max: "10000", Default: "3", Help: "drop this client→server data packet of each transport (counted from its first data packet; it carries only stream 1's data); 0 drops nothing"},
			{Name: "rtt", Kind: KindDuration, Min: "0", Max: "2s", Default: "60ms", Help: "round-trip time added to the preset's (half each way)"},
		},
		Run: runHOL,
	})
}

func runHOL(ctx context.Context, env *Env) (*Result, error) {
	msgs, size, drop := env.Int("messages"), env.Int("size"), env.Int("drop_nth")
	extra := env.Duration("rtt")
	st := env.Settings
	st.ClientToServer.Delay += extra / 2
	st.ServerToClient.Delay += extra - extra/2
	if err := env.Link.Apply(st); err != nil {
		return nil, err
	}
	rtt := st.ClientToServer.Delay + st.ServerToClient.Delay
	hr, err := holExperiment(ctx, env.Link, holRequest{messages: msgs, size: size, dropNth: uint64(drop)}, env.QUICConfig())
	if err != nil {
		return nil, err
	}

	// The fastest first delivery of any stream on any transport: the link's one-way time and
	// the stacks' own work, near enough. A stream's first delivery beyond it is how long the
	// stream was held before anything of it reached the application.
	best := int64(-1)
	for _, t := range holTransports {
		for _, times := range hr.runs[t] {
			if f := holFirst(times); f >= 0 && (best < 0 || f < best) {
				best = f
			}
		}
	}

	res := &Result{}
	notes := Table{Title: "What each transport did", Columns: []string{"transport", "stream 1 stall", "stream 2 stall", "stream 3 stall", "in words"}}
	for _, t := range holTransports {
		runs := hr.runs[t]
		for s, times := range runs {
			ser := Series{Chart: fmt.Sprintf("Delivery time — %s", t), Name: fmt.Sprintf("stream %d", s+1),
				XLabel: "message #", YLabel: "ms after the first write", Style: "dots"}
			for m, us := range times {
				if us >= 0 {
					ser.Points = append(ser.Points, Point{X: float64(m + 1), Y: tpRound2(float64(us) / 1000)})
				}
			}
			res.Series = append(res.Series, ser)
		}
		row := []string{string(t)}
		for s, us := range hr.stalls[t] {
			ms := tpRound2(float64(us) / 1000)
			res.Metrics = append(res.Metrics, Metric{Transport: string(t), Name: fmt.Sprintf("stream%d_stall_ms", s+1), Unit: "ms", Value: ms})
			row = append(row, fmt.Sprintf("%.1f ms", ms))
		}
		for s, times := range runs {
			held := -1.0
			if f := holFirst(times); f >= 0 && best >= 0 {
				held = tpRound2(float64(f-best) / 1000)
			}
			res.Metrics = append(res.Metrics, Metric{Transport: string(t), Name: fmt.Sprintf("stream%d_held_ms", s+1), Unit: "ms", Value: held})
		}
		lost := 0
		for _, times := range runs {
			for _, us := range times {
				if us < 0 {
					lost++
				}
			}
		}
		res.Metrics = append(res.Metrics, Metric{Transport: string(t), Name: "lost_messages", Unit: "count", Value: float64(lost)})
		notes.Rows = append(notes.Rows, append(row, hr.notes[t]))
	}
	res.Metrics = append(res.Metrics, Metric{Name: "rtt_ms", Unit: "ms", Value: millis(rtt)})
	res.Tables = []Table{notes}
	res.Conclusion = holConclusion(hr, drop, best)
	return res, nil
}

// holFirst is the earliest delivery among times (µs; -1 for never), or -1.
func holFirst(times []int64) int64 {
	first := int64(-1)
	for _, us := range times {
		if us >= 0 && (first < 0 || us < first) {
			first = us
		}
	}
	return first
}

// holConclusion says how long streams 2 and 3 were held on each transport before their first
// delivery, and what stream 1's loss cost.
func holConclusion(hr *holResult, drop int, best int64) string {
	ms := func(us int64) string { return fmt.Sprintf("%.0f ms", float64(us)/1000) }
	held := func(t protocol.Transport) string {
		runs := hr.runs[t]
		if len(runs) < 3 {
			return "?"
		}
		var w []string
		for _, s := range runs[1:3] {
			if f := holFirst(s); f >= 0 {
				w = append(w, ms(f-best))
			} else {
				w = append(w, "for ever")
			}
		}
		return strings.Join(w, " and ")
	}
	stall := func(t protocol.Transport) string {
		if st := hr.stalls[t]; len(st) > 0 {
			return ms(st[0])
		}
		return "?"
	}
	var b strings.Builder
	if drop > 0 {
		fmt.Fprintf(&b, "With data packet #%d (stream 1's) dropped, ", drop)
	} else {
		b.WriteString("With no packet dropped on purpose, ")
	}
	fmt.Fprintf(&b, "streams 2 and 3 waited %s before their first delivery on TCP and %s on WebSocket, but %s on QUIC (beyond the fastest delivery of the run, %s). ",
		held(protocol.TCP), held(protocol.WS), held(protocol.QUICStream), ms(best))
	fmt.Fprintf(&b, "Stream 1's worst stall was %s on TCP and %s on QUIC. ", stall(protocol.TCP), stall(protocol.QUICStream))
	lost := 0
	for _, times := range hr.runs[protocol.UDP] {
		for _, us := range times {
			if us < 0 {
				lost++
			}
		}
	}
	fmt.Fprintf(&b, "UDP held nothing back and lost %d message(s) for good.", lost)
	return b.String()
}
