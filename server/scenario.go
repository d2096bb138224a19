package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/scenarios"
)

// Scenario runs: each builds its own emulated links (one per run, or per grid point), so the
// server runs only a few at once, and at most one per session and per client; the rest wait in
// a queue of bounded length (lessonQueue).
const (
	maxScenarioRuns  = 2
	maxLessonQueue   = 64
	scenarioRunLimit = 2 * time.Minute
)

// lessonQueue hands out the server's lesson slots fairly: at most one running lesson per session
// and per client (an IPv4 address, an IPv6 /64), maxScenarioRuns in all. The rest wait in order of
// arrival, at most maxLessonQueue of them, each told its place (protocol.EventQueued) when it
// joins and whenever it moves, and start as slots free. A waiting lesson whose session or client
// already runs one is passed by those behind it, so one busy client never holds up the others.
type lessonQueue struct {
	mu      sync.Mutex
	running int
	bySess  map[*session]bool
	byIP    map[string]bool
	waiting []*lessonTicket
}

// lessonTicket is one lesson's claim on a slot.
type lessonTicket struct {
	s     *session
	ip    string
	req   uint64
	place int           // the place last told, 0 for none
	start chan struct{} // closed when the lesson may run
	runs  bool
	gone  bool // left the queue or finished
}

func newLessonQueue() *lessonQueue {
	return &lessonQueue{bySess: map[*session]bool{}, byIP: map[string]bool{}}
}

// join queues request req of session s, or refuses it when the queue is full. The lesson may run
// once the ticket's start channel is closed; leave must be called in any case.
func (q *lessonQueue) join(s *session, req uint64) (*lessonTicket, error) {
	q.mu.Lock()
	if len(q.waiting) >= maxLessonQueue {
		q.mu.Unlock()
		return nil, fmt.Errorf("scenario: %d lessons are already waiting on this server; try again later", maxLessonQueue)
	}
	t := &lessonTicket{s: s, ip: s.client, req: req, start: make(chan struct{})}
	q.waiting = append(q.waiting, t)
	told := q.advance()
	q.mu.Unlock()
	flushAll(told)
	return t, nil
}

// counts says how many lessons run and how many wait.
func (q *lessonQueue) counts() (running, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running, len(q.waiting)
}

// leave takes t out of the queue, or gives back the slot it ran in, and starts whoever can.
func (q *lessonQueue) leave(t *lessonTicket) {
	q.mu.Lock()
	if t.gone {
		q.mu.Unlock()
		return
	}
	t.gone = true
	if t.runs {
		q.running--
		delete(q.bySess, t.s)
		delete(q.byIP, t.ip)
	} else if i := slices.Index(q.waiting, t); i >= 0 {
		q.waiting = slices.Delete(q.waiting, i, i+1)
	}
	told := q.advance()
	q.mu.Unlock()
	flushAll(told)
}

// advance starts every waiting lesson that may run, in order, and tells each one still waiting
// whose place changed where it now is (queued under q.mu, so the events keep the order of the
// queue's states). It returns the sessions told, to be flushed once q.mu is released.
func (q *lessonQueue) advance() []*session {
	var told []*session
	kept := q.waiting[:0]
	for _, t := range q.waiting {
		if q.running < maxScenarioRuns && !q.bySess[t.s] && !q.byIP[t.ip] {
			q.running++
			q.bySess[t.s], q.byIP[t.ip] = true, true
			t.runs = true
			close(t.start)
			if t.place != 0 {
				t.place = 0
				t.tell()
				told = append(told, t.s)
			}
			continue
		}
		kept = append(kept, t)
		if place := len(kept); place != t.place {
			t.place = place
			t.tell()
			told = append(told, t.s)
		}
	}
	clear(q.waiting[len(kept):])
	q.waiting = kept
	return told
}

// tell queues the ticket's place for its browser (0: it runs now).
func (t *lessonTicket) tell() {
	t.s.send(protocol.Event{Type: protocol.EventQueued, Req: t.req, AtMicros: time.Since(t.s.epoch).Microseconds(), Place: t.place})
}

func flushAll(sessions []*session) {
	for _, s := range sessions {
		s.flush()
	}
}

// lessonClient is the client a lesson slot is counted against: the IP address of remoteAddr,
// an IPv6 address by its /64 (one host or home network often has a whole one).
func lessonClient(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// scenarioInfos lists the lessons for the welcome event.
var scenarioInfos = func() []protocol.ScenarioInfo {
	var out []protocol.ScenarioInfo
	for _, s := range scenarios.All() {
		out = append(out, s.Info())
	}
	return out
}()

// handleScenario runs a "scenario" request in the background, holding one of the session's
// active-request slots and, once the lesson queue lets it run, one of the server's lesson slots,
// and answers with its report.
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
	t, err := s.r.lessons.join(s, req.ID)
	if err != nil {
		<-s.active
		fail(err)
		return
	}
	s.work.Go(func() {
		defer func() {
			s.r.lessons.leave(t)
			<-s.active
		}()
		select {
		case <-t.start:
		case <-s.ctx.Done(): // the page left while the lesson waited
			return
		}
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
