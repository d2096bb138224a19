package server

import (
	"fmt"
	"sync"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

func (s *session) handle(req protocol.Request) {
	switch req.Type {
	case protocol.TypePing:
		s.notify(protocol.Event{Type: protocol.EventPong, Req: req.ID, T0: req.T0})
		return
	case protocol.TypeLink:
		s.handleLink(req)
		return
	}
	select {
	case s.active <- struct{}{}:
	default:
		s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID,
			Error: fmt.Sprintf("busy: %d requests are already running; wait for them", maxActiveReqs)})
		return
	}
	ts := req.Transports
	if len(ts) == 0 {
		ts = protocol.Transports
	}
	var msgs [][]byte
	switch req.Type {
	case protocol.TypeSend:
		msgs = [][]byte{[]byte(req.Text)}
	case protocol.TypeBurst:
		msgs = transports.Numbered(req.Count, req.Size)
	case protocol.TypeReconnect:
		s.closeClients(0)
	case protocol.TypeHOL:
		s.handleHOL(req) // releases s.active when done
		return
	case protocol.TypeScenario:
		s.handleScenario(req) // releases s.active when done
		return
	}
	if len(ts) == 1 && len(msgs) <= inlineMessages && s.connected(ts[0]) {
		// The common case of one message over one live connection: send from this goroutine and
		// spare a hand-off on the measured path.
		s.sendOver(ts[0], req.ID, msgs)
		<-s.active
		return
	}
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Go(func() { s.sendOver(t, req.ID, msgs) })
	}
	s.work.Go(func() {
		wg.Wait()
		<-s.active
	})
}
