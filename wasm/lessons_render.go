//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/report"
)

// finished stores the running lesson's outcome and shows it if that lesson is shown.
func (u *lessonsUI) finished(r *lessonResult) {
	name, key := u.pendingName, u.pendingKey
	u.pending, u.pendingName, u.pendingKey = 0, "", ""
	if r.report != nil && key != "" {
		storeResult(key, r.report)
	}
	u.run.Set("disabled", !u.online || u.info(u.cur) == nil)
	setText(u.run, "Run")
	if name == "" {
		return
	}
	u.results[name] = r
	if r.report != nil {
		u.last = name
	}
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
		u.setStatus("error", "")
		setError(u.status, "The lesson failed: ", r.err)
	default:
		u.result.Get("dataset").Set("state", "done")
	}
	u.draw(r)
	u.drawSeq()
}

// draw fills the result area from r's report (or empties it): the parts package report renders,
// the same markup as the --html report's.
func (u *lessonsUI) draw(r *lessonResult) {
	if r == nil || r.report == nil {
		u.view().empty()
		return
	}
	rep := r.report
	if u.pending == 0 || u.pendingName != u.cur {
		u.setStatus("done", "Result")
		u.status.Call("append", el("small", "", report.RanIn(rep)))
		if !r.restoredAt.IsZero() {
			from := el("small", "from-last", " · from your last run at "+r.restoredAt.Format("15:04"))
			from.Call("setAttribute", "data-testid", "lesson-from-last")
			from.Set("title", "kept in this browser from the last run with these settings ("+r.restoredAt.Format("2006-01-02 15:04:05")+"); Run again for a new one")
			u.status.Call("append", from)
		}
	}
	u.view().show(rep)
}

func (u *lessonsUI) view() reportView {
	return reportView{conclusion: u.conclusion, meta: u.meta, charts: u.charts, stats: u.stats,
		statsBody: u.statsBody, statsNote: u.statsNote, tables: u.tables}
}

// reportView is where a lesson's report is drawn: its conclusion, a line on the run, the charts,
// the statistics and the tables. The Lessons tab's result is one, the room's live area another.
type reportView struct {
	conclusion, meta, charts, stats, statsBody, statsNote, tables js.Value
}

// newReportView finds a report view's parts by id: prefix+"-conclusion", "-meta", "-charts",
// "-stats" (a table with a tbody), "-stats-note" and "-tables".
func newReportView(prefix string) reportView {
	v := reportView{conclusion: byID(prefix + "-conclusion"), meta: byID(prefix + "-meta"), charts: byID(prefix + "-charts"),
		stats: byID(prefix + "-stats"), statsNote: byID(prefix + "-stats-note"), tables: byID(prefix + "-tables")}
	v.statsBody = query(v.stats, "tbody")
	return v
}

func (v reportView) empty() {
	clear(v.charts)
	clear(v.statsBody)
	clear(v.tables)
	v.conclusion.Set("hidden", true)
	v.meta.Set("hidden", true)
	v.stats.Set("hidden", true)
}

// show draws rep with the parts package report renders, the same markup as the --html report's.
func (v reportView) show(rep *protocol.ScenarioReport) {
	p := report.Render(rep, report.Page)
	setText(v.conclusion, p.Conclusion)
	v.conclusion.Set("hidden", p.Conclusion == "")
	setText(v.meta, p.Meta)
	v.meta.Set("title", p.Meta)
	v.meta.Set("hidden", false)
	// report escapes every string of the report; nothing else is inserted as markup.
	setHTML(v.charts, p.Charts)
	v.stats.Set("hidden", len(rep.Stats) == 0)
	setText(v.statsNote, p.StatsNote)
	setHTML(v.statsBody, p.StatsRows)
	setHTML(v.tables, p.Tables)
}
