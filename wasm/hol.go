//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"syscall/js"

	"github.com/wireplay/wireplay/charts"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/report"
)

// holTransports are the head-of-line panel's cards, as in server/page.go.
var holTransports = []protocol.Transport{protocol.TCP, protocol.QUICStream, protocol.UDP, protocol.WS}

// holLesson is the lesson the Head-of-line tab runs.
const holLesson = "hol"

type holCard struct{ root, chart, stalls js.Value }

// holUI is the Head-of-line tab: a form for the "hol" lesson, run with the session's link
// settings, and its report drawn per transport by package report (as the Lessons tab draws it).
type holUI struct {
	run, messages, size, drop, status, result, meta, conclusion js.Value
	cards                                                       map[protocol.Transport]holCard
	pending                                                     uint64 // the running request's id
	packets                                                     int    // the running lesson's packets so far
	kernel                                                      bool   // the running request is kernel mode's
	queued                                                      int    // its place in the server's lesson queue, 0 once it runs
	ownRTT                                                      bool   // the request leaves the lesson's own round trip (the session's link adds no delay)
	last                                                        *protocol.ScenarioReport
}

func newHolUI() *holUI {
	h := &holUI{
		run:        byID("hol-run"),
		messages:   byID("hol-messages"),
		size:       byID("hol-size"),
		drop:       byID("hol-drop"),
		status:     byID("hol-status"),
		result:     byID("hol-result"),
		meta:       byID("hol-meta"),
		conclusion: byID("hol-conclusion"),
		cards:      map[protocol.Transport]holCard{},
	}
	for _, t := range holTransports {
		root := query(h.result, `[data-transport="`+string(t)+`"]`)
		h.cards[t] = holCard{root, query(root, `[data-role="hol-chart"]`), query(root, `[data-role="hol-stalls"]`)}
	}
	return h
}

// request builds the "scenario" request of the hol lesson from the form and the session's link
// (l.cur, what the server says is in force): in link mode its preset, both directions and seed,
// with the lesson's added round trip at 0, so the session's settings are what runs — unless they
// add no delay, where a loss is repaired before anything can wait behind it and the lesson would
// show the opposite of what it teaches: then the lesson's own round trip is left in (h.ownRTT,
// and the status says so); in kernel mode, which has no emulated link (and cannot drop a chosen
// packet), the lesson's own link and round trip. ok is false (and the status says why) when the
// form is not valid.
func (h *holUI) request(l *linkUI) (protocol.Request, bool) {
	h.ownRTT = false
	sr := &protocol.ScenarioRequest{Name: holLesson, Params: map[string]string{
		"messages": strings.TrimSpace(h.messages.Get("value").String()),
		"size":     strings.TrimSpace(h.size.Get("value").String()),
		"drop_nth": strings.TrimSpace(h.drop.Get("value").String()),
	}}
	for k, v := range sr.Params {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			setText(h.status, k+" must be a whole number, not “"+v+"”")
			return protocol.Request{}, false
		}
	}
	if l.cur.Mode == protocol.ModeLink {
		// DropNth and BlackholeMs are one-off actions on the session's link, not its settings.
		up, down := l.cur.Up, l.cur.Down
		up.DropNth, up.BlackholeMs, down.DropNth, down.BlackholeMs = 0, 0, 0, 0
		sr.Preset, sr.Up, sr.Down, sr.Seed = orClean(l.cur.Preset), &up, &down, l.cur.Seed
		h.ownRTT = up.DelayMs+down.DelayMs == 0
		if !h.ownRTT {
			sr.Params["rtt"] = "0"
		}
	}
	r := protocol.Request{V: protocol.Version, Type: protocol.TypeScenario, Scenario: sr}
	if err := r.Validate(); err != nil {
		setError(h.status, "", err.Error())
		return r, false
	}
	return r, true
}

func (h *holUI) started(id uint64, kernel bool) {
	h.pending, h.packets, h.kernel, h.queued = id, 0, kernel, 0
	h.run.Set("disabled", true)
	h.result.Get("dataset").Set("state", "running")
	h.showRunning()
}

func (h *holUI) showRunning() {
	if h.queued > 0 {
		setText(h.status, "queued: place "+itoa(h.queued)+" · the server runs one lesson per page and per address at a time; this one starts when its turn comes…")
		return
	}
	s := "running the hol lesson on "
	switch {
	case h.kernel:
		s += "its own emulated link (the session is on the kernel loopback, which cannot drop a chosen packet)"
	case h.ownRTT:
		s += "the session's link settings plus the lesson's own round trip (the session's link adds no delay, and without one a loss is repaired before anything can wait behind it)"
	default:
		s += "the session's link settings"
	}
	if h.packets > 0 {
		s += " · " + itoa(h.packets) + " packets so far"
	}
	setText(h.status, s+"…")
}

// queuedAt shows the lesson's place in the server's queue (0: it now runs).
func (h *holUI) queuedAt(place int) {
	h.queued = place
	h.showRunning()
}

// event counts a live event of the running lesson (its packets).
func (h *holUI) event(ev protocol.Event) {
	h.packets += len(ev.Packets)
	h.showRunning()
}

func (h *holUI) failed(msg string) {
	h.pending = 0
	h.run.Set("disabled", false)
	h.result.Get("dataset").Set("state", "error")
	setError(h.status, "The lesson failed: ", msg)
}

func (h *holUI) enable(on bool) {
	h.run.Set("disabled", !on || h.pending != 0)
	if !on && h.pending != 0 {
		h.failed("the connection to the server was lost")
	}
}

// done shows the lesson's report.
func (h *holUI) done(rep *protocol.ScenarioReport) {
	h.pending = 0
	h.run.Set("disabled", false)
	h.last = rep
	s := "Done, " + report.RanIn(rep) + ". Each dot is a message, higher is later; a step is a stall."
	if h.ownRTT && !h.kernel {
		s += " The session's link adds no delay, so the lesson added its own round trip (rtt=" + rep.Params["rtt"] + ")."
	}
	setText(h.status, s)
	h.render()
	h.result.Get("dataset").Set("state", "done")
}

// render draws the last report: the link it ran on, its conclusion, and per transport its
// delivery-time chart (the same figure the Lessons tab draws) and its stall figures, each from
// the lesson's metrics.
func (h *holUI) render() {
	rep := h.last
	if rep == nil || len(rep.Runs) == 0 {
		return
	}
	p := report.Render(rep, report.Page)
	setText(h.meta, "ran on "+p.Meta)
	h.meta.Set("title", p.Meta)
	setText(h.conclusion, p.Conclusion)
	run := rep.Runs[0]
	for _, t := range holTransports {
		c := h.cards[t]
		// report escapes every string of the report; nothing else is inserted as markup.
		setHTML(c.chart, report.Chart(rep, "Delivery time — "+string(t)))
		clear(c.stalls)
		if c.chart.Get("childElementCount").Int() == 0 {
			c.chart.Call("append", el("p", "empty", "no result for this transport"))
		}
		c.stalls.Call("append", el("span", "sl", "stall"))
		for i := range 3 {
			name := "stream" + itoa(i+1) + "_stall_ms"
			m, ok := holMetric(run, t, name)
			if !ok {
				continue
			}
			sp := el("span", "sv", report.FormatStat(m.Value)+" "+m.Unit)
			sp.Get("style").Set("color", charts.Color("stream "+itoa(i+1), i))
			sp.Call("setAttribute", "data-metric", name)
			sp.Set("title", "stream "+itoa(i+1)+": worst delivery delay over its median ("+name+")")
			c.stalls.Call("append", sp)
		}
		if m, ok := holMetric(run, t, "lost_messages"); ok && m.Value > 0 {
			sp := el("span", "sv lost", report.FormatStat(m.Value)+" never arrived")
			sp.Call("setAttribute", "data-metric", "lost_messages")
			c.stalls.Call("append", sp)
		}
		if note := holNote(run, t); note != "" {
			n := el("span", "note", note)
			n.Set("title", note)
			c.stalls.Call("append", n)
		}
	}
}

// holMetric is the run's metric name of transport t.
func holMetric(run *protocol.ScenarioResult, t protocol.Transport, name string) (protocol.Metric, bool) {
	for _, m := range run.Metrics {
		if m.Transport == string(t) && m.Name == name {
			return m, true
		}
	}
	return protocol.Metric{}, false
}

// holNote is what the lesson's table says in words of transport t (its last column).
func holNote(run *protocol.ScenarioResult, t protocol.Transport) string {
	for _, tb := range run.Tables {
		for _, row := range tb.Rows {
			if len(row) > 1 && row[0] == string(t) {
				return row[len(row)-1]
			}
		}
	}
	return ""
}
