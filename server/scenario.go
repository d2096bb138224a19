package server

import (
	"context"
	"fmt"
	"time"

	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/scenarios"
)

// Scenario runs: each builds its own emulated links (one per run, or per grid point), so the
// server runs only a few at once.
const (
	maxScenarioRuns  = 2
	scenarioRunLimit = 2 * time.Minute
)

// scenarioInfos lists the lessons for the welcome event.
var scenarioInfos = func() []protocol.ScenarioInfo {
	var out []protocol.ScenarioInfo
	for _, s := range scenarios.All() {
		out = append(out, s.Info())
	}
	return out
}()

// handleScenario runs a "scenario" request in the background, holding one of the session's
// active-request slots and one of the server's scenario slots, and answers with its report.
func (s *session) handleScenario(req protocol.Request) {
	fail := func(err error) {
		s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID, AtMicros: time.Since(s.epoch).Microseconds(), Error: err.Error()})
	}
	sr := req.Scenario
	sc := scenarios.Lookup(sr.Name)
	if sc == nil {
		<-s.active
		fail(fmt.Errorf("scenario: unknown scenario %q", sr.Name))
		return
	}
	ls, err := linkspec.Resolve(linkspec.Spec{Preset: sr.Preset, Up: sr.Up, Down: sr.Down, Seed: sr.Seed}, sc.Preset)
	if err != nil {
		<-s.active
		fail(fmt.Errorf("scenario: %w", err))
		return
	}
	opt := scenarios.Options{Preset: ls.Name(), Settings: &ls.Settings, Seed: ls.Seed, Repeat: sr.Repeat, Params: sr.Params}
	select {
	case s.r.scenarioSlots <- struct{}{}:
	default:
		<-s.active
		fail(fmt.Errorf("scenario: %d lessons are already running on this server; try again in a moment", maxScenarioRuns))
		return
	}
	s.work.Go(func() {
		defer func() {
			<-s.r.scenarioSlots
			<-s.active
		}()
		ctx, cancel := context.WithTimeout(s.ctx, scenarioRunLimit)
		defer cancel()
		opt.Progress = s.scenarioProgress(req.ID)
		rep, err := scenarios.Run(ctx, sc, opt)
		if err != nil {
			fail(err)
			return
		}
		s.notify(protocol.Event{Type: protocol.EventScenario, Req: req.ID, AtMicros: time.Since(s.epoch).Microseconds(), Report: rep})
	})
}

// scenarioProgress passes a lesson's live events to the browser, tagged with its request's id,
// through the session's queue like every other event (so they count against the slow-client
// bound). Packets are skipped, and counted in the next "packets" event, while the browser is
// maxObserveBacklog behind. The runner calls it from one goroutine at a time.
func (s *session) scenarioProgress(req uint64) func(protocol.Event) {
	var skipped uint64
	// The runner counts packet times from its start, about now: count them from the session's.
	shift := time.Since(s.epoch).Microseconds()
	return func(e protocol.Event) {
		e.Req = req
		if e.Type == protocol.EventPackets {
			if s.backlog() > maxObserveBacklog {
				skipped += e.Skipped + uint64(len(e.Packets))
				return
			}
			e.Skipped += skipped
			skipped = 0
			e.AtMicros += shift
			for i := range e.Packets {
				e.Packets[i].AtMicros += shift
			}
		}
		s.send(e)
		s.flush()
	}
}
