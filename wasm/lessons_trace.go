//go:build js && wasm

package main

import (
	"slices"
	"strconv"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// tick refreshes the running lesson's status; it reports whether one is still running.
func (u *lessonsUI) tick() bool {
	if u.pending == 0 {
		return false
	}
	if u.cur == u.pendingName {
		u.showRunning()
		if u.seqDirty {
			u.drawSeq()
		}
	}
	return true
}

func (u *lessonsUI) showRunning() {
	st := u.states[u.pendingName]
	if u.queued > 0 {
		s := "queued: place " + itoa(u.queued)
		if in := u.info(u.pendingName); in != nil {
			s += " · “" + in.Title + "” starts when its turn comes"
		}
		u.setStatus("queued", s+" (the server runs one lesson per page and per address at a time)")
		return
	}
	s := "Running"
	if in := u.info(u.pendingName); in != nil {
		s += " “" + in.Title + "”"
	}
	if st != nil {
		s += " on " + st.preset
		if len(st.up) > 0 || len(st.down) > 0 {
			s += " (edited)"
		}
		s += ", seed " + strconv.FormatInt(st.seed, 10)
		if st.repeat > 1 {
			s += ", " + itoa(st.repeat) + " runs"
		}
	}
	s += "… " + strconv.FormatFloat(time.Since(u.started).Seconds(), 'f', 1, 64) + " s"
	if u.progress > 0 {
		s += " · " + itoa(u.progress) + " live events"
	}
	u.setStatus("running", s)
}

// queuedAt takes the lesson's place in the server's queue (0: it now runs, and its time starts).
func (u *lessonsUI) queuedAt(place int) {
	if u.queued > 0 && place == 0 {
		u.started = time.Now()
	}
	u.queued = place
	if u.cur == u.pendingName {
		u.showRunning()
	}
}

// event takes a live event of the running lesson (one whose request is the lesson's): its
// packets join the lesson's sequence diagram, drawn on the next tick.
func (u *lessonsUI) event(ev protocol.Event) {
	u.progress++
	if n := len(ev.Packets); n > 1 {
		u.progress += n - 1
	}
	if ev.Type != protocol.EventPackets {
		return
	}
	tr := u.traces[u.pendingName]
	if tr == nil {
		tr = &lessonTrace{}
		u.traces[u.pendingName] = tr
	}
	tr.skipped += ev.Skipped
	for _, p := range ev.Packets {
		tr.pkts = append(tr.pkts, p)
		tr.seen++
	}
	if len(tr.pkts) > maxLessonPkts {
		tr.pkts = slices.Delete(tr.pkts, 0, len(tr.pkts)-maxLessonPkts)
	}
	u.seqDirty = true
}

// drawSeq draws the shown lesson's packets, if it has streamed any.
func (u *lessonsUI) drawSeq() {
	u.seqDirty = false
	tr := u.traces[u.cur]
	running := u.pending != 0 && u.pendingName == u.cur
	if tr == nil || (tr.seen == 0 && tr.skipped == 0 && !running) {
		u.live.Set("hidden", true)
		return
	}
	u.live.Set("hidden", false)
	u.live.Get("dataset").Set("state", map[bool]string{true: "running", false: "done"}[running])
	u.seq.pkts = append(u.seq.pkts[:0], tr.pkts...)
	u.seq.seen = tr.seen
	note := itoa(tr.seen) + " packets"
	if tr.skipped > 0 {
		note += " · " + strconv.FormatUint(tr.skipped, 10) + " not shown"
		u.seq.note = strconv.FormatUint(tr.skipped, 10) + " skipped"
	} else {
		u.seq.note = ""
	}
	if tr.seen > len(tr.pkts) {
		note = "the last " + itoa(len(tr.pkts)) + " of " + note
	}
	if tr.skipped > 0 {
		note += " (a run streams at most " + itoa(perRunPackets) + "; the pcapng of `wireplay run --out` has them all)"
	}
	setText(u.seqNote, note)
	u.seqNote.Get("dataset").Set("skipped", strconv.FormatUint(tr.skipped, 10))
	hint := "no packets yet"
	if !running {
		hint = "this run put no packets on the link"
	}
	u.seq.draw(hint)
}
