//go:build js && wasm

package main

import (
	"math"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

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
