package scenarios_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/scenarios"
)

var dpParams = map[string]string{
	"heartbeat": "200ms", "misses": "3", "idle_timeout": "600ms", "quic_keepalive": "200ms",
	"keepalive_idle": "200ms", "keepalive_interval": "200ms", "keepalive_count": "3",
}

// dpRuns runs dead-peer repeat times from seed 1 (each run its own seed, so its own blackout
// moment) on settings.
func dpRuns(t *testing.T, settings link.Settings, repeat int) []*scenarios.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := scenarios.Run(ctx, scenarios.Lookup("dead-peer"), scenarios.Options{Settings: &settings, Seed: 1, Repeat: repeat, Params: dpParams})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Runs {
		t.Logf("run %d: %s", i+1, r.Conclusion)
		for _, row := range r.Tables[0].Rows {
			t.Logf("  %v", row)
		}
	}
	return rep.Runs
}

var dpSides = []struct{ mech, side string }{
	{"tcp-keepalive", "client"}, {"tcp-keepalive", "server"},
	{"tcp-heartbeat", "client"}, {"tcp-heartbeat", "server"},
	{"quic-idle", "client"}, {"quic-idle", "server"},
	{"ws-ping", "client"},
}

// TestDeadPeer: every mechanism on every side declares the peer dead only after the link went
// black, after hearing nothing for at least its theory time (a timer never fires early; the
// silence is measured on the link, from the last packet delivered to that side), and the packets
// it sent into that silence are the ones its rule sends: keepalive_count probes for TCP
// keepalive, a heartbeat every interval, at least one PING for QUIC. No clock window: lateness
// on a busy machine changes none of these. The blackout falls at a different moment per seed.
func TestDeadPeer(t *testing.T) {
	runs := dpRuns(t, lab25, 3)
	const hb, misses = 200 * time.Millisecond, 3
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	lower := map[string]float64{
		"tcp-keepalive": ms(200*time.Millisecond + 3*200*time.Millisecond), // idle + count × interval
		"tcp-heartbeat": ms(misses * hb),
		"ws-ping":       ms(misses * hb),
		// max(idle, 3 PTO) after the first ack-eliciting packet sent after the last one received.
		"quic-idle": ms(600 * time.Millisecond),
	}
	offsets := map[float64]bool{}
	calm := 0
	for i, r := range runs {
		offsets[findMetric(t, r, "", "blackout_offset", "ms")] = true
		if disturbed(t, r, i, hb) {
			continue
		}
		calm++
		for _, s := range dpSides {
			if findMetric(t, r, s.mech, "healthy_killed_"+s.side, "bool") != 0 {
				t.Errorf("run %d: %s (%s) gave a healthy connection up before the blackout", i+1, s.mech, s.side)
			}
			silence := findMetric(t, r, s.mech, "silence_"+s.side, "ms")
			theory := findMetric(t, r, s.mech, "theory_min_"+s.side, "ms")
			if silence < lower[s.mech]-1 || silence < theory-1 {
				t.Errorf("run %d: %s (%s) gave up after %.1f ms of silence, sooner than its rule allows (%.0f, theory %.0f)",
					i+1, s.mech, s.side, silence, lower[s.mech], theory)
			}
			sent := findMetric(t, r, s.mech, "sent_in_silence_"+s.side, "packets")
			if s.mech == "tcp-keepalive" {
				// One more when netstack's keepalive timer was already firing as the last
				// segment arrived: that probe goes out, the segment then restarts the count.
				if probes := findMetric(t, r, s.mech, "probes_in_silence_"+s.side, "packets"); probes != 3 && probes != 4 {
					t.Errorf("run %d: TCP keepalive (%s) sent %g probes into the silence, want keepalive_count = 3 (4 if a timer raced)", i+1, s.side, probes)
				}
			}
			switch {
			case s.mech == "tcp-heartbeat" && s.side == "client" && sent < misses-1:
				t.Errorf("run %d: the heartbeat client sent %g packets into %d intervals of silence", i+1, sent, misses)
			case s.mech == "quic-idle" && sent < 1:
				t.Errorf("run %d: QUIC (%s) sent no keep-alive PING into the silence", i+1, s.side)
			}
		}
	}
	if len(offsets) != len(runs) {
		t.Errorf("the blackout fell at the same moment in different seeds: %v", offsets)
	}
	if calm < len(runs)-1 {
		t.Errorf("only %d of %d runs ran without the process stalling a heartbeat interval: the claims were checked too rarely", calm, len(runs))
	}
}

// disturbed says run i was stalled by the machine for at least one heartbeat interval (its own
// 5 ms clock ran that late): timers then fire late and packets go out late, so a mechanism can
// give a healthy connection up for the machine's sake, not the protocol's. Its conclusion says so.
func disturbed(t *testing.T, r *scenarios.Result, i int, hb time.Duration) bool {
	t.Helper()
	stall := findMetric(t, r, "", "process_stall_max", "ms")
	if stall < float64(hb)/float64(time.Millisecond) {
		return false
	}
	if !strings.Contains(r.Conclusion, "stalled") {
		t.Errorf("run %d stalled %.0f ms, and its conclusion does not say so: %s", i+1, stall, r.Conclusion)
	}
	t.Logf("run %d: the process stalled %.0f ms (≥ the %v heartbeat): its claims are not checked", i+1, stall, hb)
	return true
}

// TestDeadPeerHealthyOnLossyLink: on the lesson's own preset (2% loss each way) no mechanism kills
// a healthy connection before the blackout, over several seeds. With netstack's default limit of
// one answered keepalive probe per 500 ms, TCP keepalive did in 2 of 4 seeds.
func TestDeadPeerHealthyOnLossyLink(t *testing.T) {
	wifi, ok := link.Preset("wifi")
	if !ok {
		t.Fatal("no wifi preset")
	}
	calm := 0
	for i, r := range dpRuns(t, wifi, 4) {
		if disturbed(t, r, i, 200*time.Millisecond) {
			continue
		}
		calm++
		for _, s := range dpSides {
			if findMetric(t, r, s.mech, "healthy_killed_"+s.side, "bool") != 0 {
				t.Errorf("seed %d: %s (%s) gave a healthy connection up before the blackout", i+1, s.mech, s.side)
			}
		}
	}
	if calm < 3 {
		t.Errorf("only %d of 4 seeds ran without the process stalling a heartbeat interval", calm)
	}
}
