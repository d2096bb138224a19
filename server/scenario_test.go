package server_test

import (
	"strings"
	"testing"

	"github.com/wireplay/wireplay/observe"
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
		// Before the report, the run's packets streamed live, tagged with the request.
		dirs, transports := map[string]int{}, map[protocol.Transport]int{}
		for _, e := range evs[:len(evs)-1] {
			if e.Type != protocol.EventPackets || e.Req != 5 {
				continue
			}
			if len(e.Packets) > observe.MaxBatch {
				t.Errorf("packets event of %d packets", len(e.Packets))
			}
			for _, p := range e.Packets {
				dirs[p.Dir]++
				transports[p.Transport]++
				if p.Summary == "" || p.Fate == "" {
					t.Errorf("packet %+v", p)
				}
			}
		}
		if dirs["up"] == 0 || dirs["down"] == 0 || transports[protocol.TCP] == 0 {
			t.Errorf("lesson packets before its report: by direction %v, by transport %v; want both directions, TCP among them", dirs, transports)
		}
	})

	t.Run("a lossy lesson's packets show drops", func(t *testing.T) {
		rc.send(protocol.Request{Type: protocol.TypeScenario, ID: 6, Scenario: &protocol.ScenarioRequest{Name: "loss-order", Seed: 1,
			Params: map[string]string{"messages": "40"}}})
		evs := rc.until(func(e protocol.Event) bool {
			return (e.Type == protocol.EventScenario || e.Type == protocol.EventError) && e.Req == 6
		})
		if e := evs[len(evs)-1]; e.Type != protocol.EventScenario {
			t.Fatalf("got %+v, want a scenario report", e)
		}
		fates := map[string]int{}
		for _, e := range evs {
			if e.Type == protocol.EventPackets && e.Req == 6 {
				for _, p := range e.Packets {
					fates[p.Fate]++
				}
			} else if e.Type == protocol.EventPackets {
				t.Errorf("packets event for request %d during lesson 6", e.Req)
			}
		}
		if fates["delivered"] == 0 || fates["dropped"] == 0 {
			t.Errorf("fates %v, want delivered and dropped packets", fates)
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
	for _, want := range []string{"handshake", "boundaries", "loss-order", "hol", "migration", "throughput", "dead-peer", "backlog", "server-models", "http", "ipc", "chat", "patterns", "nat"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("welcome lists %v, lacks %s", names, want)
		}
	}
}
