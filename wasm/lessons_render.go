//go:build js && wasm

package main

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/wireplay/wireplay/charts"
	"github.com/wireplay/wireplay/protocol"
)

// finished stores the running lesson's outcome and shows it if that lesson is shown.
func (u *lessonsUI) finished(r *lessonResult) {
	name := u.pendingName
	u.pending, u.pendingName = 0, ""
	u.run.Set("disabled", !u.online || u.info(u.cur) == nil)
	setText(u.run, "Run")
	if name == "" {
		return
	}
	u.results[name] = r
	if b, ok := u.items[name]; ok {
		state := "done"
		if r.err != "" {
			state = "error"
		}
		b.Get("dataset").Set("state", state)
	}
	if name == u.cur {
		u.render()
	}
}

// render shows the shown lesson's result, or that it runs, or that it has not run.
func (u *lessonsUI) render() {
	r := u.results[u.cur]
	running := u.pending != 0 && u.pendingName == u.cur
	switch {
	case running:
		u.result.Get("dataset").Set("state", "running")
		u.showRunning()
		if r != nil && r.report != nil {
			return // the last result stays, dimmed, until the new one comes
		}
	case u.pending != 0 && r == nil:
		u.result.Get("dataset").Set("state", "empty")
		if in := u.info(u.pendingName); in != nil {
			u.setStatus("", "“"+in.Title+"” is running; this lesson can run when it is done.")
		}
	case r == nil:
		u.result.Get("dataset").Set("state", "empty")
		if u.info(u.cur) == nil {
			u.setStatus("", "Lessons run a scenario on an emulated link of their own and explain what it measured.")
		} else {
			u.setStatus("", "Press Run: the conclusion, the charts and the numbers of this link's run show here.")
		}
	case r.err != "":
		u.result.Get("dataset").Set("state", "error")
		u.setStatus("error", "The lesson failed: "+r.err)
	default:
		u.result.Get("dataset").Set("state", "done")
	}
	u.draw(r)
	u.drawSeq()
}

// draw fills the result area from r's report (or empties it).
func (u *lessonsUI) draw(r *lessonResult) {
	clear(u.charts)
	clear(u.statsBody)
	clear(u.tables)
	if r == nil || r.report == nil {
		u.conclusion.Set("hidden", true)
		u.meta.Set("hidden", true)
		u.stats.Set("hidden", true)
		return
	}
	rep := r.report
	if u.pending == 0 || u.pendingName != u.cur {
		u.setStatus("done", "Result")
		u.status.Call("append", el("small", "", "ran in "+strconv.FormatFloat(rep.WallMillis/1000, 'f', 1, 64)+" s"))
	}
	setText(u.conclusion, rep.Conclusion)
	u.conclusion.Set("hidden", rep.Conclusion == "")
	meta := rep.Preset + " · ↑ " + rep.Up + " · ↓ " + rep.Down + " · seed " + strconv.FormatInt(rep.Seed, 10)
	if rep.Repeat > 1 {
		meta += " · " + itoa(rep.Repeat) + " runs (seeds " + strconv.FormatInt(rep.Seed, 10) + "–" + strconv.FormatInt(rep.Seed+int64(rep.Repeat)-1, 10) + ")"
	}
	keys := make([]string, 0, len(rep.Params))
	for k := range rep.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		meta += " · " + k + "=" + rep.Params[k]
	}
	setText(u.meta, meta)
	u.meta.Set("title", meta)
	u.meta.Set("hidden", false)

	var run *protocol.ScenarioResult
	if len(rep.Runs) > 0 {
		run = rep.Runs[0]
	}
	// Each name takes the colour the charts give it, so a row of the tables matches its line.
	colors := map[string]string{}
	if run != nil {
		for _, g := range charts.Group(run.Series) {
			for i, sr := range g {
				if _, ok := colors[sr.Name]; !ok {
					colors[sr.Name] = charts.Color(sr.Name, i)
				}
			}
		}
	}
	color := func(name string) string {
		if c, ok := colors[name]; ok {
			return c
		}
		return knownColor(name)
	}
	if run != nil {
		for i, svg := range charts.All(run.Series) {
			if i == maxLessonCharts {
				break
			}
			fig := el("figure", "lesson-chart", "")
			fig.Call("setAttribute", "data-testid", "lesson-chart")
			fig.Set("innerHTML", svg) // charts escapes every label; nothing else is inserted as markup
			if rep.Repeat > 1 {
				fig.Call("append", el("figcaption", "", "run 1 of "+itoa(rep.Repeat)))
			}
			u.charts.Call("append", fig)
		}
	}

	u.stats.Set("hidden", len(rep.Stats) == 0)
	note := "from 1 run"
	if rep.Repeat > 1 {
		note = "over " + itoa(rep.Repeat) + " runs, mean ± 95% confidence interval (Student's t)"
	}
	setText(u.statsNote, note)
	frag := document.Call("createDocumentFragment")
	last := "\x00"
	for i, s := range rep.Stats {
		if i == maxLessonStats {
			tr := el("tr", "more", "")
			td := el("td", "", itoa(len(rep.Stats)-i)+" more not shown")
			td.Set("colSpan", 4)
			tr.Call("append", td)
			frag.Call("append", tr)
			break
		}
		tr := el("tr", "", "")
		tname := s.Transport
		if tname == "" {
			tname = "link"
		}
		tcell := el("td", "tr-name", "")
		if s.Transport != last {
			tr.Get("classList").Call("add", "first")
			if c := color(s.Transport); c != "" {
				dot := el("i", "", "")
				dot.Get("style").Call("setProperty", "--c", c)
				tcell.Call("append", dot)
			}
			tcell.Call("append", tname)
		}
		last = s.Transport
		name := el("td", "m-name", strings.ReplaceAll(s.Name, "_", " "))
		name.Set("title", s.Name)
		val := el("td", "n", fmtStat(s.Mean))
		if s.N > 1 {
			val.Call("append", el("small", "ci", " ± "+fmtCI(s.CI95, s.Mean)))
		}
		val.Set("title", "n="+itoa(s.N)+", min "+fmtStat(s.Min)+", max "+fmtStat(s.Max))
		tr.Call("append", tcell, name, val, el("td", "unit", s.Unit))
		frag.Call("append", tr)
	}
	u.statsBody.Call("append", frag)

	if run != nil {
		for i, t := range run.Tables {
			if i == maxLessonTables {
				break
			}
			u.tables.Call("append", tableEl(t, color))
		}
	}
}

// tableEl draws one of a result's tables, at most maxTableRows rows of it.
func tableEl(t protocol.Table, color func(string) string) js.Value {
	box := el("div", "lesson-table", "")
	tb := el("table", "", "")
	tb.Call("append", el("caption", "", t.Title))
	// A column whose cells are all numbers (or empty) is aligned right, its heading too.
	numeric := make([]bool, len(t.Columns))
	for j := range numeric {
		some := false
		numeric[j] = true
		for _, row := range t.Rows[:min(len(t.Rows), maxTableRows)] {
			if j < len(row) && strings.TrimSpace(row[j]) != "" {
				some = true
				numeric[j] = numeric[j] && isNumber(row[j])
			}
		}
		numeric[j] = numeric[j] && some
	}
	head := el("tr", "", "")
	for j, c := range t.Columns {
		th := el("th", "", c)
		if numeric[j] {
			th.Set("className", "n")
		}
		head.Call("append", th)
	}
	thead := el("thead", "", "")
	thead.Call("append", head)
	body := el("tbody", "", "")
	for i, row := range t.Rows {
		if i == maxTableRows {
			tr := el("tr", "more", "")
			td := el("td", "", itoa(len(t.Rows)-i)+" more rows not shown")
			td.Set("colSpan", max(1, len(t.Columns)))
			tr.Call("append", td)
			body.Call("append", tr)
			break
		}
		tr := el("tr", "", "")
		for j, c := range row {
			td := el("td", "", c)
			if j < len(numeric) && numeric[j] {
				td.Set("className", "n")
			}
			if j == 0 {
				if col := color(c); col != "" {
					td.Get("style").Call("setProperty", "--c", col)
					td.Get("classList").Call("add", "tr-name")
				}
			}
			if len([]rune(c)) > 40 {
				td.Set("title", c)
			}
			tr.Call("append", td)
		}
		body.Call("append", tr)
	}
	tb.Call("append", thead, body)
	box.Call("append", tb)
	return box
}

// knownColor is the chart colour of a transport charts knows by name, "" for others (whose
// colour depends on their place in a chart).
func knownColor(name string) string {
	if name == "" {
		return ""
	}
	if c := charts.Color(name, 0); c == charts.Color(name, 1) {
		return c
	}
	return ""
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	return err == nil
}

// fmtStat shows a statistic with about three significant digits.
func fmtStat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	a := math.Abs(v)
	var s string
	switch {
	case a == 0:
		return "0"
	case a >= 1000:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 10:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.01:
		s = strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fmtCI shows a confidence interval's half-width to the precision its mean is shown with.
func fmtCI(ci, mean float64) string {
	if math.IsNaN(ci) || math.IsInf(ci, 0) {
		return "—"
	}
	d := 0
	switch a := math.Abs(mean); {
	case a >= 1000:
	case a >= 100:
		d = 1
	case a >= 10:
		d = 2
	default:
		d = 3
	}
	return strconv.FormatFloat(ci, 'f', d, 64)
}
