package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/protocol"
)

// roomSendLimit bounds one room message: the dials and echoes of every transport across its link.
const roomSendLimit = 30 * time.Second

// roomSend is the rooms' Sender: the instructor's message sent as a page in link mode sends one
// (handleLink, then a "send" over every transport), by a session of the room's own whose events go
// to the room instead of a WebSocket. The link counts against the server's emulated links: when
// they are all in use the instructor is told the server is busy.
func (r *relay) roomSend(msg protocol.RoomSendData) (func(context.Context, func(protocol.Event)) error, error) {
	var lr protocol.LinkRequest
	if msg.Link != nil {
		lr = *msg.Link
	}
	spec, err := linkspec.Resolve(linkspec.Spec{Preset: lr.Preset, Up: lr.Up, Down: lr.Down, Seed: lr.Seed}, "")
	if err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	if !r.acquireLink() {
		return nil, busyError(errTooMany)
	}
	return func(ctx context.Context, emit func(protocol.Event)) error {
		ctx, cancel := context.WithTimeout(ctx, roomSendLimit)
		defer cancel()
		stop := context.AfterFunc(r.ctx, cancel) // the relay's shutdown ends it too
		defer stop()

		const req = 1
		var mu sync.Mutex // emit is called from one goroutine at a time
		left := map[protocol.Transport]bool{}
		for _, t := range protocol.Transports {
			left[t] = true
		}
		finished := make(chan struct{})
		s := newSession(r, nil)
		s.sink = func(e protocol.Event) {
			mu.Lock()
			defer mu.Unlock()
			emit(e)
			// A transport is through once its stats follow the echo (or loss), or it failed (a
			// failed dial's error names no request).
			if left[e.Transport] && (e.Type == protocol.EventStats && e.Req == req || e.Type == protocol.EventError) {
				delete(left, e.Transport)
				if len(left) == 0 {
					close(finished)
				}
			}
		}
		s.ctx, s.cancel = context.WithCancel(ctx)
		lk, err := s.newLinkMode(spec.Preset, spec.Seed, spec.Settings)
		if err != nil {
			s.cancel()
			r.releaseLink()
			return fmt.Errorf("link: %w", err)
		}
		s.switchTo(lk)
		s.notify(protocol.Event{Type: protocol.EventLink, Link: s.linkState()})
		s.handle(protocol.Request{V: protocol.Version, Type: protocol.TypeSend, ID: req, Text: msg.Text})
		select {
		case <-finished:
		case <-ctx.Done():
		}
		var werr error
		if ctx.Err() != nil {
			werr = errors.New("the message did not get through every transport in time")
		}
		// As a session ends (run): its connections, then its link, whose last packets are
		// flushed to emit as it stops.
		s.cancel()
		s.work.Wait()
		s.closeClients(0)
		s.closeLink()
		s.mu.Lock()
		if s.idle != nil {
			s.idle.Stop()
		}
		s.mu.Unlock()
		return werr
	}, nil
}
