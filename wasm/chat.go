//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// maxChatShown bounds the chat log's entries on the page.
const maxChatShown = 300

// chatUI is the room's chat (protocol.ChatJoin), riding the room's WebSocket (protocol.RoomChat:
// one socket per page), the instructor being its moderator: the log, with join and leave
// notices, and the composer. It joins under the room's name each time the room takes the page
// (every connection of the room's socket).
type chatUI struct {
	r *roomUI

	mu     sync.Mutex
	name   string
	ready  bool // welcomed on the room's current socket
	limits protocol.ChatLimits
	seen   map[string]bool // message ids shown (a history sent again shows each once)
	muted  map[string]bool // members muted, by name

	log, input, sendBtn, errEl js.Value
	errGen                     int
}

func newChatUI(r *roomUI) *chatUI {
	return &chatUI{r: r, seen: map[string]bool{}, muted: map[string]bool{}, log: byID("chat-log"), input: byID("chat-input"), sendBtn: byID("chat-send"), errEl: byID("chat-error"),
		limits: protocol.ChatLimits{MaxText: 500}}
}

func (c *chatUI) wire(on func(e js.Value, event string, f func(ev js.Value))) {
	on(c.sendBtn, "click", func(js.Value) { c.say() })
	on(c.input, "keydown", func(ev js.Value) {
		if ev.Get("key").String() == "Enter" && !ev.Get("isComposing").Truthy() {
			ev.Call("preventDefault")
			c.say()
		}
	})
}

// request sends a chat request on the room's socket; it reports whether it was queued.
func (c *chatUI) request(req protocol.ChatRequest) bool {
	req.V = protocol.Version
	return c.r.send(protocol.RoomRequest{Type: protocol.RoomChat, Chat: &req})
}

// join joins the chat as name on the room's socket that just took the page (the room's mu is
// not held).
func (c *chatUI) join(name string) {
	c.mu.Lock()
	c.name, c.ready = name, false
	c.mu.Unlock()
	c.request(protocol.ChatRequest{Type: protocol.ChatJoin})
}

// down is told the room's socket ended: the chat is gone with it until the next join.
func (c *chatUI) down() {
	c.mu.Lock()
	c.ready = false
	c.mu.Unlock()
	c.enable()
}

// enableLocked enables the composer while the chat is joined on the room's socket (the room's
// mu is held).
func (c *chatUI) enableLocked(joined bool) {
	c.mu.Lock()
	on := joined && c.ready
	c.mu.Unlock()
	c.input.Set("disabled", !on)
	c.sendBtn.Set("disabled", !on)
}

func (c *chatUI) enable() {
	c.r.mu.Lock()
	joined := c.r.joined
	c.enableLocked(joined)
	c.r.mu.Unlock()
}

// event takes one chat event from the room's socket (the room's mu is not held).
func (c *chatUI) event(ev protocol.ChatEvent) {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	if !ready && ev.Type == protocol.ChatError && ev.Code == protocol.ChatErrNameTaken {
		// Our own last connection, not yet gone from the chat (a reload): join again in a moment.
		time.AfterFunc(time.Second, func() {
			c.mu.Lock()
			again := !c.ready
			c.mu.Unlock()
			if again {
				c.request(protocol.ChatRequest{Type: protocol.ChatJoin})
			}
		})
	}
	if ev.Type == protocol.ChatWelcome {
		c.mu.Lock()
		c.ready = true
		if ev.Limits != nil {
			c.limits = *ev.Limits
		}
		c.mu.Unlock()
		c.enable()
	}
	c.apply(ev)
}

func (c *chatUI) apply(ev protocol.ChatEvent) {
	switch ev.Type {
	case protocol.ChatWelcome:
		c.mu.Lock()
		c.muted = map[string]bool{}
		for _, m := range ev.Members {
			if m.Muted {
				c.muted[m.Name] = true
			}
		}
		c.mu.Unlock()
		c.r.render()
		c.notice("You joined the chat as " + ev.Name + " · " + itoa(len(ev.Members)) + " here")
		c.history(ev.History)
	case protocol.ChatHistory:
		c.history(ev.History)
	case protocol.ChatMessage:
		c.message(ev)
	case protocol.ChatJoined:
		c.notice(ev.Name + " joined")
	case protocol.ChatLeft:
		c.mu.Lock()
		me := ev.Name == c.name && ev.Reason == protocol.ChatLeftRemoved
		if me {
			c.ready = false
		}
		c.mu.Unlock()
		if me {
			c.enable()
			c.notice("The instructor (" + ev.By + ") removed you from the chat; you are still in the room.")
			return
		}
		s := ev.Name + " left"
		switch ev.Reason {
		case protocol.ChatLeftDropped:
			s += " (dropped: too slow to read)"
		case protocol.ChatLeftRemoved:
			s += " (removed by " + ev.By + ")"
		case protocol.ChatLeftLost:
			s += " (lost: their server stopped answering)"
		}
		c.notice(s)
	case protocol.ChatMuted, protocol.ChatUnmuted:
		c.mu.Lock()
		c.muted[ev.Name] = ev.Type == protocol.ChatMuted
		c.mu.Unlock()
		c.r.render()
		if ev.Type == protocol.ChatMuted {
			c.notice(ev.Name + " was muted by " + ev.By)
		} else {
			c.notice(ev.Name + " may write again (" + ev.By + ")")
		}
	case protocol.ChatError:
		c.refused(ev)
	}
}

func (c *chatUI) history(h []protocol.ChatEvent) {
	for _, m := range h {
		c.message(m)
	}
}

// message shows one chat message, once.
func (c *chatUI) message(ev protocol.ChatEvent) {
	c.mu.Lock()
	if ev.ID != "" && c.seen[ev.ID] {
		c.mu.Unlock()
		return
	}
	c.seen[ev.ID] = true
	mine := ev.From == c.name
	c.mu.Unlock()
	li := el("li", "chat-message", "")
	li.Call("setAttribute", "data-testid", "chat-message")
	if mine {
		li.Get("classList").Call("add", "mine")
	}
	if ev.AtMillis > 0 {
		at := time.UnixMilli(ev.AtMillis)
		t := el("time", "", at.Format("15:04"))
		t.Call("setAttribute", "datetime", at.UTC().Format(time.RFC3339))
		li.Call("append", t)
	}
	li.Call("append", el("b", "from", ev.From), el("span", "text", ev.Text))
	c.append(li)
}

func (c *chatUI) notice(text string) {
	li := el("li", "chat-notice", text)
	li.Call("setAttribute", "data-testid", "chat-notice")
	c.append(li)
}

func (c *chatUI) append(li js.Value) {
	atEnd := c.log.Get("scrollHeight").Int()-c.log.Get("scrollTop").Int()-c.log.Get("clientHeight").Int() < 40
	c.log.Call("append", li)
	for c.log.Get("childElementCount").Int() > maxChatShown {
		c.log.Get("firstElementChild").Call("remove")
	}
	if atEnd {
		c.log.Set("scrollTop", c.log.Get("scrollHeight"))
	}
}

// refused says in words why the chat did not take a request.
func (c *chatUI) refused(ev protocol.ChatEvent) {
	c.mu.Lock()
	l := c.limits
	c.mu.Unlock()
	var say string
	switch ev.Code {
	case protocol.ChatErrRateLimited:
		say = "Not sent: you are writing faster than the room allows (" + itoa(l.Burst) + " at once, then " +
			strconv.FormatFloat(l.PerSecond, 'g', 3, 64) + " a second); wait a moment."
	case protocol.ChatErrTooLong:
		say = "Not sent: a message may be " + itoa(l.MaxText) + " bytes at most."
	case protocol.ChatErrMuted:
		say = "Not sent: the instructor muted you."
	case protocol.ChatErrNameTaken:
		say = "The chat already has someone called that; reconnecting…"
	case protocol.ChatErrRemoved:
		say = "The instructor removed you from this room's chat; you are still in the room."
	default:
		say = "The chat refused that: " + ev.Error
	}
	c.showError(say)
	c.errEl.Get("dataset").Set("code", ev.Code)
}

func (c *chatUI) showError(text string) {
	c.mu.Lock()
	c.errGen++
	gen := c.errGen
	c.mu.Unlock()
	setText(c.errEl, text)
	c.errEl.Set("hidden", false)
	time.AfterFunc(8*time.Second, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.errGen == gen {
			c.errEl.Set("hidden", true)
		}
	})
}

// say sends the composer's text to the room; it shows when it comes back as a "message".
func (c *chatUI) say() {
	text := strings.TrimSpace(c.input.Get("value").String())
	if text == "" {
		c.input.Call("focus")
		return
	}
	c.mu.Lock()
	ready, max := c.ready, c.limits.MaxText
	c.mu.Unlock()
	if max > 0 && len(text) > max {
		c.showError("Not sent: a message may be " + itoa(max) + " bytes at most (that one is " + itoa(len(text)) + ").")
		c.errEl.Get("dataset").Set("code", protocol.ChatErrTooLong)
		return
	}
	if !ready {
		c.showError("Not sent: the chat is not connected; it is reconnecting.")
		return
	}
	if c.request(protocol.ChatRequest{Type: protocol.ChatSay, Text: text}) {
		c.input.Set("value", "")
	} else {
		c.showError("Not sent: the room's connection is busy or down; try again in a moment.")
	}
	c.input.Call("focus")
}

func (c *chatUI) isMuted(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.muted[name]
}

// moderate sends the instructor's mute, unmute or remove of the member called name.
func (c *chatUI) moderate(act, name string) {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	if !ready {
		c.showError("The chat is not connected; it is reconnecting.")
		return
	}
	if !c.request(protocol.ChatRequest{Type: act, Name: name}) {
		c.showError("The room's connection is busy or down; try again in a moment.")
	}
}
