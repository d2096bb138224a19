//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// maxChatShown bounds the chat log's entries on the page.
const maxChatShown = 300

// chatUI is the room's chat (protocol.ChatJoin at /r/CODE/chat?member=MEMBER, the instructor's
// member being its moderator): the log, with join and leave notices, and the composer. It joins
// with the room's name once the room took the page, and reconnects with backoff.
type chatUI struct {
	r *roomUI

	mu     sync.Mutex
	name   string
	out    chan protocol.ChatRequest
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

// start joins the chat as name, once (the room's first state).
func (c *chatUI) start(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.name != "" {
		return
	}
	c.name = name
	go c.runLoop()
}

// enableLocked enables the composer while the chat is connected and the room joined (the
// room's mu is held).
func (c *chatUI) enableLocked(joined bool) {
	c.mu.Lock()
	on := joined && c.out != nil
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

func (c *chatUI) runLoop() {
	backoff := minBackoff
	for {
		welcomed, err := c.session()
		if welcomed {
			backoff = minBackoff
		}
		why := "connection lost"
		if err != nil {
			why = describe(err)
		}
		c.notice("chat: " + why + " · reconnecting in " + fmtSeconds(backoff))
		time.Sleep(backoff)
		backoff = min(backoff*2, maxBackoff)
	}
}

func (c *chatUI) session() (welcomed bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := openWS(c.r.roomURL("chat")+"?member="+c.r.member, protocol.ChatMaxEvent)
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	err = conn.waitOpen(dctx)
	dcancel()
	if err != nil {
		return false, err
	}
	defer conn.CloseNow()
	out := make(chan protocol.ChatRequest, 16)
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case req := <-out:
				req.V = protocol.Version
				b, err := json.Marshal(req)
				if err != nil {
					continue
				}
				if conn.Write(b) != nil {
					return
				}
			}
		}
	}()
	defer func() {
		c.mu.Lock()
		c.out = nil
		c.mu.Unlock()
		c.enable()
	}()
	c.mu.Lock()
	name := c.name
	c.mu.Unlock()
	out <- protocol.ChatRequest{Type: protocol.ChatJoin, Name: name}
	for {
		data, err := conn.Read(ctx)
		if err != nil {
			return welcomed, err
		}
		var ev protocol.ChatEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			c.showError("Could not read a chat event: " + err.Error())
			continue
		}
		if !welcomed && ev.Type == protocol.ChatError && ev.Code == protocol.ChatErrNameTaken {
			// Our own last connection, not yet gone (a reload): join again in a moment.
			go func() {
				time.Sleep(time.Second)
				select {
				case out <- protocol.ChatRequest{Type: protocol.ChatJoin, Name: name}:
				case <-ctx.Done():
				}
			}()
		}
		if ev.Type == protocol.ChatWelcome {
			welcomed = true
			c.mu.Lock()
			c.out = out
			if ev.Limits != nil {
				c.limits = *ev.Limits
			}
			c.mu.Unlock()
			c.enable()
		}
		c.apply(ev)
	}
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
		s := ev.Name + " left"
		switch ev.Reason {
		case protocol.ChatLeftDropped:
			s += " (dropped: too slow to read)"
		case protocol.ChatLeftRemoved:
			s += " (removed by " + ev.By + ")"
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
	out, max := c.out, c.limits.MaxText
	c.mu.Unlock()
	if max > 0 && len(text) > max {
		c.showError("Not sent: a message may be " + itoa(max) + " bytes at most (that one is " + itoa(len(text)) + ").")
		c.errEl.Get("dataset").Set("code", protocol.ChatErrTooLong)
		return
	}
	if out == nil {
		c.showError("Not sent: the chat is not connected; it is reconnecting.")
		return
	}
	select {
	case out <- protocol.ChatRequest{Type: protocol.ChatSay, Text: text}:
		c.input.Set("value", "")
	default:
		c.showError("Not sent: too many messages wait to be sent.")
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
	out := c.out
	c.mu.Unlock()
	if out == nil {
		c.showError("The chat is not connected; it is reconnecting.")
		return
	}
	select {
	case out <- protocol.ChatRequest{Type: act, Name: name}:
	default:
		c.showError("Too many requests wait to be sent to the chat.")
	}
}
