//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

// The instructor's room message (protocol.RoomSend): one text sent by the server over every
// transport across an emulated link of its own, whose link-mode events every member gets. The
// room-message area shows, per transport, what was sent, the echo, its round trip and the packets
// the link carried and dropped, and the packets in a sequence diagram as the Messages view and the
// lessons draw them.

// roomMessage is what the page knows of the room's latest message.
type roomMessage struct {
	send  *protocol.RoomSendData
	done  bool
	err   string
	rows  map[protocol.Transport]*msgRow
	trace lessonTrace
}

// msgRow is the message over one transport.
type msgRow struct {
	sent             int // bytes written
	echo             string
	rtt              int64 // µs, 0 until the echo
	lost             bool
	err              string
	packets, dropped int
	linkDropped      uint64 // from the stats' link counts, when they came
	stats            bool
}

// messageUI holds the room message's elements.
type messageUI struct {
	row, text, preset, btn js.Value
	box, status, rows      js.Value
	seqFig, seqNote        js.Value
	seq                    *seqDiagram
}

func newMessageUI() messageUI {
	m := messageUI{row: byID("room-send-row"), text: byID("room-send-text"), preset: byID("room-send-preset"), btn: byID("room-send"),
		box: byID("room-message"), status: byID("room-message-status"), rows: byID("room-message-rows"),
		seqFig: byID("room-message-seq"), seqNote: byID("room-message-seq-note")}
	m.seq = newSeqDiagram(m.seqFig)
	m.seq.keep, m.seq.byTransport = maxLessonPkts, true
	return m
}

func (r *roomUI) wireMessage(on func(e js.Value, event string, f func(ev js.Value))) {
	on(r.msgUI.btn, "click", func(js.Value) { r.sendClicked() })
	on(r.msgUI.text, "keydown", func(ev js.Value) {
		if ev.Get("key").String() == "Enter" && !ev.Get("isComposing").Truthy() {
			ev.Call("preventDefault")
			r.sendClicked()
		}
	})
}

func (r *roomUI) sendClicked() {
	text := strings.TrimSpace(r.msgUI.text.Get("value").String())
	if text == "" {
		r.setStatus("error", "Type the message the room will see travel.")
		r.msgUI.text.Call("focus")
		return
	}
	preset := r.msgUI.preset.Get("value").String()
	if r.send(protocol.RoomRequest{Type: protocol.RoomSend, Send: &protocol.RoomSendData{Text: text,
		Link: &protocol.LinkRequest{Mode: protocol.ModeLink, Preset: preset}}}) {
		r.msgUI.btn.Set("disabled", true)
	}
}

// enableMessageLocked sets the message controls; r.mu is held.
func (r *roomUI) enableMessageLocked(online, inst bool) {
	r.msgUI.row.Set("hidden", !inst)
	sending := r.msg.send != nil && !r.msg.done
	r.msgUI.btn.Set("disabled", !online || !inst || sending)
}

// messageFromState rebuilds the latest message from a "room" state; r.mu is held.
func (r *roomUI) messageFromState(st *protocol.RoomInfo) {
	r.msg = roomMessage{}
	if st.Message == nil {
		return
	}
	r.msg = roomMessage{send: st.Message, done: st.MessageDone, err: st.MessageError, rows: map[protocol.Transport]*msgRow{},
		trace: lessonTrace{skipped: uint64(st.MessageSkipped)}}
	for _, e := range st.MessageEvents {
		r.messageEvent(e)
	}
}

// applyMessageLocked takes a message_* event; r.mu is held.
func (r *roomUI) applyMessageLocked(ev protocol.RoomEvent) {
	switch ev.Type {
	case protocol.RoomMessageStarted:
		if ev.Send != nil {
			r.msg = roomMessage{send: ev.Send, rows: map[protocol.Transport]*msgRow{}}
		}
	case protocol.RoomMessageEvent:
		if ev.Event != nil && r.msg.send != nil && ev.SendID == r.msg.send.ID {
			r.messageEvent(*ev.Event)
		}
	case protocol.RoomMessageDone:
		if r.msg.send != nil && ev.SendID == r.msg.send.ID {
			r.msg.done, r.msg.err = true, ev.Error
		}
	}
}

func (r *roomUI) msgRowOf(t protocol.Transport) *msgRow {
	row := r.msg.rows[t]
	if row == nil {
		row = &msgRow{}
		r.msg.rows[t] = row
	}
	return row
}

// messageEvent takes one link-mode event of the message.
func (r *roomUI) messageEvent(ev protocol.Event) {
	switch ev.Type {
	case protocol.EventWrite:
		r.msgRowOf(ev.Transport).sent += ev.Bytes
	case protocol.EventComplete:
		row := r.msgRowOf(ev.Transport)
		row.echo, row.rtt = ev.Text, ev.DurMicros
	case protocol.EventLost:
		r.msgRowOf(ev.Transport).lost = true
	case protocol.EventError:
		if ev.Transport != "" {
			r.msgRowOf(ev.Transport).err = ev.Error
		}
	case protocol.EventStats:
		if ev.Stats != nil && ev.Stats.Link != nil {
			row := r.msgRowOf(ev.Transport)
			row.stats, row.linkDropped = true, ev.Stats.Link.UpDropped+ev.Stats.Link.DownDropped
		}
	case protocol.EventPackets:
		tr := &r.msg.trace
		tr.skipped += ev.Skipped
		for _, p := range ev.Packets {
			tr.pkts = append(tr.pkts, p)
			tr.seen++
			if p.Transport != "" {
				row := r.msgRowOf(p.Transport)
				row.packets++
				if p.Fate == "dropped" {
					row.dropped++
				}
			}
		}
		if n := len(tr.pkts); n > maxLessonPkts {
			tr.pkts = append(tr.pkts[:0], tr.pkts[n-maxLessonPkts:]...)
		}
	}
}

// renderMessageLocked draws the room's latest message; r.mu is held.
func (r *roomUI) renderMessageLocked() {
	m, ui := &r.msg, &r.msgUI
	if m.send == nil {
		ui.box.Set("hidden", true)
		return
	}
	ui.box.Set("hidden", false)
	ui.box.Get("dataset").Set("send", m.send.ID)
	what := "“" + m.send.Text + "”"
	if m.send.By != "" {
		what += " from " + m.send.By
	}
	if m.send.Link != nil && m.send.Link.Preset != "" {
		what += " over the " + m.send.Link.Preset + " link"
	}
	switch {
	case !m.done:
		ui.box.Get("dataset").Set("state", "running")
		setText(ui.status, "Sending "+what+"…")
	case m.err != "":
		ui.box.Get("dataset").Set("state", "error")
		setError(ui.status, what+" did not get through: ", m.err)
	default:
		ui.box.Get("dataset").Set("state", "done")
		setText(ui.status, what+": every transport's echo")
	}
	clear(ui.rows)
	for _, t := range protocol.Transports {
		row := m.rows[t]
		if row == nil {
			row = &msgRow{}
		}
		tr := el("tr", "", "")
		tr.Call("setAttribute", "data-testid", "room-message-row")
		tr.Call("setAttribute", "data-msg-transport", string(t))
		cell := func(role, text string, num bool) {
			td := el("td", "", text)
			if num {
				td.Set("className", "n")
			}
			td.Call("setAttribute", "data-role", role)
			tr.Call("append", td)
		}
		th := el("th", "", string(t))
		th.Set("scope", "row")
		tr.Call("append", th)
		sent := "…"
		if row.sent > 0 {
			sent = fmtBytes(row.sent)
		}
		cell("sent", sent, false)
		echo := "…"
		switch {
		case row.err != "":
			echo = "error: " + row.err
		case row.lost:
			echo = "lost"
		case row.rtt > 0:
			echo = row.echo
		case m.done:
			echo = "—"
		}
		cell("echo", echo, false)
		rtt := ""
		if row.rtt > 0 {
			rtt = fmtMicros(row.rtt)
		}
		cell("rtt", rtt, true)
		cell("packets", itoa(row.packets), true)
		dropped := row.dropped
		if row.stats && int(row.linkDropped) > dropped {
			dropped = int(row.linkDropped)
		}
		cell("dropped", itoa(dropped), true)
		ui.rows.Call("append", tr)
	}
	r.drawMessageSeqLocked()
}

func (r *roomUI) drawMessageSeqLocked() {
	m, ui := &r.msg, &r.msgUI
	if m.send == nil {
		return
	}
	tr := m.trace
	ui.seq.pkts = append(ui.seq.pkts[:0], tr.pkts...)
	ui.seq.seen = tr.seen
	note := itoa(tr.seen) + " packets"
	if tr.seen > len(tr.pkts) {
		note = "the last " + itoa(len(tr.pkts)) + " of " + note
	}
	setText(ui.seqNote, note)
	hint := "no packets yet"
	if m.done {
		hint = "this message put no packets on the link"
	}
	ui.seq.draw(hint)
}
