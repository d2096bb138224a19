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
		// Packets are skipped, and counted in the next "packets" event, while the browser is
		// maxObserveBacklog behind; their times count from the session's epoch, as the
		// Messages view's do.
		opt.Progress, opt.Busy, opt.Epoch = s.scenarioProgress(req.ID), s.observeBusy, s.epoch
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
// bound). The runner calls it from one goroutine at a time.
func (s *session) scenarioProgress(req uint64) func(protocol.Event) {
	return func(e protocol.Event) {
		e.Req = req
		s.send(e)
		s.flush()
	}
}
