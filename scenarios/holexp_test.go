package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

func holLink(t testing.TB, cfg link.Config) *link.Link {
	t.Helper()
	l, err := link.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close link: %v", err)
		}
	})
	return l
}

func holCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func holLog(t *testing.T, res *holResult) {
	t.Helper()
	for _, tr := range holTransports {
		for s, run := range res.runs[tr] {
			t.Logf("%-12s stream %d: first %6d µs, worst %6d µs, stall %6d µs", tr, s+1, holFirst(run), holWorst(run), res.stalls[tr][s])
		}
		t.Logf("%s: %s", tr, res.notes[tr])
	}
}

// TestHOLExperiment drops the first data packet of each transport (stream 1's first message) on a
// link with 25 ms each way and checks, from the measured delivery times, that TCP and WebSocket
// hold streams 2 and 3 behind it while QUIC's streams 2 and 3 and UDP go on. The timing checks
// compare transports of the same run, in fractions of the round trip.
func TestHOLExperiment(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the link closes
	const oneWay = 25 * time.Millisecond       // the margins are fractions of the RTT, well above scheduling noise
	const rtt = int64(2 * oneWay / time.Microsecond)
	l := holLink(t, link.Config{Seed: 1, Settings: link.Both(link.Impairment{Delay: oneWay})})
	before := l.Impairment(link.ClientToServer)
	req := holRequest{messages: 10, size: 300, dropNth: 1}
	res, err := holExperiment(holCtx(t, 30*time.Second), l, req, transports.QUICEchoConfig{}.QUICConfig())
	if err != nil {
		t.Fatal(err)
	}
	holLog(t, res)
	if got := l.Impairment(link.ClientToServer); got != before {
		t.Errorf("impairment after the experiment %+v, want %+v back", got, before)
	}
	if n := l.Counts(link.ClientToServer).Dropped[link.RuleDropNth]; n != uint64(len(holTransports)) {
		t.Errorf("%d packets dropped by DropNth, want one per transport (%d)", n, len(holTransports))
	}
	holCheckShape(t, res, req)
	// UDP: stream 1's first message is lost for good.
	if udp := res.runs[protocol.UDP]; udp[0][0] != -1 {
		t.Errorf("UDP stream 1 message 1 at %d µs, want -1 (dropped, never retransmitted)", udp[0][0])
	}
	if !strings.Contains(res.notes[protocol.UDP], "never arrived") {
		t.Errorf("UDP note %q", res.notes[protocol.UDP])
	}

	quic := res.runs[protocol.QUICStream]
	// The drop hit stream 1 of QUIC: its first message waited for the retransmission, while
	// streams 2 and 3 were not delayed by it: all their messages arrived at least a quarter RTT
	// before it.
	for s := 1; s < holStreams; s++ {
		if w := holWorst(quic[s]); w > quic[0][0]-rtt/4 {
			t.Errorf("QUIC stream %d worst delivery %d µs, want a quarter RTT before stream 1's retransmitted message 1 (%d µs)", s+1, w, quic[0][0])
		}
	}
	if !strings.Contains(res.notes[protocol.QUICStream], "not held") {
		t.Errorf("QUIC note %q", res.notes[protocol.QUICStream])
	}
	// TCP and WebSocket: nothing of streams 2 and 3 was delivered before stream 1's lost message
	// (the byte stream held them behind it), and that message came back no sooner than 3/4 of an
	// RTT after the first delivery of the run (its loss had to be noticed and the segment sent
	// again). Each transport is judged by its own receiver's order, not by another transport's
	// clock: on a busy machine QUIC's stream 2 may itself arrive late.
	fastest := int64(-1)
	for _, tr := range holTransports {
		for _, run := range res.runs[tr] {
			for _, at := range run {
				if at >= 0 && (fastest < 0 || at < fastest) {
					fastest = at
				}
			}
		}
	}
	for _, tr := range []protocol.Transport{protocol.TCP, protocol.WS} {
		runs := res.runs[tr]
		if runs[0][0] < fastest+3*rtt/4 {
			t.Errorf("%s stream 1 message 1 (the dropped one) at %d µs, want ≥ 3/4 RTT after the run's first delivery (%d µs)", tr, runs[0][0], fastest)
		}
		for s := 1; s < holStreams; s++ {
			for m := range req.messages {
				if runs[s][m] < runs[0][0] {
					t.Errorf("%s stream %d message %d at %d µs, before stream 1's lost message (%d µs): want held behind it",
						tr, s+1, m+1, runs[s][m], runs[0][0])
				}
			}
		}
		if !strings.Contains(res.notes[tr], "behind stream 1's lost segment") {
			t.Errorf("%s note %q", tr, res.notes[tr])
		}
	}
}

// holCheckShape checks every transport has three streams of req.messages times, three stalls and
// a note naming the dropped packet, and that every message arrived but UDP's dropped one.
func holCheckShape(t *testing.T, res *holResult, req holRequest) {
	t.Helper()
	for _, tr := range holTransports {
		runs := res.runs[tr]
		if len(runs) != holStreams || len(res.stalls[tr]) != holStreams || res.notes[tr] == "" {
			t.Fatalf("%s: %d streams, %d stalls, note %q", tr, len(runs), len(res.stalls[tr]), res.notes[tr])
		}
		for s, run := range runs {
			if len(run) != req.messages {
				t.Fatalf("%s stream %d: %d messages, want %d", tr, s+1, len(run), req.messages)
			}
			for m, at := range run {
				if at < 0 && !(tr == protocol.UDP && s == 0 && m == 0) {
					t.Errorf("%s stream %d message %d never arrived", tr, s+1, m+1)
				}
			}
		}
		if !strings.Contains(res.notes[tr], "packet #1 of the data") {
			t.Errorf("%s note %q does not name the dropped packet", tr, res.notes[tr])
		}
	}
}

// TestHOLExperimentNoDrop runs without a drop on a clean link: every message arrives and the notes
// say no packet was dropped.
func TestHOLExperimentNoDrop(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the link closes
	l := holLink(t, link.Config{Seed: 2})
	res, err := holExperiment(holCtx(t, 30*time.Second), l, holRequest{messages: 20, size: 2000}, transports.QUICEchoConfig{}.QUICConfig())
	if err != nil {
		t.Fatal(err)
	}
	holLog(t, res)
	for _, tr := range holTransports {
		for s, run := range res.runs[tr] {
			for m, at := range run {
				if at < 0 {
					t.Errorf("%s stream %d message %d never arrived", tr, s+1, m+1)
				}
			}
		}
		if !strings.HasPrefix(res.notes[tr], "no packet dropped") {
			t.Errorf("%s note %q", tr, res.notes[tr])
		}
	}
	if n := l.Counts(link.ClientToServer).DroppedTotal(); n != 0 {
		t.Errorf("%d packets dropped on a clean link", n)
	}
}

func TestHOLExperimentBadRequest(t *testing.T) {
	l := holLink(t, link.Config{Seed: 3})
	for _, req := range []holRequest{{messages: 0, size: 10}, {messages: 201, size: 10}, {messages: 1, size: 0}, {messages: 1, size: 16<<10 + 1}} {
		if _, err := holExperiment(context.Background(), l, req, nil); err == nil {
			t.Errorf("holExperiment(%+v) succeeded", req)
		}
	}
}

func holWorst(run []int64) int64 {
	w := int64(-1)
	for _, a := range run {
		w = max(w, a)
	}
	return w
}
