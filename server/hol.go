package server

import (
	"context"
	"time"

	"github.com/wireplay/wireplay/experiments"
	"github.com/wireplay/wireplay/protocol"
)

// holExperiment runs the head-of-line blocking experiment on a link: its own listeners on the
// server host, its own connections from the client host (so its packets are not the session's).
var holExperiment = experiments.HOL

// handleHOL runs a "hol" request on the session's link in the background; it holds one of the
// session's active-request slots until the result is sent.
func (s *session) handleHOL(req protocol.Request) {
	s.mu.Lock()
	lk := s.lk
	s.mu.Unlock()
	fail := func(msg string) {
		s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID, AtMicros: time.Since(s.epoch).Microseconds(), Error: msg})
	}
	if lk == nil {
		<-s.active
		fail(errHOLKernel)
		return
	}
	lk.mu.Lock()
	busy := lk.holBusy
	lk.holBusy = true
	lk.mu.Unlock()
	if busy {
		<-s.active
		fail(errHOLBusy)
		return
	}
	hreq := *req.HOL
	lk.wg.Add(1)
	s.work.Go(func() {
		defer func() {
			lk.mu.Lock()
			lk.holBusy = false
			lk.mu.Unlock()
			lk.wg.Done()
			<-s.active
		}()
		ctx, cancel := context.WithTimeout(lk.ctx, linkHOLLimit)
		defer cancel()
		res, err := holExperiment(ctx, lk.l, hreq, s.epoch)
		switch {
		case lk.ctx.Err() != nil:
			fail("hol: " + errLinkClosed)
		case err != nil:
			fail("hol: " + err.Error())
		default:
			s.notify(protocol.Event{Type: protocol.EventHOL, Req: req.ID, AtMicros: time.Since(s.epoch).Microseconds(), HOL: res})
		}
	})
}
