package scenarios

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestHOLDefault runs the lesson at its defaults with three seeds; each drops one packet of
// stream 1's data on every transport: on TCP (one byte stream) streams 2 and 3 must be held
// behind it before their first delivery, longer than QUIC's streams 2 and 3 (own offsets) by at
// least a third of a round trip; stream 1 stalls on QUIC too. The conclusion must say so, in the
// figures of the same run. Each in most seeds: on two busy cores under -race quic-go is at times
// as late as TCP.
func TestHOLDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	said, heldSeeds := 0, 0
	for seed := int64(1); seed <= 3; seed++ {
		rep, err := Run(context.Background(), Lookup("hol"), Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		r := rep.Runs[0]
		t.Logf("seed %d: %s", seed, r.Conclusion)
		if len(r.Series) != 4*3 {
			t.Errorf("%d series, want 12", len(r.Series))
		}
		rtt := mvMetric(t, r, "", "rtt_ms")
		held := true
		for _, s := range []string{"stream2_held_ms", "stream3_held_ms"} {
			tcp, quic := mvMetric(t, r, "tcp", s), mvMetric(t, r, "quic-stream", s)
			if !(tcp > quic+rtt/3) {
				held = false
				t.Logf("seed %d %s: %.1f ms on TCP and %.1f ms on QUIC: TCP not later by over %.0f ms", seed, s, tcp, quic, rtt/3)
			}
		}
		if held {
			heldSeeds++
		}
		if s1 := mvMetric(t, r, "quic-stream", "stream1_stall_ms"); s1 < rtt/2 {
			t.Errorf("seed %d: QUIC stream 1 stalled only %.1f ms: the drop did not hit it", seed, s1)
		}
		if lost := mvMetric(t, r, "udp", "lost_messages"); lost < 1 {
			t.Errorf("seed %d: UDP lost %g messages, want the dropped one", seed, lost)
		}
		if strings.Contains(r.Conclusion, "That is head-of-line blocking") {
			said++
		}
		holCheckText(t, r)
	}
	// Whether QUIC's streams 2 and 3 were clearly early enough for the conclusion to call it
	// head-of-line blocking depends on the machine's load (under -race on two busy cores quic-go
	// once delivered them 34 ms late); the text follows the figures (holCheckText), and most
	// seeds must show it.
	if heldSeeds < 2 {
		t.Errorf("TCP held streams 2 and 3 clearly longer than QUIC in %d of 3 seeds, want most", heldSeeds)
	}
	if said < 2 {
		t.Errorf("the conclusion called it head-of-line blocking in %d of 3 seeds, want most", said)
	}
}

// TestHOLNoDelay runs the lesson on a link without delay (what the page's Head-of-line tab ran on
// a clean link): the loss is repaired within a millisecond, so the conclusion must not claim
// head-of-line blocking unless the figures show it, and no sentence may count nothing as
// something ("delivered 0 and 0 of their messages").
func TestHOLNoDelay(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, err := Run(context.Background(), Lookup("hol"), Options{Seed: 2, Params: map[string]string{"rtt": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	t.Log(r.Conclusion)
	holCheckText(t, r)
	texts := []string{r.Conclusion}
	for _, row := range r.Tables[0].Rows {
		texts = append(texts, row[len(row)-1])
	}
	for _, s := range texts {
		if strings.Contains(s, "delivered 0 ") || strings.Contains(s, " 0 and 0 ") {
			t.Errorf("a sentence counts nothing: %s", s)
		}
	}
}

// holCheckText checks the lesson's sentences against its own figures: each stall in the table is
// its metric; the conclusion gives the held times of TCP, WebSocket and QUIC as their metrics say,
// UDP's lost messages as counted, and claims head-of-line blocking only when TCP's streams 2 and 3
// were held at least the threshold it names and QUIC's were not.
func holCheckText(t *testing.T, r *Result) {
	t.Helper()
	for _, row := range r.Tables[0].Rows {
		for s := range 3 {
			if want := fmt.Sprintf("%.1f ms", mvMetric(t, r, row[0], fmt.Sprintf("stream%d_stall_ms", s+1))); row[s+1] != want {
				t.Errorf("%s stream %d stall: table %q, metric %s", row[0], s+1, row[s+1], want)
			}
		}
	}
	held := func(tr string) string {
		return fmt.Sprintf("%.1f ms and %.1f ms", mvMetric(t, r, tr, "stream2_held_ms"), mvMetric(t, r, tr, "stream3_held_ms"))
	}
	for _, tr := range []string{"tcp", "ws", "quic-stream"} {
		if !strings.Contains(r.Conclusion, held(tr)) {
			t.Errorf("the conclusion does not give %s's held times %s: %s", tr, held(tr), r.Conclusion)
		}
	}
	if lost := mvMetric(t, r, "udp", "lost_messages"); lost > 0 && !strings.Contains(r.Conclusion, holPlural(int(lost), "message")+" for good") {
		t.Errorf("the conclusion does not say UDP lost %g messages: %s", lost, r.Conclusion)
	}
	if strings.Contains(r.Conclusion, "That is head-of-line blocking") {
		thresh := math.Max(mvMetric(t, r, "", "rtt_ms")/2, 2)
		for _, s := range []string{"stream2_held_ms", "stream3_held_ms"} {
			if tcp, quic := mvMetric(t, r, "tcp", s), mvMetric(t, r, "quic-stream", s); tcp < thresh || quic >= thresh {
				t.Errorf("the conclusion claims head-of-line blocking with %s %.1f ms on TCP and %.1f ms on QUIC (threshold %.1f ms)", s, tcp, quic, thresh)
			}
		}
	}
}
