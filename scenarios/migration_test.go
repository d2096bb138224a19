package scenarios

import (
	"fmt"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

// TestMigrationDefault changes the client's address mid-conversation, three times over. In every
// run TCP must lose its first connection and dial again, and no message may be lost. QUIC's
// recovery is timed by the server's path-validation timers (a PATH_CHALLENGE, then again after
// 100, 200, 400 ms), so on a CPU-starved machine one run in several is slower, and now and then
// slower than the client's patience (dead_after), which then re-dials: the claims are about the
// runs together — QUIC keeps its connection through each change in most runs (no re-dial), and
// the median of its longest gaps is a few round trips at most (6 RTT + 100 ms: path validation
// takes one round trip).
func TestMigrationDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	const runs = 3
	gaps := map[string][]float64{}
	kept := map[string]int{}
	var rtt float64
	for range runs {
		r := runDefault(t, "migration")
		rtt = mvMetric(t, r, "", "rtt_ms")
		for _, p := range migrationRun(t, r) {
			t.Error(p)
		}
		for _, c := range mgCases {
			gaps[c] = append(gaps[c], mvMetric(t, r, "quic", c+"_gap_ms"))
			if mvMetric(t, r, "quic", c+"_survived") == 1 && mvMetric(t, r, "quic", c+"_redials") == 0 {
				kept[c]++
			}
		}
	}
	for _, c := range mgCases {
		if kept[c] <= runs/2 {
			t.Errorf("%s: QUIC kept its connection in %d of %d runs, want most", c, kept[c], runs)
		}
		g := gaps[c]
		slices.Sort(g)
		if med := g[len(g)/2]; med > 6*rtt+100 {
			t.Errorf("%s: QUIC's longest gap, median of %v ms, is over 6 RTT + 100 ms (RTT %.0f ms)", c, g, rtt)
		}
	}
}

// migrationRun lists what one run got wrong, timing aside.
func migrationRun(t *testing.T, r *Result) []string {
	var problems []string
	for _, c := range mgCases {
		if mvMetric(t, r, "tcp", c+"_survived") != 0 || mvMetric(t, r, "tcp", c+"_redials") < 1 {
			problems = append(problems, fmt.Sprintf("%s: TCP's connection survived the address change", c))
		}
		for _, tr := range mgTransports {
			if lost := mvMetric(t, r, tr, c+"_lost"); lost != 0 {
				problems = append(problems, fmt.Sprintf("%s %s: %g messages never arrived", c, tr, lost))
			}
		}
	}
	return problems
}
