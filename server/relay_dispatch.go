package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// serve reads the browser's requests and dispatches each, until the connection ends or too many
// malformed requests came in a row.
func (s *session) serve() {
	bad := 0
	for {
		// No deadline: the session ends when the connection does (the browser leaves, the relay
		// shuts down, or the slow-client bound closes it); a context with a deadline would cost a
		// timer per message on the measured path.
		typ, data, err := s.conn.Read(context.Background())
		if err != nil {
			return
		}
		s.reads.Add(1)
		s.r.met.relayBytesIn.Add(len(data))
		var req protocol.Request
		if typ == websocket.MessageText && !utf8.Valid(data) {
			// coder/websocket does not check; a browser would fail the connection with 1007.
			s.r.met.relayInvalidUTF8.Inc()
			s.conn.Close(websocket.StatusInvalidFramePayloadData, "text message is not valid UTF-8")
			return
		}
		if typ != websocket.MessageText {
			err = errors.New("binary messages are not accepted: send JSON text")
		} else {
			req, err = decodeRequest(data)
		}
		if err != nil {
			bad++
			s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID, Error: err.Error()})
			if bad >= maxBadRequests {
				s.conn.Close(websocket.StatusPolicyViolation, "too many malformed requests")
				return
			}
			continue
		}
		bad = 0
		s.handle(req)
	}
}

// handle runs one request: pings and link changes at once, the rest within the session's bound
// on running requests.
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
