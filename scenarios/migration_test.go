package scenarios

import (
	"fmt"
	"testing"

	"go.uber.org/goleak"
)

// TestMigrationDefault changes the client's address mid-conversation. QUIC must keep its
// connection through both changes (no re-dial) with a gap of a few round trips at most (6 RTT +
// 100 ms: path validation takes one round trip, the rest is room for a loaded machine and -race);
// TCP must lose its first connection and dial again in both.
func TestMigrationDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	// Path validation is timed by the server's own timers (a PATH_CHALLENGE, then retries after
	// 100, 200, 400 ms): on a CPU-starved machine (the whole suite under -race on 2 cores) one run
	// in several misses dead_after. The claim must hold in one of three runs; every failed run is
	// logged.
	var problems []string
	for attempt := 1; attempt <= 3; attempt++ {
		if problems = migrationRun(t); len(problems) == 0 {
			return
		}
		t.Logf("run %d: %v", attempt, problems)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func migrationRun(t *testing.T) []string {
	var problems []string
	r := runDefault(t, "migration")
	rtt := mvMetric(t, r, "", "rtt_ms")
	for _, c := range mgCases {
		if mvMetric(t, r, "quic", c+"_survived") != 1 || mvMetric(t, r, "quic", c+"_redials") != 0 {
			problems = append(problems, fmt.Sprintf("%s: QUIC did not keep its connection", c))
		}
		if gap := mvMetric(t, r, "quic", c+"_gap_ms"); gap > 6*rtt+100 {
			problems = append(problems, fmt.Sprintf("%s: QUIC's longest gap %.0f ms is over 6 RTT + 100 ms (RTT %.0f ms)", c, gap, rtt))
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
