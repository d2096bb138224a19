//go:build js && wasm

package main

import (
	"slices"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// Bounds on a lesson's live trace.
const (
	maxLessonPkts = 120  // packets the lesson's sequence diagram holds
	perRunPackets = 2000 // packets the relay forwards per run (scenarios.ProgressPerRun)
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
	// restoredAt, when set, says the report is from localStorage: the last run with these
	// settings before the page was loaded (lessons_store.go).
	restoredAt time.Time
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
	last      string // the lesson whose run last ended with a report (a room page shares it)
	cur       string // the lesson shown, "" before the welcome
	urlLesson string // the lesson the address named at load
	urlState  *lessonState
	active    bool // the Lessons tab is shown: the address is the lesson's
	online    bool

	pending     uint64 // the running request's id
	pendingName string
	pendingKey  string // its lesson address (lessonQuery), under which its result is stored
	started     time.Time
	progress    int // live events of the running lesson seen so far
	queued      int // its place in the server's lesson queue, 0 once it runs
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
	u.urlLesson, u.urlState = lessonFromURL()
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
	u.restore(in, st)
	u.enable(u.online)
	u.render()
	u.saveURL()
}

func (u *lessonsUI) setStatus(state, text string) {
	setText(u.status, text)
	u.status.Call("removeAttribute", "title")
	u.status.Call("removeAttribute", "data-error")
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
