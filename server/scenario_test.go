package server_test

import (
	"strings"
	"testing"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

func TestRelayScenario(t *testing.T) {
	s := startServer(t, server.Config{})
	rc := dialRelay(t, s, nil)
	rc.c.SetReadLimit(protocol.MaxReportMessage)

	t.Run("runs a lesson and answers with its report", func(t *testing.T) {
		rc.send(protocol.Request{Type: protocol.TypeScenario, ID: 5, Scenario: &protocol.ScenarioRequest{Name: "boundaries", Seed: 2}})
		evs := rc.until(func(e protocol.Event) bool {
			return (e.Type == protocol.EventScenario || e.Type == protocol.EventError) && e.Req == 5
		})
		e := evs[len(evs)-1]
		if e.Type != protocol.EventScenario || e.Report == nil {
			t.Fatalf("got %+v, want a scenario report", e)
		}
		r := e.Report
		if r.Scenario != "boundaries" || r.Seed != 2 || r.Conclusion == "" || len(r.Stats) == 0 || len(r.Runs) != 1 {
			t.Errorf("report %+v", r)
		}
	})

	t.Run("bad requests get errors and the socket stays open", func(t *testing.T) {
		for i, sr := range []*protocol.ScenarioRequest{
			{Name: "teleport"},
			{Name: "boundaries", Preset: "moon"},
			{Name: "boundaries", Params: map[string]string{"nope": "1"}},
		} {
			id := uint64(10 + i)
			rc.send(protocol.Request{Type: protocol.TypeScenario, ID: id, Scenario: sr})
			evs := rc.until(func(e protocol.Event) bool { return e.Req == id })
			if e := evs[len(evs)-1]; e.Type != protocol.EventError || e.Error == "" {
				t.Errorf("%+v: got %+v, want an error", sr, e)
			}
		}
		rc.send(protocol.Request{Type: protocol.TypePing, ID: 20, T0: 1})
		rc.until(func(e protocol.Event) bool { return e.Type == protocol.EventPong })
	})
}

func TestWelcomeListsScenarios(t *testing.T) {
	s := startServer(t, server.Config{})
	_, c := dialRelayWelcome(t, s)
	var names []string
	for _, sc := range c.Scenarios {
		names = append(names, sc.Name)
		if sc.Title == "" || sc.Summary == "" || sc.Explain == "" || sc.Preset == "" {
			t.Errorf("scenario %+v lacks text", sc)
		}
	}
	for _, want := range []string{"handshake", "boundaries", "loss-order", "hol", "migration", "throughput", "dead-peer", "backlog"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("welcome lists %v, lacks %s", names, want)
		}
	}
}
