//go:build js && wasm

package main

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/wireplay/wireplay/charts"
	"github.com/wireplay/wireplay/protocol"
)

// Bounds on what one lesson result puts on the page.
const (
	maxLessonCharts = 12
	maxLessonStats  = 300
	maxLessonTables = 10
	maxTableRows    = 200
	maxLessonPkts   = 120  // packets the lesson's sequence diagram holds
	perRunPackets   = 2000 // packets the relay forwards per run (scenarios.ProgressPerRun)
)

// lessonState is one lesson's controls: what a Run asks for, and what its address holds.
type lessonState struct {
	preset string
	seed   int64
	repeat int
	params map[string]string // values that differ from the scenario's defaults
	// up and down are the per-direction fields edited away from the preset ("delay" → "30").
	up, down map[string]string
}

// lessonResult is a lesson's last outcome: a report or why it failed.
type lessonResult struct {
	report *protocol.ScenarioReport
	err    string
}

// lessonTrace is a lesson's last run's packets as they streamed in: the last maxLessonPkts of
// them, how many came, and how many the relay skipped.
type lessonTrace struct {
	pkts    []protocol.PacketInfo
	seen    int
	skipped uint64
}

// lessonsUI is the Lessons tab: the menu of the relay's scenarios, the chosen one's explanation
// and controls, and its result (conclusion, charts, statistics, tables).
type lessonsUI struct {
	list, title, summary, explain, preset, seed, repeat, params, link, linkState, run js.Value
	result, status, conclusion, meta, charts, stats, statsBody, statsNote, tables     js.Value
	fields                                                                            map[string]js.Value // "up-delay" → input
	live, seqNote                                                                     js.Value
	seq                                                                               *seqDiagram
	traces                                                                            map[string]*lessonTrace
	seqDirty                                                                          bool

	infos     []protocol.ScenarioInfo
	presets   []protocol.PresetInfo
	items     map[string]js.Value // menu buttons by scenario name
	paramEls  map[string]js.Value // the shown lesson's parameter inputs
	states    map[string]*lessonState
	results   map[string]*lessonResult
	cur       string // the lesson shown, "" before the welcome
	urlLesson string // the lesson the address named at load
	urlState  *lessonState
	active    bool // the Lessons tab is shown: the address is the lesson's
	online    bool

	pending     uint64 // the running request's id
	pendingName string
	started     time.Time
	progress    int // live events of the running lesson seen so far
}

func newLessonsUI() *lessonsUI {
	u := &lessonsUI{
		list: byID("lesson-list"), title: byID("lesson-title"), summary: byID("lesson-summary"),
		explain: byID("lesson-explain"), preset: byID("lesson-preset"), seed: byID("lesson-seed"),
		repeat: byID("lesson-repeat"), params: byID("lesson-params"), link: byID("lesson-link"),
		linkState: byID("lesson-link-state"), run: byID("lesson-run"),
		result: byID("lesson-result"), status: byID("lesson-status"), conclusion: byID("lesson-conclusion"),
		meta: byID("lesson-meta"), charts: byID("lesson-charts"), stats: byID("lesson-stats"),
		statsNote: byID("lesson-stats-note"), tables: byID("lesson-tables"),
		fields: map[string]js.Value{}, items: map[string]js.Value{}, paramEls: map[string]js.Value{},
		states: map[string]*lessonState{}, results: map[string]*lessonResult{},
		live: byID("lesson-live"), seqNote: byID("lesson-seq-note"), traces: map[string]*lessonTrace{},
	}
	u.seq = newSeqDiagram(u.live)
	u.seq.keep, u.seq.byTransport = maxLessonPkts, true
	u.statsBody = query(u.stats, "tbody")
	for _, d := range []string{"up", "down"} {
		for _, k := range impKeys {
			u.fields[d+"-"+k] = byID("lesson-" + d + "-" + k)
		}
	}
	// The address may name a lesson and its controls:
	// ?view=lessons&lesson=handshake&preset=wifi&seed=3&repeat=2&p.requests=5&up.loss=10
	q := currentQuery()
	if q.Get("view") == "lessons" && q.Get("lesson") != "" {
		u.urlLesson = q.Get("lesson")
		st := &lessonState{preset: q.Get("preset"), params: map[string]string{}, up: map[string]string{}, down: map[string]string{}}
		st.seed, _ = strconv.ParseInt(q.Get("seed"), 10, 64)
		st.repeat, _ = strconv.Atoi(q.Get("repeat"))
		for k, v := range q {
			if len(v) == 0 {
				continue
			}
			switch {
			case strings.HasPrefix(k, "p."):
				st.params[k[2:]] = v[0]
			case strings.HasPrefix(k, "up.") && slices.Contains(impKeys, k[3:]):
				st.up[k[3:]] = v[0]
			case strings.HasPrefix(k, "down.") && slices.Contains(impKeys, k[5:]):
				st.down[k[5:]] = v[0]
			}
		}
		u.urlState = st
	}
	return u
}

// welcome fills the menu with the scenarios the relay offers and shows the chosen lesson.
func (u *lessonsUI) welcome(infos []protocol.ScenarioInfo, presets []protocol.PresetInfo) {
	u.infos, u.presets = infos, presets
	clear(u.list)
	u.items = map[string]js.Value{}
	if len(infos) == 0 {
		u.list.Call("append", el("li", "empty", "This server offers no lessons."))
		u.show("")
		return
	}
	for i, in := range infos {
		li := el("li", "", "")
		b := el("button", "lesson-item", "")
		b.Set("type", "button")
		b.Call("setAttribute", "data-testid", "lesson-"+in.Name)
		b.Call("setAttribute", "data-lesson", in.Name)
		b.Set("title", in.Summary)
		b.Call("append", el("span", "li-n", itoa(i+1)), el("span", "li-title", in.Title), el("span", "li-sum", in.Summary))
		li.Call("append", b)
		u.list.Call("append", li)
		u.items[in.Name] = b
		if r := u.results[in.Name]; r != nil {
			b.Get("dataset").Set("state", map[bool]string{true: "error", false: "done"}[r.err != ""])
		}
	}
	name := u.cur
	if u.info(name) == nil {
		name = u.urlLesson
	}
	if u.info(name) == nil {
		name = infos[0].Name
	}
	u.show(name)
}

func (u *lessonsUI) info(name string) *protocol.ScenarioInfo {
	for i := range u.infos {
		if u.infos[i].Name == name {
			return &u.infos[i]
		}
	}
	return nil
}

// state is lesson name's controls, from the address the first time if it named this lesson.
func (u *lessonsUI) state(in *protocol.ScenarioInfo) *lessonState {
	if st := u.states[in.Name]; st != nil {
		return st
	}
	st := &lessonState{params: map[string]string{}, up: map[string]string{}, down: map[string]string{}}
	if u.urlState != nil && in.Name == u.urlLesson {
		st = u.urlState
		u.urlState = nil
		for k, v := range st.params {
			i := slices.IndexFunc(in.Params, func(p protocol.ParamInfo) bool { return p.Name == k })
			switch {
			case i < 0:
				delete(st.params, k)
			case isBool(in.Params[i].Default): // a checkbox: true or false, nothing else
				if b, _ := strconv.ParseBool(v); strconv.FormatBool(b) == in.Params[i].Default {
					delete(st.params, k)
				} else {
					st.params[k] = strconv.FormatBool(b)
				}
			}
		}
	}
	if u.presetInfo(st.preset) == nil {
		st.preset = in.Preset
	}
	st.seed = max(st.seed, 1)
	st.repeat = min(max(st.repeat, 1), 10)
	u.states[in.Name] = st
	return st
}

func (u *lessonsUI) presetInfo(name string) *protocol.PresetInfo {
	for i := range u.presets {
		if u.presets[i].Name == name {
			return &u.presets[i]
		}
	}
	return nil
}

// show shows lesson name: its explanation, its controls and its last result.
func (u *lessonsUI) show(name string) {
	u.cur = name
	for n, b := range u.items {
		b.Call("setAttribute", "aria-current", strconv.FormatBool(n == name))
	}
	in := u.info(name)
	clear(u.explain)
	clear(u.params)
	u.paramEls = map[string]js.Value{}
	if in == nil {
		setText(u.title, "Lessons")
		setText(u.summary, "")
		u.enable(u.online)
		u.render()
		return
	}
	st := u.state(in)
	setText(u.title, in.Title)
	setText(u.summary, in.Summary)
	for _, para := range strings.Split(strings.ReplaceAll(in.Explain, "\r\n", "\n"), "\n\n") {
		if para = strings.TrimSpace(para); para != "" {
			u.explain.Call("append", el("p", "", para))
		}
	}
	u.explain.Set("scrollTop", 0)

	clear(u.preset)
	for _, p := range u.presets {
		label := p.Name
		if p.Name == in.Preset {
			label += " (the lesson's)"
		}
		o := el("option", "", label)
		o.Set("value", p.Name)
		o.Set("title", p.Description)
		u.preset.Call("append", o)
	}
	u.preset.Set("value", st.preset)
	u.seed.Set("value", strconv.FormatInt(st.seed, 10))
	u.repeat.Set("value", itoa(st.repeat))

	u.showParams(in, st) // wasm/params.go
	u.fillLink()
	u.enable(u.online)
	u.render()
	u.saveURL()
}

func isBool(s string) bool { return s == "true" || s == "false" }

// fillLink shows the preset's per-direction settings with the lesson's edits on top.
func (u *lessonsUI) fillLink() {
	st := u.states[u.cur]
	if st == nil {
		return
	}
	for _, d := range []string{"up", "down"} {
		base := u.presetDir(st.preset, d)
		edits := st.up
		if d == "down" {
			edits = st.down
		}
		for _, k := range impKeys {
			v, ok := edits[k]
			if !ok {
				v = impGet(base, k)
			}
			f := u.fields[d+"-"+k]
			if k == "reorder" {
				f.Set("checked", v == "true")
			} else {
				f.Set("value", v)
			}
			f.Get("classList").Call("toggle", "edited", ok)
		}
	}
	name := st.preset
	if len(st.up) > 0 || len(st.down) > 0 {
		name += " (edited)"
	}
	p := u.presetInfo(st.preset)
	text := name
	if p != nil {
		up, down := p.Up, p.Down
		if len(st.up) > 0 {
			up = u.direction(st, "up")
		}
		if len(st.down) > 0 {
			down = u.direction(st, "down")
		}
		text += " · ↑ " + describeImp(up) + " · ↓ " + describeImp(down)
	}
	setText(u.linkState, text)
	u.linkState.Set("title", text)
}

func (u *lessonsUI) presetDir(preset, dir string) protocol.Impairment {
	p := u.presetInfo(preset)
	if p == nil {
		return protocol.Impairment{}
	}
	if dir == "down" {
		return p.Down
	}
	return p.Up
}

// direction is one direction of the link a run asks for: the preset's with the lesson's edits.
func (u *lessonsUI) direction(st *lessonState, dir string) protocol.Impairment {
	im := u.presetDir(st.preset, dir)
	edits := st.up
	if dir == "down" {
		edits = st.down
	}
	for k, v := range edits {
		impSet(&im, k, v)
	}
	im.JitterMs = min(im.JitterMs, im.DelayMs)
	return im
}

// impGet is one per-direction field of im as the inputs show it ("" for zero).
func impGet(im protocol.Impairment, key string) string {
	f := func(v float64) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	switch key {
	case "delay":
		return f(im.DelayMs)
	case "jitter":
		return f(im.JitterMs)
	case "reorder":
		return strconv.FormatBool(im.Reorder)
	case "loss":
		return f(im.LossPct)
	case "dup":
		return f(im.DuplicatePct)
	case "rate":
		return f(float64(im.RateKbps))
	case "queue":
		return f(float64(im.QueuePackets))
	case "drop":
		return f(float64(im.DropNth))
	}
	return ""
}

// impSet sets one per-direction field of im from its input's text; bad numbers count as 0.
func impSet(im *protocol.Impairment, key, v string) {
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		n = 0
	}
	switch key {
	case "delay":
		im.DelayMs = n
	case "jitter":
		im.JitterMs = n
	case "reorder":
		im.Reorder = v == "true"
	case "loss":
		im.LossPct = n
	case "dup":
		im.DuplicatePct = n
	case "rate":
		im.RateKbps = int64(n)
	case "queue":
		im.QueuePackets = int(n)
	case "drop":
		im.DropNth = uint64(n)
	}
}

// changed reads the control the user changed (el) into the shown lesson's state.
func (u *lessonsUI) changed(target js.Value) {
	in := u.info(u.cur)
	if in == nil {
		return
	}
	st := u.state(in)
	id := target.Get("id").String()
	switch {
	case id == "lesson-preset":
		st.preset = u.preset.Get("value").String()
		clearMap(st.up)
		clearMap(st.down)
		u.fillLink()
	case id == "lesson-seed":
		n, err := strconv.ParseInt(strings.TrimSpace(u.seed.Get("value").String()), 10, 64)
		if err != nil || n < 0 {
			n = 1
		}
		st.seed = max(n, 1)
		u.seed.Set("value", strconv.FormatInt(st.seed, 10))
	case id == "lesson-repeat":
		n, err := strconv.Atoi(strings.TrimSpace(u.repeat.Get("value").String()))
		if err != nil {
			n = 1
		}
		st.repeat = min(max(n, 1), 10)
		u.repeat.Set("value", itoa(st.repeat))
	case target.Get("dataset").Get("param").Truthy():
		name := target.Get("dataset").Get("param").String()
		var v string
		if target.Get("type").String() == "checkbox" {
			v = strconv.FormatBool(target.Get("checked").Bool())
		} else {
			v = strings.TrimSpace(target.Get("value").String())
		}
		def := ""
		for _, p := range in.Params {
			if p.Name == name {
				def = p.Default
			}
		}
		if v == "" || v == def {
			delete(st.params, name)
		} else {
			st.params[name] = v
		}
	case target.Get("dataset").Get("imp").Truthy():
		dir, key := target.Get("dataset").Get("dir").String(), target.Get("dataset").Get("imp").String()
		edits := st.up
		if dir == "down" {
			edits = st.down
		}
		var v string
		if key == "reorder" {
			v = strconv.FormatBool(target.Get("checked").Bool())
		} else {
			v = strings.TrimSpace(target.Get("value").String())
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
				v = impGet(protocol.Impairment{DelayMs: f}, "delay")
			} else {
				v = ""
			}
		}
		if v == impGet(u.presetDir(st.preset, dir), key) {
			delete(edits, key)
		} else {
			edits[key] = v
		}
		u.fillLink()
	default:
		return
	}
	u.saveURL()
}

// resetLink drops the shown lesson's per-direction edits.
func (u *lessonsUI) resetLink() {
	if st := u.states[u.cur]; st != nil {
		clearMap(st.up)
		clearMap(st.down)
		u.fillLink()
		u.saveURL()
	}
}

func clearMap(m map[string]string) {
	for k := range m {
		delete(m, k)
	}
}

// lessonKeys are the address's keys that belong to the lesson shown.
func isLessonKey(k string) bool {
	switch k {
	case "lesson", "preset", "seed", "repeat":
		return true
	}
	return strings.HasPrefix(k, "p.") || strings.HasPrefix(k, "up.") || strings.HasPrefix(k, "down.")
}

// saveURL writes the shown lesson and its controls into the page's address, so a link reproduces
// them; only while the Lessons tab is shown (the other views own preset and seed).
func (u *lessonsUI) saveURL() {
	if !u.active || u.cur == "" {
		return
	}
	st := u.states[u.cur]
	rewriteURL(func(q url.Values) {
		for k := range q {
			if isLessonKey(k) || k == "mode" {
				q.Del(k)
			}
		}
		q.Set("lesson", u.cur)
		if st == nil {
			return
		}
		q.Set("preset", st.preset)
		q.Set("seed", strconv.FormatInt(st.seed, 10))
		if st.repeat > 1 {
			q.Set("repeat", itoa(st.repeat))
		}
		for k, v := range st.params {
			q.Set("p."+k, v)
		}
		for k, v := range st.up {
			q.Set("up."+k, v)
		}
		for k, v := range st.down {
			q.Set("down."+k, v)
		}
	})
}

// request builds the shown lesson's "scenario" request; ok is false (and the status says why)
// when the controls do not make a valid one.
func (u *lessonsUI) request() (protocol.Request, bool) {
	in := u.info(u.cur)
	if in == nil {
		return protocol.Request{}, false
	}
	st := u.state(in)
	sr := &protocol.ScenarioRequest{Name: in.Name, Preset: st.preset, Seed: st.seed, Repeat: st.repeat}
	if len(st.params) > 0 {
		sr.Params = map[string]string{}
		for k, v := range st.params {
			sr.Params[k] = v
		}
	}
	if len(st.up) > 0 {
		im := u.direction(st, "up")
		sr.Up = &im
	}
	if len(st.down) > 0 {
		im := u.direction(st, "down")
		sr.Down = &im
	}
	r := protocol.Request{V: protocol.Version, Type: protocol.TypeScenario, Scenario: sr}
	if err := r.Validate(); err != nil {
		u.setStatus("error", err.Error())
		return r, false
	}
	return r, true
}

func (u *lessonsUI) setStatus(state, text string) {
	setText(u.status, text)
	u.status.Get("dataset").Set("state", state)
}

func (u *lessonsUI) enable(on bool) {
	u.online = on
	has := u.info(u.cur) != nil
	u.preset.Set("disabled", !has)
	u.run.Set("disabled", !on || !has || u.pending != 0)
	if !on && u.pending != 0 {
		u.finished(&lessonResult{err: "the connection to the server was lost"})
	}
}

// begin marks request id, for the shown lesson, as running.
func (u *lessonsUI) begin(id uint64) {
	u.pending, u.pendingName, u.started, u.progress = id, u.cur, time.Now(), 0
	u.traces[u.cur] = &lessonTrace{}
	u.run.Set("disabled", true)
	setText(u.run, "Running…")
	if b, ok := u.items[u.cur]; ok {
		b.Get("dataset").Set("state", "running")
	}
	u.render()
}

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

// currentQuery is the page address's query.
func currentQuery() url.Values {
	q, _ := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	return q
}

// rewriteURL edits the page address's query in place (no navigation, no history entry).
func rewriteURL(edit func(q url.Values)) {
	loc := js.Global().Get("location")
	q := currentQuery()
	edit(q)
	u := loc.Get("pathname").String()
	if s := q.Encode(); s != "" {
		u += "?" + s
	}
	js.Global().Get("history").Call("replaceState", nil, "", u+loc.Get("hash").String())
}
