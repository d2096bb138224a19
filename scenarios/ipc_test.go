package scenarios

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestIPCDefault runs the default lesson: on each of the five transports every timed round trip
// was echoed intact and in order, every byte of the bulk transfer came back, and the conclusion's
// figures are the run's metrics — its comparison of the Unix stream with TCP loopback and its
// fastest and slowest name the transports the metrics say.
func TestIPCDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := runDefault(t, "ipc")
	def := map[string]float64{}
	for _, p := range Lookup("ipc").Params {
		if v, err := p.Parse(p.Default); err == nil {
			if i, ok := v.(int); ok {
				def[p.Name] = float64(i)
			}
		}
	}
	n, bulk := def["messages"], def["bulk"]*(1<<20)
	type fig struct{ p50, mbps float64 }
	figs := map[string]fig{}
	for _, k := range ipcKinds {
		for name, want := range map[string]float64{"round_trips": n, "echoes_intact": n, "echoes_late": 0, "echoes_changed": 0,
			"echoes_lost": 0, "bulk_lost": 0, "bulk_out_of_order": 0, "bulk_changed": 0} {
			if got := mvMetric(t, r, k.name, name); got != want {
				t.Errorf("%s %s = %g, want %g", k.name, name, got, want)
			}
		}
		// Datagrams carry 8 bytes of sequence number each, so their last one may round up.
		if got := mvMetric(t, r, k.name, "bulk_bytes"); got < bulk || got > bulk+8192 {
			t.Errorf("%s echoed %g bulk bytes, want %g", k.name, got, bulk)
		}
		f := fig{mvMetric(t, r, k.name, "rtt_p50_us"), mvMetric(t, r, k.name, "throughput_mbps")}
		if f.p50 <= 0 || f.mbps <= 0 || mvMetric(t, r, k.name, "rtt_p99_us") < f.p50 {
			t.Errorf("%s: p50 %g µs, p99 %g µs, %g MB/s", k.name, f.p50, mvMetric(t, r, k.name, "rtt_p99_us"), f.mbps)
		}
		figs[k.label] = f
		if !strings.Contains(r.Conclusion, fmt.Sprintf("%s %.1f / %.1f", k.label, f.p50, mvMetric(t, r, k.name, "rtt_p99_us"))) {
			t.Errorf("the conclusion does not give %s's percentiles as measured", k.label)
		}
	}
	quick, fast := "", ""
	for label, f := range figs {
		if quick == "" || f.p50 < figs[quick].p50 {
			quick = label
		}
		if fast == "" || f.mbps > figs[fast].mbps {
			fast = label
		}
	}
	tcp, unix := figs["TCP loopback"], figs["Unix stream"]
	want := []string{
		fmt.Sprintf("The lowest median round trip was %s's (%.1f µs", quick, figs[quick].p50),
		fmt.Sprintf("the highest throughput %s's (%.1f MB/s)", fast, figs[fast].mbps),
		fmt.Sprintf("median round trip was %.1f µs against TCP loopback's %.1f µs", unix.p50, tcp.p50),
		fmt.Sprintf("echoed %.1f MB/s against %.1f (%.2f× TCP's)", unix.mbps, tcp.mbps, unix.mbps/tcp.mbps),
		"Every echo came back intact and in order on every transport.",
	}
	for _, w := range want {
		if !strings.Contains(r.Conclusion, w) {
			t.Errorf("the conclusion does not say %q: %s", w, r.Conclusion)
		}
	}
}

// TestIPCConclusionFollowsFigures: the conclusion is written from the figures it is given — other
// figures, other winners and another direction of the Unix-versus-TCP comparison — and a lost or
// changed echo is said, not hidden.
func TestIPCConclusionFollowsFigures(t *testing.T) {
	mk := func(label string, p50, mbps float64) ipcFigures {
		return ipcFigures{label: label, sent: 10, intact: 10, p50: p50, p99: 2 * p50, mbps: mbps}
	}
	a := []ipcFigures{mk("TCP loopback", 20, 1000), mk("Unix stream", 10, 3000), mk("pipe", 12, 2500)}
	ca := ipcConclusion(a, 10, 64, 16<<20, 8192, 8)
	for _, w := range []string{"10.0 µs against TCP loopback's 20.0 µs (50% less)", "(3.00× TCP's)",
		"The lowest median round trip was Unix stream's (10.0 µs; the highest, TCP loopback's, 20.0 µs), the highest throughput Unix stream's (3000.0 MB/s)",
		"Every echo came back intact"} {
		if !strings.Contains(ca, w) {
			t.Errorf("does not say %q: %s", w, ca)
		}
	}
	if strings.Contains(ca, "within 25%") {
		t.Errorf("10 and 20 µs are not within 25%%: %s", ca)
	}
	b := []ipcFigures{mk("TCP loopback", 10, 2000), mk("Unix stream", 11, 1000), mk("pipe", 10.5, 2500)}
	b[2].lost, b[2].intact = 1, 9
	cb := ipcConclusion(b, 10, 64, 16<<20, 8192, 8)
	for _, w := range []string{"11.0 µs against TCP loopback's 10.0 µs (10% more)", "(0.50× TCP's)",
		"The lowest median round trip was TCP loopback's", "the highest throughput pipe's (2500.0 MB/s)",
		"within 25% of each other", "pipe: 9 of 10 round trips echoed intact, 0 late, 0 changed, 1 lost"} {
		if !strings.Contains(cb, w) {
			t.Errorf("does not say %q: %s", w, cb)
		}
	}
	if strings.Contains(cb, "Every echo came back") {
		t.Errorf("claims every echo came back with one lost: %s", cb)
	}
}
