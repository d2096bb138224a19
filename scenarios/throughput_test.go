package scenarios

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"go.uber.org/goleak"
)

// TestThroughputDefault runs the default grid: every series is drawn, each point measured, and
// the run stays near its 5 s goal (the bound here is loose for -race and a shared machine).
func TestThroughputDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := runDefault(t, "throughput")
	// Per point its goodput and its realised loss, and once the stack's MSS.
	if len(r.Series) != 2*3+2 || len(r.Metrics) != 2*3*4*2+1 || len(r.Tables[0].Rows) != 24 {
		t.Errorf("got %d series, %d metrics, %d rows; want 8, 49, 24", len(r.Series), len(r.Metrics), len(r.Tables[0].Rows))
	}
	for _, s := range r.Series {
		if s.Style == "dashed" && len(s.Points) != 3 {
			t.Errorf("Mathis series %q has %d points, want 3 (no bound at 0%% loss)", s.Name, len(s.Points))
		}
	}
	if r.Conclusion == "" {
		t.Error("no conclusion")
	}
}

// TestThroughputTCPLoss measures TCP alone at 50 ms RTT (fewer transfers at once, so the numbers
// hold under -race): goodput must at least halve from 0% to 2% loss. The Mathis estimate the
// lesson shows is checked against independent readings: its MSS is what netstack's TCP puts in a
// full segment on the link's wire (the largest payload in a link's packet log), its loss is
// plausible for the nominal rate (a 99.9% binomial interval), and the conclusion's estimate is
// the formula's at those two figures. At 2% it must also be within a factor of 3 of the
// estimate either way (it models a long-running Reno flow; these transfers last 4 s and run
// cubic with SACK).
func TestThroughputTCPLoss(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, err := Run(context.Background(), Lookup("throughput"), Options{Seed: 1,
		Params: map[string]string{"transports": "tcp", "rtts": "50ms", "losses": "0,2"}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	t.Log(r.Conclusion)
	clean := mvMetric(t, r, "tcp", "goodput_50ms_loss0")
	lossy := mvMetric(t, r, "tcp", "goodput_50ms_loss2")
	// Loss lowers it; by how much is the Mathis check below (the clean run has no such bound: a
	// short transfer on a busy machine is CPU-bound, 2.9–68 Mbit/s in ci-fresh runs).
	if !(lossy < clean) {
		t.Errorf("tcp at 50 ms RTT: %.2f Mbit/s at 0%% loss, %.2f at 2%%: want lower with loss", clean, lossy)
	}
	mss := mvMetric(t, r, "tcp", "mss")
	if wire := wireMSS(t); mss != float64(wire) {
		t.Errorf("the estimate's MSS %g bytes, netstack's full segments on the wire carry %d", mss, wire)
	}
	if mvMetric(t, r, "tcp", "realised_loss_50ms_loss0") != 0 {
		t.Error("packets dropped on a link without loss")
	}
	realised := mvMetric(t, r, "tcp", "realised_loss_50ms_loss2") / 100
	sent := float64(tpSentInRow(t, r, "2%"))
	if sd := math.Sqrt(0.02 * 0.98 / sent); math.Abs(realised-0.02) > 3.3*sd {
		t.Errorf("realised loss %.4f over %g packets: outside 0.02 ± %.4f", realised, sent, 3.3*sd)
	}
	// The metric's realised loss is rounded to 0.01%: the conclusion's estimate (from the exact
	// loss) is the formula's at a loss within that rounding.
	est := tpMathisMbps(50*time.Millisecond, realised, uint32(mss))
	said := false
	for _, p := range []float64{realised - 0.00005, realised, realised + 0.00005} {
		e := tpMathisMbps(50*time.Millisecond, p, uint32(mss))
		said = said || strings.Contains(r.Conclusion, fmt.Sprintf("Mathis estimate of %.2f Mbit/s (MSS %g bytes)", e, mss))
	}
	if !said {
		t.Errorf("conclusion %q does not give the Mathis estimate at %.2f%% loss, MSS %g bytes (%.2f Mbit/s)", r.Conclusion, realised*100, mss, est)
	}
	if lossy < est/3 || lossy > est*3 {
		t.Errorf("tcp at 50 ms RTT, 2%% loss: %.2f Mbit/s, Mathis estimate %.2f: outside a factor of 3", lossy, est)
	}
}

// tpSentInRow is how many data packets the table's row at nominal loss says were sent.
func tpSentInRow(t *testing.T, r *Result, loss string) int {
	t.Helper()
	for _, row := range r.Tables[0].Rows {
		if row[2] == loss {
			var pct float64
			var dropped, sent int
			if _, err := fmt.Sscanf(row[3], "%f%% (%d of %d)", &pct, &dropped, &sent); err == nil {
				return sent
			}
		}
	}
	t.Fatalf("no row at %s loss with its packet counts", loss)
	return 0
}

// wireMSS is the largest TCP payload of a bulk transfer across a clean link, read off its log.
func wireMSS(t *testing.T) int {
	t.Helper()
	l, err := link.New(link.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	ln, err := l.Server().Listen(ctx, "tcp", l.ServerAddr().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	read := make(chan struct{})
	go func() {
		defer close(read)
		if c, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := l.Client().Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write(make([]byte, 256<<10))
	c.Close()
	<-read
	most := 0
	for _, p := range l.Packets() {
		if p.Decoded.Proto == "tcp" && p.Dir == link.ClientToServer {
			most = max(most, p.Decoded.PayloadLen)
		}
	}
	return most
}
