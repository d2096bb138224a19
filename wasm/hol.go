//go:build js && wasm

package main

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

// holTransports are the head-of-line panel's cards, as in server/page.go.
var holTransports = []protocol.Transport{protocol.TCP, protocol.QUICStream, protocol.UDP, protocol.WS}

type holCard struct{ root, svg, stalls js.Value }

// holUI is the head-of-line experiment: its form and one delivery-time plot per transport.
type holUI struct {
	run, messages, size, drop, status, result js.Value
	cards                                     map[protocol.Transport]holCard
	pending                                   uint64 // the running request's id
	last                                      *protocol.HOLResult
}

func newHolUI() *holUI {
	h := &holUI{
		run:      byID("hol-run"),
		messages: byID("hol-messages"),
		size:     byID("hol-size"),
		drop:     byID("hol-drop"),
		status:   byID("hol-status"),
		result:   byID("hol-result"),
		cards:    map[protocol.Transport]holCard{},
	}
	for _, t := range holTransports {
		root := query(h.result, `[data-transport="`+string(t)+`"]`)
		h.cards[t] = holCard{root, query(root, `[data-role="hol-svg"]`), query(root, `[data-role="hol-stalls"]`)}
	}
	return h
}

// request reads the form; ok is false (and the status says why) when it is not valid.
func (h *holUI) request() (protocol.Request, bool) {
	n := func(e js.Value) int {
		v, err := strconv.Atoi(strings.TrimSpace(e.Get("value").String()))
		if err != nil {
			return -1
		}
		return v
	}
	r := protocol.Request{V: protocol.Version, Type: protocol.TypeHOL, HOL: &protocol.HOLRequest{
		Messages: n(h.messages), Size: n(h.size), DropNth: uint64(max(0, n(h.drop))),
	}}
	if err := r.Validate(); err != nil {
		setText(h.status, err.Error())
		return r, false
	}
	return r, true
}

func (h *holUI) started(id uint64) {
	h.pending = id
	h.run.Set("disabled", true)
	h.result.Get("dataset").Set("state", "running")
	setText(h.status, "running… every transport sends its three streams at once")
}

func (h *holUI) failed(msg string) {
	h.pending = 0
	h.run.Set("disabled", false)
	h.result.Get("dataset").Set("state", "error")
	setText(h.status, "The experiment failed: "+msg)
}

func (h *holUI) enable(on bool) {
	h.run.Set("disabled", !on || h.pending != 0)
	if !on && h.pending != 0 {
		h.failed("the connection to the server was lost")
	}
}

func (h *holUI) done(r *protocol.HOLResult) {
	h.pending = 0
	h.run.Set("disabled", false)
	h.last = r
	s := itoa(r.Messages) + " messages × " + fmtBytes(r.Size) + " per stream"
	if r.DropNth > 0 {
		s += ", client→server packet #" + itoa(r.DropNth) + " dropped"
	}
	setText(h.status, s+". Higher dots arrived later; a step is a stall.")
	h.render()
	h.result.Get("dataset").Set("state", "done")
}

// render draws each transport's delivery times on one shared scale, so a stall compares across
// transports at a glance.
func (h *holUI) render() {
	r := h.last
	if r == nil {
		return
	}
	var ymax int64 = 1000
	for _, streams := range r.Runs {
		for _, s := range streams {
			for _, v := range s {
				ymax = max(ymax, v)
			}
		}
	}
	top := niceMax(float64(ymax))
	for _, t := range holTransports {
		c := h.cards[t]
		clear(c.svg)
		clear(c.stalls)
		w, ht := boxSize(c.svg, 400, 140)
		c.svg.Call("setAttribute", "viewBox", "0 0 "+fnum(w)+" "+fnum(ht))
		c.svg.Call("setAttribute", "preserveAspectRatio", "none")
		streams, ok := r.Runs[t]
		if !ok {
			c.svg.Call("append", svgText(w/2, ht/2, "empty", "not run", "text-anchor", "middle"))
			setText(c.stalls, "no result for this transport")
			continue
		}
		const left, right, topM, bottom = 52.0, 10.0, 10.0, 18.0
		pw, ph := w-left-right, ht-topM-bottom
		n := max(r.Messages, 1)
		x := func(i int) float64 { return left + (float64(i)+0.5)/float64(n)*pw }
		y := func(v int64) float64 { return topM + ph - float64(v)/top*ph }
		frag := document.Call("createDocumentFragment")
		frag.Call("append",
			svgEl("rect", "class", "plot", "x", left, "y", topM, "width", pw, "height", ph),
			svgEl("line", "class", "grid", "x1", left, "x2", left+pw, "y1", topM+ph/2, "y2", topM+ph/2),
			svgText(left-6, topM+8, "ax", fmtMicros(int64(top)), "text-anchor", "end"),
			svgText(left-6, topM+ph/2+3, "ax", fmtMicros(int64(top/2)), "text-anchor", "end"),
			svgText(left-6, topM+ph, "ax", "0", "text-anchor", "end"),
			svgText(left, ht-4, "ax", "message 1", "text-anchor", "start"),
			svgText(left+pw, ht-4, "ax", itoa(n), "text-anchor", "end"),
			svgText(left+pw/2, ht-4, "ax", "message →  (up: delivered later)", "text-anchor", "middle"),
		)
		for si, s := range streams {
			cls := "s" + itoa(si%3)
			var xs, ys []float64
			for i, v := range s {
				if v < 0 {
					mk := svgText(x(i), topM+9, "never", "✕", "text-anchor", "middle")
					svgTitle(mk, "stream "+itoa(si+1)+", message "+itoa(i+1)+": never delivered")
					frag.Call("append", mk)
					continue
				}
				xs, ys = append(xs, x(i)), append(ys, y(v))
			}
			if len(xs) > 1 {
				frag.Call("append", svgEl("polyline", "class", "hl "+cls, "points", points(xs, ys)))
			}
			j := 0
			for i, v := range s {
				if v < 0 {
					continue
				}
				dot := svgEl("circle", "class", "hd "+cls, "cx", xs[j], "cy", ys[j], "r", 2.4)
				svgTitle(dot, "stream "+itoa(si+1)+", message "+itoa(i+1)+": delivered at "+fmtMicros(v))
				frag.Call("append", dot)
				j++
			}
		}
		c.svg.Call("append", frag)

		// The stall numbers: each stream's worst delay over its median.
		stalls := r.Stalls[t]
		c.stalls.Call("append", el("span", "sl", "stall"))
		worst := int64(0)
		for si, v := range stalls {
			worst = max(worst, v)
			sp := el("span", "sv s"+itoa(si%3), fmtMicros(v))
			sp.Set("title", "stream "+itoa(si+1)+": worst delivery delay over its median")
			c.stalls.Call("append", sp)
		}
		lost := 0
		for _, s := range streams {
			for _, v := range s {
				if v < 0 {
					lost++
				}
			}
		}
		if lost > 0 {
			c.stalls.Call("append", el("span", "sv lost", itoa(lost)+" never arrived"))
		}
		if note := r.Notes[t]; note != "" {
			n := el("span", "note", note)
			n.Set("title", note)
			c.stalls.Call("append", n)
		}
		c.root.Get("dataset").Set("stall", strconv.FormatBool(worst > 0 && float64(worst) > 0.25*median(streams)))
	}
}

// median is the median delivery time of every delivered message, for telling a stall from noise.
func median(streams [][]int64) float64 {
	var all []int64
	for _, s := range streams {
		for _, v := range s {
			if v >= 0 {
				all = append(all, v)
			}
		}
	}
	if len(all) == 0 {
		return math.Inf(1)
	}
	slices.Sort(all)
	return float64(all[len(all)/2])
}
