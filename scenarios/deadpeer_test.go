package scenarios_test

import (
	"slices"
	"testing"
	"time"

	"github.com/wireplay/wireplay/scenarios"
)

// TestDeadPeer: each mechanism notices the blackout after its theory time. A timer never fires
// early, so every run must respect the lower bound; a busy machine makes timers fire late, so the
// upper bound holds the median of three runs (a distribution, not one wall-clock reading).
func TestDeadPeer(t *testing.T) {
	const hb, misses = 200 * time.Millisecond, 3
	const idle, qka = 600 * time.Millisecond, 200 * time.Millisecond
	const runs = 3
	var results []*scenarios.Result
	for range runs {
		results = append(results, runScenario(t, "dead-peer", &lab25, map[string]string{
			"heartbeat": hb.String(), "misses": "3", "idle_timeout": idle.String(), "quic_keepalive": qka.String(),
			"keepalive_idle": "200ms", "keepalive_interval": "200ms", "keepalive_count": "3",
		}))
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	// check holds mechanism's detection on side to lo on every run and to hi in the median.
	check := func(what, mech, side string, lo, hi float64) {
		t.Helper()
		var got []float64
		for _, r := range results {
			v := findMetric(t, r, mech, "detect_"+side, "ms")
			if v < lo {
				t.Errorf("%s (%s) noticed after %.0f ms, sooner than its theory allows (%.0f)", what, side, v, lo)
			}
			got = append(got, v)
		}
		slices.Sort(got)
		if med := got[len(got)/2]; med > hi {
			t.Errorf("%s (%s) noticed after %.0f ms in the median of %v, want at most %.0f", what, side, med, got, hi)
		}
	}
	rtt := 50 * time.Millisecond
	// The application heartbeat: misses intervals of silence, give or take one interval (the last
	// pong may have arrived up to an interval before the blackhole, or be in flight during it).
	for _, side := range []string{"client", "server"} {
		want := ms(misses * hb)
		check("heartbeat", "tcp-heartbeat", side, want-ms(hb), want+ms(hb))
	}
	// QUIC: the idle timeout, counted from the last packet received (up to a keep-alive period
	// and a round trip before the blackhole) or from the first PING sent after it (up to a
	// keep-alive period after): idle − (keep-alive + RTT) .. idle + keep-alive + RTT.
	for _, side := range []string{"client", "server"} {
		check("QUIC idle timeout", "quic-idle", side, ms(idle-qka-rtt), ms(idle+qka+rtt))
	}
	// TCP keepalive gives up after count unanswered probes, interval apart, after up to idle of
	// silence. A probe sent shortly before the blackhole may already go unanswered (netstack
	// answers at most one out-of-window segment per 500 ms), so the lower bound is (count−1)
	// intervals − RTT.
	for _, side := range []string{"client", "server"} {
		check("TCP keepalive", "tcp-keepalive", side, ms(2*200*time.Millisecond-rtt), ms(200*time.Millisecond+4*200*time.Millisecond+rtt))
	}
	want := ms(misses * hb)
	check("WebSocket ping", "ws-ping", "client", want-ms(rtt), want+ms(hb)+ms(rtt))
}
