//go:build js && wasm

package main

import "github.com/wireplay/wireplay/report"

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
		clear(u.charts)
		clear(u.statsBody)
		clear(u.tables)
		u.conclusion.Set("hidden", true)
		u.meta.Set("hidden", true)
		u.stats.Set("hidden", true)
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
	p := report.Render(rep, report.Page)
	setText(u.conclusion, p.Conclusion)
	u.conclusion.Set("hidden", p.Conclusion == "")
	setText(u.meta, p.Meta)
	u.meta.Set("title", p.Meta)
	u.meta.Set("hidden", false)
	// report escapes every string of the report; nothing else is inserted as markup.
	setHTML(u.charts, p.Charts)
	u.stats.Set("hidden", len(rep.Stats) == 0)
	setText(u.statsNote, p.StatsNote)
	setHTML(u.statsBody, p.StatsRows)
	setHTML(u.tables, p.Tables)
}
