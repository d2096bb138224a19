//go:build js && wasm

package main

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

// maxPackets bounds each transport's sequence diagram.
const maxPackets = 60

// Sequence diagram geometry, in CSS pixels.
const (
	seqTop     = 24.0 // room for the lane names
	seqLeft    = 46.0 // the client lane; time labels ("+120 ms") sit left of it
	seqRight   = 10.0 // margin right of the server lane
	seqMinSend = 13.0 // least vertical room between two sends, so their labels do not collide
	seqMaxGap  = 36.0 // most vertical room an idle stretch takes
)

// seqDiagram is a packet sequence diagram — a transport's in the Messages tab, a lesson run's in
// the Lessons tab: client and server lanes, one sloped arrow per packet from its sender at the time
// it entered the wire to the receiver at its delivery.
type seqDiagram struct {
	box, svg, hint js.Value
	pkts           []protocol.PacketInfo // oldest first
	seen           int                   // packets ever added since the last reset
	// keep is how many packets the diagram holds (maxPackets when 0).
	keep int
	// byTransport marks each arrow with its packet's transport (data-proto), for a diagram that
	// mixes them; the stylesheet colours them.
	byTransport bool
	// note, when set, is shown above the lanes after the "last N" count.
	note string
}

// newSeqDiagram draws into root's [data-role=seq-box] (the scrolling box), [data-role=seq] (the
// SVG) and [data-role=seq-hint] (shown while there are no packets).
func newSeqDiagram(root js.Value) *seqDiagram {
	return &seqDiagram{
		box:  query(root, `[data-role="seq-box"]`),
		svg:  query(root, `[data-role="seq"]`),
		hint: query(root, `[data-role="seq-hint"]`),
	}
}

func (s *seqDiagram) limit() int {
	if s.keep > 0 {
		return s.keep
	}
	return maxPackets
}

func (s *seqDiagram) add(p protocol.PacketInfo) {
	s.pkts = append(s.pkts, p)
	s.seen++
	if n := s.limit(); len(s.pkts) > n {
		s.pkts = slices.Delete(s.pkts, 0, len(s.pkts)-n)
	}
}

func (s *seqDiagram) reset() {
	s.pkts = s.pkts[:0]
	s.seen = 0
	s.note = ""
}

// render redraws a transport's diagram in the Messages tab, whose network is mode.
func (s *seqDiagram) render(mode string) {
	hint := "switch to the emulated link to see packets"
	if mode == protocol.ModeLink {
		hint = "no packets yet: send a message"
	}
	s.draw(hint)
}

// draw redraws the diagram: lanes, a time axis and one arrow per packet, oldest at the top; with
// no packets, the hint.
func (s *seqDiagram) draw(hint string) {
	clear(s.svg)
	if len(s.pkts) == 0 {
		s.svg.Call("setAttribute", "height", "0")
		s.box.Get("dataset").Set("empty", "true")
		setText(s.hint, hint)
		return
	}
	s.box.Get("dataset").Set("empty", "false")
	w, visH := boxSize(s.box, 220, 180)
	xc, xs := seqLeft, w-seqRight
	lay := layoutSeq(s.pkts, visH)
	h := lay.height

	s.svg.Call("setAttribute", "width", fnum(w))
	s.svg.Call("setAttribute", "height", fnum(h))
	s.svg.Call("setAttribute", "viewBox", "0 0 "+fnum(w)+" "+fnum(h))
	frag := document.Call("createDocumentFragment")
	frag.Call("append",
		svgText(xc, 12, "lane-name", "client", "text-anchor", "middle"),
		svgText(xs, 12, "lane-name", "server", "text-anchor", "end"),
		svgEl("line", "class", "lane", "x1", xc, "y1", seqTop-6, "x2", xc, "y2", h),
		svgEl("line", "class", "lane", "x1", xs, "y1", seqTop-6, "x2", xs, "y2", h),
	)
	note := s.note
	if s.seen > len(s.pkts) {
		note = strings.TrimSuffix("last "+itoa(len(s.pkts))+" · "+note, " · ")
	}
	if note != "" {
		frag.Call("append", svgText(w/2, 12, "lane-note", shorten(note, int((xs-xc-80)/5)), "text-anchor", "middle"))
	}
	chars := int((xs - xc - 10) / 5.4)
	lastLabel, lastTime := math.Inf(-1), ""
	for _, i := range lay.order {
		p := s.pkts[i]
		y1 := lay.ySend[i]
		frag.Call("append", s.arrow(p, lay, y1, xc, xs, chars))
		if tl := relMillis(p.AtMicros - lay.t0); y1-lastLabel >= 26 && tl != lastTime {
			frag.Call("append", svgText(xc-6, y1+3, "t", tl, "text-anchor", "end"))
			lastLabel, lastTime = y1, tl
		}
	}
	s.svg.Call("append", frag)
	// Keep the newest packets in view unless the user scrolled back.
	st, sh, ch := s.box.Get("scrollTop").Float(), s.box.Get("scrollHeight").Float(), s.box.Get("clientHeight").Float()
	if st+ch >= sh-80 || st == 0 {
		s.box.Set("scrollTop", h)
	}
}

// seqLayout places a diagram's packets: sends in time order, on an axis scaled so that their time
// span fills the visible box, bent where needed: every send gets room for its label and idle
// stretches are shortened. Each arrow falls by its packet's latency on a scale of at least a few
// pixels per typical latency, so bursts read as parallel arrows and a slower (reordered) packet
// as a steeper one.
type seqLayout struct {
	order  []int     // packet indices in send order
	ySend  []float64 // each packet's send height
	t0     int64     // the first send, µs
	kLat   float64   // px per µs of latency
	drop   float64   // how far a dropped packet's arrow falls before it stops, twice over
	height float64
}

func layoutSeq(pkts []protocol.PacketInfo, visH float64) *seqLayout {
	l := &seqLayout{order: make([]int, len(pkts)), ySend: make([]float64, len(pkts))}
	var lats []int64
	for i, p := range pkts {
		l.order[i] = i
		if p.Fate != "dropped" && p.LatencyMicros > 0 {
			lats = append(lats, p.LatencyMicros)
		}
	}
	slices.SortStableFunc(l.order, func(a, b int) int { return cmp.Compare(pkts[a].AtMicros, pkts[b].AtMicros) })
	l.t0 = pkts[l.order[0]].AtMicros
	span := pkts[l.order[len(l.order)-1]].AtMicros - l.t0
	k := (visH - seqTop - 30) / float64(max(span, 1000)) // px per µs
	l.kLat = k
	if len(lats) > 0 {
		slices.Sort(lats)
		l.kLat = max(k, 16/float64(lats[len(lats)/2]))
	}
	y, prev, h := seqTop+10, l.t0, 0.0
	for n, i := range l.order {
		p := pkts[i]
		if n > 0 {
			y += max(min(float64(p.AtMicros-prev)*k, seqMaxGap), seqMinSend)
		}
		prev = p.AtMicros
		l.ySend[i] = y
		h = max(h, y+l.fall(p))
	}
	l.height = h + 12
	// A dropped packet's arrow falls like a delivered one's before it stops, halfway.
	l.drop = 16.0
	if len(lats) > 0 {
		l.drop = min(max(float64(lats[len(lats)/2])*l.kLat, 4), 80)
	}
	return l
}

// fall is how far p's arrow drops on its way across.
func (l *seqLayout) fall(p protocol.PacketInfo) float64 {
	if p.LatencyMicros <= 0 {
		return 0
	}
	return min(max(float64(p.LatencyMicros)*l.kLat, 4), 80)
}

// arrow draws one packet sent at height y1 between the client lane xc and the server lane xs.
func (s *seqDiagram) arrow(p protocol.PacketInfo, lay *seqLayout, y1, xc, xs float64, chars int) js.Value {
	up := p.Dir != "down"
	x1, x2 := xc, xs
	if !up {
		x1, x2 = xs, xc
	}
	y2 := y1 + lay.fall(p)
	dropped := p.Fate == "dropped"
	if dropped {
		x2 = (x1 + x2) / 2
		y2 = y1 + lay.drop/2
		if p.LatencyMicros > 0 {
			y2 = y1 + lay.fall(p)/2
		}
	}
	cls := "pk " + map[bool]string{true: "up", false: "down"}[up]
	g := svgEl("g", "class", cls, "data-fate", p.Fate, "data-dir", p.Dir)
	if p.Retransmit {
		g.Call("setAttribute", "data-retx", "true")
	}
	if p.Duplicated {
		g.Call("setAttribute", "data-dup", "true")
	}
	if s.byTransport && p.Transport != "" {
		g.Call("setAttribute", "data-proto", string(p.Transport))
	}
	details := packetDetails(p, lay.t0)
	if s.byTransport && p.Transport != "" {
		details = strings.ToUpper(string(p.Transport)) + " · " + details
	}
	svgTitle(g, details)
	g.Call("append", svgEl("line", "x1", x1, "y1", y1, "x2", x2, "y2", y2))
	if dropped {
		g.Call("append", svgText(x2, y2+4, "x-mark", "✕", "text-anchor", "middle"))
	} else {
		g.Call("append", svgEl("path", "class", "head", "d", arrowHead(x1, y1, x2, y2)))
		if p.Duplicated { // the copy, drawn just after the original
			g.Call("append", svgEl("line", "class", "dup", "x1", x1, "y1", y1+3, "x2", x2, "y2", y2+3))
		}
	}
	lx, anchor := x1+4, "start"
	if !up {
		lx, anchor = x1-4, "end"
	}
	g.Call("append", svgText(lx, y1-2.5, "lbl", shorten(seqLabel(p), chars), "text-anchor", anchor))
	return g
}

// seqLabel is the text beside a packet's arrow: its summary (or size), marked when dropped,
// retransmitted or duplicated.
func seqLabel(p protocol.PacketInfo) string {
	label := p.Summary
	if label == "" {
		label = itoa(p.Size) + " B"
	}
	switch {
	case p.Fate == "dropped":
		label = "✕ " + label
	case p.Retransmit:
		label = "↻ " + label
	}
	if p.Duplicated {
		label += " ×2"
	}
	return label
}

// arrowHead is the path of an arrow's head at (x2, y2) for a line from (x1, y1).
func arrowHead(x1, y1, x2, y2 float64) string {
	dx, dy := x2-x1, y2-y1
	l := math.Hypot(dx, dy)
	if l == 0 {
		return ""
	}
	ux, uy := dx/l, dy/l
	const size, half = 6.0, 3.0
	bx, by := x2-ux*size, y2-uy*size
	return "M" + fnum(x2) + " " + fnum(y2) +
		"L" + fnum(bx-uy*half) + " " + fnum(by+ux*half) +
		"L" + fnum(bx+uy*half) + " " + fnum(by-ux*half) + "Z"
}

// relMillis labels a time axis with its unit: "+0 ms", "+1.5 ms", "+20 ms", "+1.2 s".
func relMillis(us int64) string {
	ms := float64(us) / 1000
	switch {
	case ms == 0:
		return "+0 ms"
	case ms < 10:
		return "+" + strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 1000:
		return "+" + strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	default:
		return "+" + strconv.FormatFloat(ms/1000, 'f', 1, 64) + " s"
	}
}

// packetDetails is a packet's tooltip.
func packetDetails(p protocol.PacketInfo, t0 int64) string {
	dir := "client → server"
	if p.Dir == "down" {
		dir = "server → client"
	}
	lines := []string{
		p.Summary,
		dir + " · " + itoa(p.Size) + " B on the wire" + payload(p.PayloadLen),
		"sent at " + fmtMicros(p.AtMicros) + " after the session began (" + relMillis(p.AtMicros-t0) + " after this view's first packet)",
	}
	if p.Fate == "dropped" {
		rule := p.Rule
		if rule == "" {
			rule = "the link"
		}
		lines = append(lines, "DROPPED by "+rule)
	} else {
		lines = append(lines, "delivered after "+fmtMicros(p.LatencyMicros))
	}
	if p.QueuedMicros > 0 {
		lines = append(lines, "queued "+fmtMicros(p.QueuedMicros))
	}
	if p.Retransmit {
		lines = append(lines, "retransmission: this data was sent before")
	}
	if p.Duplicated {
		lines = append(lines, "duplicated: the link delivered it twice")
	}
	return strings.Join(lines, "\n")
}

func payload(n int) string {
	if n <= 0 {
		return ""
	}
	return " · payload " + itoa(n) + " B"
}
