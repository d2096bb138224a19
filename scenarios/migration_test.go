package scenarios

import (
	"fmt"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

// TestMigrationDefault changes the client's address mid-conversation, three times over. In every
// run QUIC must keep its connection through both changes (no re-dial) and TCP must lose its first
// connection and dial again, and no message may be lost. QUIC's gap is timed by the server's
// path-validation timers (a PATH_CHALLENGE, then again after 100, 200, 400 ms), so on a CPU-starved
// machine one run in several is slower: the claim is about the median of the runs — a few round
// trips at most (6 RTT + 100 ms: path validation takes one round trip).
func TestMigrationDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	const runs = 3
	gaps := map[string][]float64{}
	var rtt float64
	for range runs {
		r := runDefault(t, "migration")
		rtt = mvMetric(t, r, "", "rtt_ms")
		for _, p := range migrationRun(t, r) {
			t.Error(p)
		}
		for _, c := range mgCases {
			gaps[c] = append(gaps[c], mvMetric(t, r, "quic", c+"_gap_ms"))
		}
	}
	for _, c := range mgCases {
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
		if mvMetric(t, r, "quic", c+"_survived") != 1 || mvMetric(t, r, "quic", c+"_redials") != 0 {
			problems = append(problems, fmt.Sprintf("%s: QUIC did not keep its connection", c))
		}
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
