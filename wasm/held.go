//go:build js && wasm

package main

import (
	"strconv"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// maxHeld bounds the messages that wait for the relay socket to come back.
const maxHeld = 8

// heldReq is a message sent while the relay socket was down, and when.
type heldReq struct {
	r  protocol.Request
	at time.Time
}

// hold keeps r (a "send" with its id) until the relay socket is back; false when maxHeld wait.
func (a *app) hold(r protocol.Request) bool {
	a.mu.Lock()
	if len(a.held) >= maxHeld {
		a.mu.Unlock()
		return false
	}
	a.held = append(a.held, heldReq{r, time.Now()})
	n := len(a.held)
	a.mu.Unlock()
	what := "this message waits"
	if n > 1 {
		what = itoa(n) + " messages wait"
	}
	a.showNotice("Not connected to the server: " + what + " and will go out when the page reconnects.")
	return true
}

// sendHeld sends the messages held while the relay socket was down on the new one, remembering
// how long each waited for its cards.
func (a *app) sendHeld(out chan protocol.Request) {
	a.mu.Lock()
	held := a.held
	a.held = nil
	a.heldFor = map[uint64]time.Duration{} // the previous batch's cards are marked already
	now := time.Now()
	for _, h := range held {
		a.heldFor[h.r.ID] = now.Sub(h.at)
	}
	a.mu.Unlock()
	for _, h := range held {
		select {
		case out <- h.r:
		default:
			a.showNotice("A message held while reconnecting could not be sent: too many requests wait.")
		}
	}
}

// markHeld notes on the card of ev's message (just written) how long it waited for the relay
// socket: "held 1.2 s while reconnecting", before its write.
func (c *column) markHeld(ev protocol.Event, d time.Duration) {
	cd := c.cards[msgKey{c.gen, ev.Msg}]
	if cd == nil {
		return
	}
	s := el("span", "step h", "held "+strconv.FormatFloat(d.Seconds(), 'f', 1, 64)+" s while reconnecting")
	s.Call("setAttribute", "data-testid", "held")
	s.Set("title", "sent while the page's connection to the server was down: the page kept it "+fmtMillis(float64(d.Microseconds())/1000)+
		" until it reconnected; the round trip starts at the write, after this wait")
	cd.steps.Call("prepend", s)
}
