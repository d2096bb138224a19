package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

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
			{Name: "messages", Label: "messages per stream", Kind: KindInt, Min: "1", Max: "200", Unit: "messages", Default: "30", Help: "messages per stream"},
			{Name: "size", Label: "message size", Kind: KindInt, Min: "1", Max: "16384", Unit: "bytes", Default: "1000", Help: "bytes per message"},
			{Name: "drop_nth", Label: "drop packet #", Kind: KindInt, Min: "0", Max: "10000", Default: "3", Help: "drop this client→server data packet of each transport (counted from its first data packet; it carries only stream 1's data); 0 drops nothing"},
			{Name: "rtt", Label: "added round trip", Kind: KindDuration, Min: "0", Max: "2s", Default: "60ms", Help: "round-trip time added to the preset's (half each way)"},
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

	res := &Result{}
	notes := Table{Title: "What each transport did", Columns: []string{"transport", "stream 1 stall", "stream 2 stall", "stream 3 stall", "in words"}}
	for _, t := range holTransports {
		for s, times := range hr.runs[t] {
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
			res.Metrics = append(res.Metrics, Metric{Transport: string(t), Name: fmt.Sprintf("stream%d_stall_ms", s+1), Unit: "ms", Value: holMsValue(us)})
			row = append(row, holMs(us))
		}
		v := hr.views[t]
		for s, held := range v.held {
			ms := -1.0
			if held >= 0 {
				ms = holMsValue(held)
			}
			res.Metrics = append(res.Metrics, Metric{Transport: string(t), Name: fmt.Sprintf("stream%d_held_ms", s+1), Unit: "ms", Value: ms})
		}
		res.Metrics = append(res.Metrics, Metric{Transport: string(t), Name: "lost_messages", Unit: "count", Value: float64(v.lost[0] + v.lost[1] + v.lost[2])})
		notes.Rows = append(notes.Rows, append(row, hr.notes[t]))
	}
	res.Metrics = append(res.Metrics, Metric{Name: "rtt_ms", Unit: "ms", Value: millis(rtt)})
	res.Tables = []Table{notes}
	res.Conclusion = holConclusion(hr, drop, rtt)
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

// holConclusion says, from the same rounded figures as the metrics and the table, how long
// streams 2 and 3 were held on each transport before their first delivery, whether that is
// head-of-line blocking, and what stream 1's loss cost.
func holConclusion(hr *holResult, drop int, rtt time.Duration) string {
	tcp, ws, q, udp := hr.views[protocol.TCP], hr.views[protocol.WS], hr.views[protocol.QUICStream], hr.views[protocol.UDP]
	if tcp == nil || ws == nil || q == nil || udp == nil {
		return "The run did not finish on every transport."
	}
	held := func(v *holView) string {
		var w []string
		for _, h := range v.held[1:] {
			if h >= 0 {
				w = append(w, holMs(h))
			} else {
				w = append(w, "for ever")
			}
		}
		return strings.Join(w, " and ")
	}
	var b strings.Builder
	switch {
	case drop == 0:
		b.WriteString("With no packet dropped on purpose, ")
	case tcp.dropped == 0:
		fmt.Fprintf(&b, "Data packet #%d was never sent on TCP (the data took fewer packets), so nothing was dropped there; ", drop)
	default:
		fmt.Fprintf(&b, "With data packet #%d (stream 1's) dropped, ", drop)
	}
	fmt.Fprintf(&b, "streams 2 and 3 first delivered %s after the run's fastest delivery (%s) on TCP and %s on WebSocket, against %s on QUIC. ",
		held(tcp), holMs(tcp.best), held(ws), held(q))
	tcpHeld := tcp.blocked[1] && tcp.blocked[2]
	quicFree := !q.blocked[1] && !q.blocked[2] && q.held[1] >= 0 && q.held[2] >= 0 && max(q.held[1], q.held[2]) < tcp.thresh
	switch {
	case drop == 0 || tcp.dropped == 0:
	case tcpHeld && quicFree:
		b.WriteString("That is head-of-line blocking: on TCP's one byte stream they waited for stream 1's retransmission; QUIC's streams have their own offsets and did not. ")
	case tcpHeld:
		b.WriteString("TCP held them behind stream 1's retransmission, and this time QUIC's streams 2 and 3 were late too. ")
	default:
		fmt.Fprintf(&b, "This run shows no head-of-line blocking on TCP: streams 2 and 3 were not both held back %s or more behind the loss", holMs(tcp.thresh))
		switch {
		case rtt == 0:
			b.WriteString(" — on a link with no delay the loss is repaired before there is much to hold back; add round-trip time (rtt) to see it")
		case rtt < 10*time.Millisecond:
			fmt.Fprintf(&b, " — on a %v round trip the loss is repaired before there is much to hold back; add round-trip time (rtt) to see it", rtt)
		}
		b.WriteString(". ")
	}
	if st, qs := hr.stalls[protocol.TCP], hr.stalls[protocol.QUICStream]; len(st) > 0 && len(qs) > 0 {
		fmt.Fprintf(&b, "Stream 1's worst stall was %s on TCP and %s on QUIC. ", holMs(st[0]), holMs(qs[0]))
	}
	if n := udp.lost[0] + udp.lost[1] + udp.lost[2]; n > 0 {
		fmt.Fprintf(&b, "UDP held nothing back and lost %s for good.", holPlural(n, "message"))
	} else {
		b.WriteString("UDP held nothing back and lost nothing.")
	}
	return b.String()
}
