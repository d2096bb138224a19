//go:build js && wasm

package main

import (
	"slices"
	"strings"
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

const (
	maxCards   = 50  // messages kept in a column's timeline
	maxReads   = 30  // reads kept in a column's read list
	rttSamples = 200 // round trips kept for the p50
)

// msgKey names a message: Msg numbers restart with every new transport connection (gen).
type msgKey struct {
	gen int
	msg uint64
}

// card is one message in a column's timeline.
type card struct {
	li, text, rtt, steps js.Value
	writeAt              int64
	bytes                int
	reads                int
	settled              bool
}

// column is the live state of one transport's column.
type column struct {
	t                                                  protocol.Transport
	root, conn, hs, rtt, p50, metrics, reads, timeline js.Value
	count                                              js.Value
	seq                                                *seqDiagram

	gen       int
	cards     map[msgKey]*card
	order     []msgKey // oldest first
	rtts      []int64
	nReads    int
	delivered int
	lost      int
	errors    int
	notes     uint64
	lastWrite uint64         // highest message written on this connection
	stats     protocol.Stats // the latest of each kind of stack metrics
}

func newColumn(t protocol.Transport) *column {
	root := query(document, `[data-transport="`+string(t)+`"]`)
	role := func(r string) js.Value { return query(root, `[data-role="`+r+`"]`) }
	c := &column{
		t:        t,
		root:     root,
		conn:     role("conn"),
		hs:       role("hs"),
		rtt:      role("rtt"),
		p50:      role("p50"),
		metrics:  role("metrics"),
		reads:    role("reads"),
		timeline: role("timeline"),
		count:    role("count"),
		cards:    map[msgKey]*card{},
		seq:      newSeqDiagram(root),
	}
	c.explainTiles()
	return c
}

func (c *column) setConn(state, text string) {
	c.root.Get("dataset").Set("state", state)
	setText(c.conn, text)
}

func (c *column) apply(ev protocol.Event) {
	switch ev.Type {
	case protocol.EventDial:
		c.setConn("dialing", "dialing…")
		setText(c.hs, "…")
	case protocol.EventConnected:
		c.gen++
		c.lastWrite = 0
		c.stats = protocol.Stats{}
		c.setConn("open", "connected")
		// The relay says what the time covers; UDP has no handshake at all.
		c.hs.Call("setAttribute", "title", ev.Handshake)
		if ev.Handshake == protocol.HandshakeNone {
			setText(c.hs, "none")
			c.note("connected", "ready · no handshake")
		} else {
			setValue(c.hs, fmtMicros(ev.DurMicros))
			c.note("connected", "connected · handshake "+fmtMicros(ev.DurMicros)+" ("+ev.Handshake+")")
		}
	case protocol.EventWrite:
		k := msgKey{c.gen, ev.Msg}
		c.lastWrite = max(c.lastWrite, ev.Msg)
		cd := c.card(k, ev.Text)
		cd.writeAt = ev.AtMicros
		cd.bytes = ev.Bytes
		w := cd.step("w", "write "+fmtBytes(ev.Bytes))
		if c.datagrams() {
			w.Set("title", "the datagram written: the message's "+fmtBytes(max(0, ev.Bytes-8))+" after wireplay's 8-byte sequence number")
		}
	case protocol.EventRead:
		c.read(ev)
	case protocol.EventComplete:
		c.addRTT(ev.DurMicros)
		cd := c.settle(ev, ev.Text)
		if cd == nil {
			c.delivered++
			break
		}
		if !cd.settled {
			cd.settled = true
			c.delivered++
		}
		cd.li.Get("classList").Call("add", "ok")
		cd.text.Call("setAttribute", "data-testid", "echo")
		setText(cd.rtt, fmtMicros(ev.DurMicros))
		cd.step("c", "✓ echo "+fmtOffset(ev.AtMicros-cd.writeAt))
	case protocol.EventLost:
		cd := c.settle(ev, "")
		if cd == nil {
			c.lost++
			break
		}
		if !cd.settled {
			cd.settled = true
			c.lost++
		}
		cd.li.Get("classList").Call("add", "lost")
		setText(cd.rtt, "lost")
		cd.step("x", "lost after "+fmtMicros(max(0, ev.AtMicros-cd.writeAt)))
	case protocol.EventError:
		c.errors++
		if cd := c.cards[msgKey{c.gen, ev.Msg}]; ev.Msg != 0 && cd != nil {
			cd.li.Get("classList").Call("add", "err")
			setText(cd.rtt, "error")
			setError(cd.step("x", ""), "", ev.Error)
		} else {
			setError(c.note("err", ""), "", ev.Error)
		}
		if c.root.Get("dataset").Get("state").String() != "open" {
			c.setConn("error", "error")
			setText(c.hs, "failed")
		}
	case protocol.EventClosed:
		c.setConn("closed", "closed")
		li := c.note("closed", "connection closed")
		if ev.Error != "" {
			setError(li, "connection closed: ", ev.Error)
		}
	}
	if ev.Stats != nil {
		c.setStats(ev.Stats)
	}
	c.updateCount()
}

// settle finds the card a "complete" or "lost" event is about. A message whose card was already
// dropped from the bounded timeline (a long burst) has none: nil. One whose write was never seen
// gets a card now.
func (c *column) settle(ev protocol.Event, text string) *card {
	k := msgKey{c.gen, ev.Msg}
	if cd := c.cards[k]; cd != nil {
		return cd
	}
	if ev.Msg <= c.lastWrite {
		return nil
	}
	if text == "" {
		text = "message #" + itoa(ev.Msg)
	}
	cd := c.card(k, text)
	cd.writeAt = ev.AtMicros - ev.DurMicros
	return cd
}

// card returns the timeline entry of message k, making it (newest first) if needed.
func (c *column) card(k msgKey, text string) *card {
	if cd := c.cards[k]; cd != nil {
		return cd
	}
	c.clearEmpty(c.timeline)
	cd := &card{li: el("li", "msg", "")}
	top := el("div", "msg-top", "")
	top.Call("append", el("span", "msg-n", "#"+itoa(k.msg)))
	cd.text = el("span", "msg-text", visible(text))
	cd.text.Set("title", text)
	top.Call("append", cd.text)
	cd.rtt = el("span", "msg-rtt", "…")
	top.Call("append", cd.rtt)
	cd.steps = el("div", "steps", "")
	cd.li.Call("append", top, cd.steps)
	c.timeline.Call("prepend", cd.li)
	c.cards[k] = cd
	c.order = append(c.order, k)
	for len(c.order) > maxCards {
		old := c.order[0]
		c.order = c.order[1:]
		if o := c.cards[old]; o != nil {
			o.li.Call("remove")
			delete(c.cards, old)
		}
	}
	return cd
}

func (cd *card) step(kind, text string) js.Value {
	s := el("span", "step "+kind, text)
	cd.steps.Call("append", s)
	return s
}

// datagrams says the column's transport sends datagrams, each led by an 8-byte sequence number.
func (c *column) datagrams() bool { return c.t == protocol.UDP || c.t == protocol.QUICDgram }

// note puts a line that is not a message (connection changes, errors) into the timeline.
func (c *column) note(kind, text string) js.Value {
	c.clearEmpty(c.timeline)
	li := el("li", "note "+kind, text)
	c.timeline.Call("prepend", li)
	// Notes count against the same bound as messages, sharing the order slice under gen -1.
	c.notes++
	k := msgKey{gen: -1, msg: c.notes}
	c.cards[k] = &card{li: li, settled: true}
	c.order = append(c.order, k)
	return li
}

// read shows what one read call returned, and adds it to the messages it carried.
func (c *column) read(ev protocol.Event) {
	c.clearEmpty(c.reads)
	merged := len(ev.Msgs) > 1
	li := el("li", "", "")
	if merged {
		li.Set("className", "merged")
	}
	rb := el("span", "rb", fmtBytes(ev.Bytes))
	if c.datagrams() {
		rb.Set("title", "bytes this read returned: wireplay's 8-byte sequence number and "+fmtBytes(max(0, ev.Bytes-8))+" of message")
	} else {
		rb.Set("title", "bytes this read returned")
	}
	li.Call("append", rb)
	li.Call("append", el("span", "rm", msgList(ev.Msgs)))
	pv := el("span", "rp", visible(ev.Text))
	pv.Set("title", ev.Text)
	li.Call("append", pv)
	if merged {
		li.Call("append", el("span", "badge", itoa(len(ev.Msgs))+" msgs in 1 read"))
	}
	c.reads.Call("prepend", li)
	c.nReads++
	for c.reads.Get("childElementCount").Int() > maxReads {
		c.reads.Get("lastElementChild").Call("remove")
	}
	for _, m := range ev.Msgs {
		cd := c.cards[msgKey{c.gen, m}]
		if cd == nil {
			continue
		}
		cd.reads++
		label := "read " + fmtBytes(ev.Bytes)
		if merged {
			label += " (" + itoa(len(ev.Msgs)) + " msgs)"
		}
		kind := "r"
		if merged || cd.reads > 1 {
			kind = "r odd"
		}
		cd.step(kind, label+" "+fmtOffset(ev.AtMicros-cd.writeAt))
	}
}

func (c *column) addRTT(us int64) {
	c.rtts = append(c.rtts, us)
	if len(c.rtts) > rttSamples {
		c.rtts = c.rtts[len(c.rtts)-rttSamples:]
	}
	setValue(c.rtt, fmtMicros(us))
	s := slices.Clone(c.rtts)
	slices.Sort(s)
	setValue(c.p50, fmtMicros(s[len(s)/2]))
}

func (c *column) updateCount() {
	parts := []string{}
	if c.delivered > 0 {
		parts = append(parts, itoa(c.delivered)+" echoed")
	}
	if c.lost > 0 {
		parts = append(parts, itoa(c.lost)+" lost")
	}
	if c.errors == 1 {
		parts = append(parts, "1 error")
	} else if c.errors > 1 {
		parts = append(parts, itoa(c.errors)+" errors")
	}
	setText(c.count, strings.Join(parts, " · "))
}

// resetFigures clears the tiles (handshake, RTT, p50) and the stack's metrics when the network
// changes: they were measured on the previous one. The timeline keeps its history, with a note.
func (c *column) resetFigures() {
	if len(c.rtts) == 0 && c.stats == (protocol.Stats{}) {
		return
	}
	c.rtts = nil
	c.stats = protocol.Stats{}
	for _, e := range []js.Value{c.hs, c.rtt, c.p50} {
		setText(e, "—")
		e.Call("removeAttribute", "title")
	}
	if c.metrics.Truthy() { // a local transport's column has none
		setText(c.metrics, "")
	}
	c.note("network", "network changed: figures reset")
}

// reconnecting marks the column while the relay re-dials it.
func (c *column) reconnecting() {
	c.setConn("dialing", "reconnecting…")
	setText(c.hs, "…")
}

// sessionEnded marks the column while the relay socket is down: its connections went with it.
func (c *column) sessionEnded() {
	c.setConn("closed", "offline")
}

// sessionStarted marks the column ready for a new relay session; nothing is dialled yet.
func (c *column) sessionStarted() {
	c.setConn("idle", "idle")
}

// unavailable marks a column whose transport the relay does not offer.
func (c *column) unavailable() {
	c.setConn("closed", "not offered")
}

func (c *column) clearEmpty(list js.Value) {
	if e := query(list, ".empty"); !e.IsNull() {
		e.Call("remove")
	}
}

// setStats shows what the stack reported. Events may carry part of the picture (a datagram's
// "complete" has only the sequence counts), so the latest of each kind is kept and shown together.
func (c *column) setStats(s *protocol.Stats) {
	if s.TCP != nil {
		c.stats.TCP = s.TCP
	}
	if s.TCPServer != nil {
		c.stats.TCPServer = s.TCPServer
	}
	if s.QUIC != nil {
		c.stats.QUIC = s.QUIC
	}
	if s.QUICRecovery != nil {
		c.stats.QUICRecovery = s.QUICRecovery
	}
	if s.Link != nil {
		c.stats.Link = s.Link
	}
	if s.Seq != nil {
		c.stats.Seq = s.Seq
	}
	if s.WS != nil {
		c.stats.WS = s.WS
	}
	kv := c.metricList()
	if len(kv) == 0 || !c.metrics.Truthy() {
		return
	}
	c.metrics.Set("textContent", "")
	for _, m := range kv {
		d := el("div", "", "")
		d.Set("title", m.title)
		d.Call("append", el("dt", "", m.label), el("dd", "", m.value))
		c.metrics.Call("append", d)
	}
}

// msgList names the messages a read carried: "#3", "#3+#4", or "#3…#20" for many.
func msgList(ms []uint64) string {
	if len(ms) > 4 {
		return "#" + itoa(ms[0]) + "…#" + itoa(ms[len(ms)-1])
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = "#" + itoa(m)
	}
	return strings.Join(ids, "+")
}
