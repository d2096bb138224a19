package server_test

import (
	"context"
	"testing"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/scenarios"
	"github.com/wireplay/wireplay/server"
)

// TestLessonMatchesCommandLine: a lesson run from the page (the relay) and the same scenario run
// the way `wireplay run` runs it, with the same seed and settings, report the same figures, and
// those that do not depend on the scheduler are equal: the reads of message-preserving transports,
// the messages the framings decoded, the largest QUIC datagram, the fragments of the big UDP
// datagram. (How many reads a stream needed depends on whether its segments all landed before the
// reader woke: three writes with Nagle off, each segment delayed alike, arrive in one, two or
// three reads. That count is a distribution, so both runs are only held to its range.)
func TestLessonMatchesCommandLine(t *testing.T) {
	s := startServer(t, server.Config{})
	rc := dialRelay(t, s, nil)
	rc.c.SetReadLimit(protocol.MaxReportMessage)
	rc.send(protocol.Request{Type: protocol.TypeScenario, ID: 1, Scenario: &protocol.ScenarioRequest{Name: "boundaries", Seed: 4}})
	evs := rc.until(func(e protocol.Event) bool {
		return (e.Type == protocol.EventScenario || e.Type == protocol.EventError) && e.Req == 1
	})
	page := evs[len(evs)-1].Report
	if page == nil {
		t.Fatalf("no report: %+v", evs[len(evs)-1])
	}
	cli, err := scenarios.Run(context.Background(), scenarios.Lookup("boundaries"), scenarios.Options{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if page.Preset != cli.Preset || page.Up != cli.Up || page.Down != cli.Down || page.Seed != cli.Seed {
		t.Errorf("settings differ: page %s/%s/%s/%d, cli %s/%s/%s/%d", page.Preset, page.Up, page.Down, page.Seed, cli.Preset, cli.Up, cli.Down, cli.Seed)
	}
	exact := map[string]bool{
		"udp reads": true, "ws reads": true, "quic-dgram reads": true,
		"tcp+length-prefix messages": true, "tcp+delimiter messages": true,
		"quic-dgram max_datagram": true, "udp big_packets": true,
	}
	want := map[string]protocol.Stat{}
	for _, st := range cli.Stats {
		want[st.Transport+" "+st.Name] = st
	}
	if len(page.Stats) != len(cli.Stats) {
		t.Errorf("page has %d figures, command line %d", len(page.Stats), len(cli.Stats))
	}
	for k := range exact {
		if _, ok := want[k]; !ok {
			t.Errorf("the command line did not measure %s", k)
		}
	}
	for _, st := range page.Stats {
		w, ok := want[st.Transport+" "+st.Name]
		switch {
		case !ok:
			t.Errorf("%s %s: only the page measured it", st.Transport, st.Name)
		case st.Transport+" "+st.Name == "tcp-nodelay reads":
			for who, v := range map[string]float64{"page": st.Mean, "command line": w.Mean} {
				if v < 1 || v > 3 {
					t.Errorf("tcp-nodelay reads: %s %g, want 1..3 (three writes)", who, v)
				}
			}
		case exact[st.Transport+" "+st.Name]:
			if st.Mean != w.Mean {
				t.Errorf("%s %s: page %g, command line %g", st.Transport, st.Name, st.Mean, w.Mean)
			}
		}
	}
}
