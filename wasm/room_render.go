//go:build js && wasm

package main

import (
	"math"
	"strconv"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// render redraws the room view from the room's state: the members always, the live area and the
// aggregate while the page follows the instructor (a participant who stepped out sees them as
// they are when they step back in). Many events in a row make one redraw.
func (r *roomUI) render() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.renderMembers()
	if r.dirty {
		return
	}
	r.dirty = true
	time.AfterFunc(100*time.Millisecond, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.dirty = false
		r.renderLive()
		r.renderMessageLocked()
		r.renderAggregate()
	})
}

func (r *roomUI) renderMembers() {
	clear(r.membersEl)
	for _, m := range r.members {
		li := el("li", "room-member", m.Name)
		li.Call("setAttribute", "data-testid", "room-member")
		li.Call("setAttribute", "data-member", m.ID)
		if m.Instructor {
			li.Call("append", el("small", "badge", "instructor"))
		}
		if m.ID == r.you.ID {
			li.Call("append", el("small", "badge you", "you"))
		}
		if r.you.Instructor && m.ID != r.you.ID { // the instructor moderates the room's chat
			muted := r.chat.isMuted(m.Name)
			act := map[bool]string{true: protocol.ChatUnmute, false: protocol.ChatMute}[muted]
			for _, a := range []string{act, protocol.ChatRemove} {
				b := el("button", "link-btn mod", a)
				b.Set("type", "button")
				b.Call("setAttribute", "data-act", a)
				b.Call("setAttribute", "data-name", m.Name)
				b.Call("setAttribute", "data-testid", "room-member-"+a)
				b.Set("title", map[string]string{protocol.ChatMute: "stop " + m.Name + " from writing in the chat",
					protocol.ChatUnmute: "let " + m.Name + " write in the chat again", protocol.ChatRemove: "put " + m.Name + " out of the chat"}[a])
				li.Call("append", b)
			}
			if muted {
				li.Call("append", el("small", "badge", "muted"))
			}
		}
		r.membersEl.Call("append", li)
	}
	if len(r.members) == 0 {
		r.membersEl.Call("append", el("li", "empty", "nobody here yet"))
	}
}

func (r *roomUI) title(name string) string {
	for _, in := range r.lessons {
		if in.Name == name {
			return in.Title
		}
	}
	return name
}

// renderLive draws the instructor's run: its state, its packets and, once done, its report.
func (r *roomUI) renderLive() {
	if !r.follow {
		r.live.Get("dataset").Set("state", "paused")
		setText(r.liveStatus, "You stepped out of the room's lesson: tick “Follow the instructor” to catch up with it.")
		return
	}
	if r.run == nil {
		r.live.Get("dataset").Set("state", "empty")
		setText(r.liveStatus, "No lesson has run in this room yet: when the instructor runs one, it shows here as it happens.")
		r.seqFig.Set("hidden", true)
		r.rv.empty()
		return
	}
	what := "“" + r.title(r.run.Lesson) + "”"
	if r.run.By != "" {
		what += " run by " + r.run.By
	}
	r.live.Get("dataset").Set("run", r.run.ID)
	r.liveStatus.Call("removeAttribute", "title")
	r.liveStatus.Call("removeAttribute", "data-error")
	switch {
	case !r.done:
		r.live.Get("dataset").Set("state", "running")
		s := "Running " + what + "…"
		if r.progress > 0 {
			s += " · " + itoa(r.progress) + " live events"
		}
		setText(r.liveStatus, s)
	case r.runErr != "":
		r.live.Get("dataset").Set("state", "error")
		setError(r.liveStatus, what+" did not finish: ", r.runErr)
	default:
		r.live.Get("dataset").Set("state", "done")
		setText(r.liveStatus, what+": result")
	}
	if r.done && r.report != nil {
		r.rv.show(r.report)
	} else {
		r.rv.empty()
	}
	r.drawSeqLocked()
}

// drawSeq draws the run's packets to the box's width (the app's redraw calls it).
func (r *roomUI) drawSeq() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.follow {
		r.drawSeqLocked()
	}
	r.drawMessageSeqLocked()
}

func (r *roomUI) drawSeqLocked() {
	tr := r.trace
	running := r.run != nil && !r.done
	if r.run == nil || tr.seen == 0 && tr.skipped == 0 && !running {
		r.seqFig.Set("hidden", true)
		return
	}
	r.seqFig.Set("hidden", false)
	r.seq.pkts = append(r.seq.pkts[:0], tr.pkts...)
	r.seq.seen = tr.seen
	note := itoa(tr.seen) + " packets"
	r.seq.note = ""
	if tr.skipped > 0 {
		note += " · " + strconv.FormatUint(tr.skipped, 10) + " not shown"
		r.seq.note = strconv.FormatUint(tr.skipped, 10) + " skipped"
	}
	if tr.seen > len(tr.pkts) {
		note = "the last " + itoa(len(tr.pkts)) + " of " + note
	}
	setText(r.seqNote, note)
	hint := "no packets yet"
	if !running {
		hint = "this run put no packets on the link"
	}
	r.seq.draw(hint)
}

// renderAggregate draws, for the instructor, each shared metric of each lesson as one strip of
// dots per transport on a common scale (the smallest value to the largest of all transports),
// one dot per participant, named in its title.
func (r *roomUI) renderAggregate() {
	if !r.you.Instructor {
		return
	}
	clear(r.aggEl)
	if len(r.agg) == 0 {
		r.aggEl.Call("append", el("p", "empty", "nothing shared yet: participants share their own runs from their page"))
		return
	}
	type group struct {
		lesson, name, unit string
		rows               []protocol.RoomAggregate
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, a := range r.agg {
		k := a.Lesson + "\x00" + a.Name
		g := byKey[k]
		if g == nil {
			g = &group{lesson: a.Lesson, name: a.Name, unit: a.Unit}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, a)
	}
	for _, g := range groups {
		box := el("div", "agg-group", "")
		head := r.title(g.lesson) + " · " + g.name
		if g.unit != "" {
			head += " (" + g.unit + ")"
		}
		box.Call("append", el("h4", "", head))
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, a := range g.rows {
			for _, v := range a.Values {
				lo, hi = min(lo, v.Value), max(hi, v.Value)
			}
		}
		for _, a := range g.rows {
			row := el("div", "agg-row", "")
			row.Call("setAttribute", "data-testid", "room-aggregate-row")
			row.Call("append", el("span", "agg-label", a.Transport))
			strip := el("span", "agg-strip", "")
			alo, ahi := math.Inf(1), math.Inf(-1)
			for _, v := range a.Values {
				alo, ahi = min(alo, v.Value), max(ahi, v.Value)
				pos := 50.0
				if hi > lo {
					pos = 100 * (v.Value - lo) / (hi - lo)
				}
				dot := el("i", "agg-dot", "")
				dot.Set("title", v.Name+": "+fmtValue(v.Value, a.Unit))
				dot.Get("style").Set("left", strconv.FormatFloat(pos, 'f', 1, 64)+"%") // the CSSOM: allowed by the policy
				strip.Call("append", dot)
			}
			row.Call("append", strip)
			rng := fmtValue(alo, a.Unit)
			if ahi > alo {
				rng += " – " + fmtValue(ahi, a.Unit)
			}
			row.Call("append", el("span", "agg-range", rng+" · "+itoa(len(a.Values))+" shared"))
			box.Call("append", row)
		}
		r.aggEl.Call("append", box)
	}
}

func fmtValue(v float64, unit string) string {
	s := strconv.FormatFloat(v, 'g', 4, 64)
	if unit != "" {
		s += " " + unit
	}
	return s
}
