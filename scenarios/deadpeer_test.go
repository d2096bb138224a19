package scenarios_test

import (
	"testing"
	"time"
)

func TestDeadPeer(t *testing.T) {
	const hb, misses = 200 * time.Millisecond, 3
	const idle, qka = 600 * time.Millisecond, 200 * time.Millisecond
	res := runScenario(t, "dead-peer", &lab25, map[string]string{
		"heartbeat": hb.String(), "misses": "3", "idle_timeout": idle.String(), "quic_keepalive": qka.String(),
		"keepalive_idle": "200ms", "keepalive_interval": "200ms", "keepalive_count": "3",
	})
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	// The application heartbeat: misses intervals of silence, give or take one interval (the last
	// pong may have arrived up to an interval before the blackhole, or be in flight during it).
	for _, side := range []string{"client", "server"} {
		got := findMetric(t, res, "tcp-heartbeat", "detect_"+side, "ms")
		if want := ms(misses * hb); got < want-ms(hb) || got > want+ms(hb) {
			t.Errorf("heartbeat (%s) noticed after %.0f ms, want %.0f ± %.0f", side, got, want, ms(hb))
		}
	}
	// QUIC: the idle timeout, counted from the last packet received (up to a keep-alive period
	// and a round trip before the blackhole) or from the first PING sent after it (up to a
	// keep-alive period after): idle − (keep-alive + RTT) .. idle + keep-alive + RTT.
	rtt := 50 * time.Millisecond
	for _, side := range []string{"client", "server"} {
		got := findMetric(t, res, "quic-idle", "detect_"+side, "ms")
		if lo, hi := ms(idle-qka-rtt), ms(idle+qka+rtt); got < lo || got > hi {
			t.Errorf("QUIC idle timeout (%s) noticed after %.0f ms, want %.0f..%.0f", side, got, lo, hi)
		}
	}
	// TCP keepalive gives up after count unanswered probes, interval apart, after up to idle of
	// silence. A probe sent shortly before the blackhole may already go unanswered, and runs under
	// load have noticed after 2.1 intervals, so the lower bound is (count−1) intervals − RTT.
	for _, side := range []string{"client", "server"} {
		got := findMetric(t, res, "tcp-keepalive", "detect_"+side, "ms")
		if lo, hi := ms(2*200*time.Millisecond-rtt), ms(200*time.Millisecond+4*200*time.Millisecond+rtt); got < lo || got > hi {
			t.Errorf("TCP keepalive (%s) noticed after %.0f ms, want %.0f..%.0f", side, got, lo, hi)
		}
	}
	got := findMetric(t, res, "ws-ping", "detect_client", "ms")
	if want := ms(misses * hb); got < want-ms(rtt) || got > want+ms(hb)+ms(rtt) {
		t.Errorf("WebSocket ping noticed after %.0f ms, want about %.0f", got, want)
	}
}
