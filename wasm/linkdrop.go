//go:build js && wasm

package main

import (
	"github.com/wireplay/wireplay/protocol"
)

// dropWatch follows one direction's "drop packet #k" (Impairment.DropNth): the link drops the
// k-th packet of that direction counted from when the setting was applied, once (link/fate.go).
// The page learns it fired from the packet the link reports dropped by rule "dropnth".
type dropWatch struct {
	nth       uint64
	seen      uint64 // packets of the direction seen since the setting was applied
	fired     bool
	cancelled bool // a later change re-applied the link before it fired
	at        int64
	transport protocol.Transport
	summary   string
}

// armDrops starts (or ends) the watches when a "link" event says what is in force: a direction
// with DropNth set was (re-)applied, so its count starts again; one without it ends a watch that
// had not fired.
func (l *linkUI) armDrops(st protocol.LinkState) {
	for i, nth := range []uint64{st.Up.DropNth, st.Down.DropNth} {
		w := l.drops[i]
		switch {
		case st.Mode != protocol.ModeLink:
			l.drops[i] = nil
		case nth > 0:
			l.drops[i] = &dropWatch{nth: nth}
		case w != nil && !w.fired:
			w.cancelled = true
		}
	}
}

// dropPacket counts packet p (of direction i) against that direction's watch.
func (l *linkUI) dropPacket(i int, p protocol.PacketInfo) {
	w := l.drops[i]
	if w == nil || w.fired || w.cancelled {
		return
	}
	w.seen++
	if p.Fate == "dropped" && p.Rule == "dropnth" {
		w.fired, w.at, w.transport, w.summary = true, p.AtMicros, p.Transport, p.Summary
	}
}

// showDrops appends each watched direction's state to the counters: "drop packet #1 ↑ fired at
// +2.31 s (TCP, client → server)" or "not yet (0 of 1 packets)".
func (l *linkUI) showDrops() {
	for i, w := range l.drops {
		if w == nil {
			continue
		}
		arrow, dir, d := "↑", "client → server", "up"
		if i == 1 {
			arrow, dir, d = "↓", "server → client", "down"
		}
		name := "drop packet #" + itoa(w.nth) + " " + arrow
		e := el("span", "dir drop-nth", "")
		e.Call("setAttribute", "data-testid", "link-drop-"+d)
		var text, title, state string
		switch {
		case w.fired:
			state = "fired"
			tr := string(w.transport)
			if tr == "" {
				tr = "a packet of none of the columns"
			}
			text = name + ": fired at " + fmtMicros(w.at)
			if w.transport != "" {
				text += " (" + string(w.transport) + ")"
			}
			title = "The link dropped packet #" + itoa(w.nth) + " " + dir + " counted from when the setting was applied, " +
				fmtMicros(w.at) + " after the session began: " + tr + ", " + w.summary + ". One-shot: it does not fire again."
		case w.cancelled:
			state = "cancelled"
			text = name + ": not fired"
			title = "A later change re-applied the link before packet #" + itoa(w.nth) + " " + dir + " came, so it did not fire (" + itoa(w.seen) + " packets had gone)."
		default:
			state = "armed"
			text = name + ": not yet (" + itoa(w.seen) + " of " + itoa(w.nth) + " packets)"
			title = "The link will drop packet #" + itoa(w.nth) + " " + dir + ", counted from when the setting was applied; " + itoa(w.seen) + " have gone so far."
		}
		e.Call("setAttribute", "data-state", state)
		e.Set("textContent", text)
		e.Set("title", title)
		l.counts.Call("append", e)
	}
}
