//go:build js && wasm

package main

import (
	"slices"
	"strings"
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

// showParams builds the shown lesson's parameter controls from the scenario's declarations (the
// welcome's ScenarioInfo.Params): a checkbox for a bool, a menu for an enum, a text input for a
// number, duration or list, each titled with its kind, unit, range and default. The server
// checks the values (scenarios.Param.Parse); the controls only offer what the declaration allows.
func (u *lessonsUI) showParams(in *protocol.ScenarioInfo, st *lessonState) {
	for _, p := range in.Params {
		v, set := st.params[p.Name]
		if !set {
			v = p.Default
		}
		lab, inp := paramControl(p, v)
		u.params.Call("append", lab)
		u.paramEls[p.Name] = inp
	}
	// Long names get a row each; short ones share rows two by two.
	long := slices.ContainsFunc(in.Params, func(p protocol.ParamInfo) bool { return len(paramLabel(p)) > 14 })
	u.params.Get("classList").Call("toggle", "wide", long)
}

// paramControl is parameter p's label and, inside it, its input showing v. The input carries
// data-testid "lesson-param-NAME" and data-param NAME, which the form's change handler reads.
func paramControl(p protocol.ParamInfo, v string) (lab, inp js.Value) {
	lab = el("label", "lp", "")
	lab.Call("setAttribute", "data-help", p.Help)
	lab.Set("title", paramTitle(p))
	lab.Call("append", el("span", "lp-name", paramLabel(p)))
	switch {
	case isBoolParam(p):
		inp = el("input", "", "")
		inp.Set("type", "checkbox")
		inp.Set("checked", v == "true")
		lab.Get("classList").Call("add", "check")
	case p.Kind == protocol.ParamEnum && !p.List:
		inp = el("select", "", "")
		for _, c := range p.Values {
			o := el("option", "", c)
			o.Set("value", c)
			inp.Call("append", o)
		}
		inp.Set("value", v)
	default:
		inp = el("input", "", "")
		inp.Set("type", "text")
		inp.Set("value", v)
		inp.Set("placeholder", p.Default)
		inp.Set("spellcheck", false)
		switch {
		case p.List:
		case p.Kind == protocol.ParamInt:
			inp.Call("setAttribute", "inputmode", "numeric")
		case p.Kind == protocol.ParamFloat:
			inp.Call("setAttribute", "inputmode", "decimal")
		}
		if p.List || len(p.Default) > 7 || len(v) > 7 { // a list such as "0,0.5,1,2": a row of its own
			lab.Get("classList").Call("add", "long")
		}
	}
	if p.Kind != "" {
		inp.Call("setAttribute", "data-kind", p.Kind)
	}
	inp.Call("setAttribute", "data-testid", "lesson-param-"+p.Name)
	inp.Call("setAttribute", "data-param", p.Name)
	inp.Call("setAttribute", "aria-label", paramLabel(p)+": "+p.Help)
	lab.Call("append", inp)
	if p.Unit != "" {
		inp.Call("setAttribute", "data-unit", p.Unit)
		// A row of its own has room to show the unit; the tooltip always names it.
		if lab.Get("classList").Call("contains", "long").Bool() {
			lab.Call("append", el("span", "lp-unit", p.Unit))
		}
	}
	return lab, inp
}

// isBoolParam says p is a checkbox: declared bool (or, from a server that sends no kinds, a
// default of true or false).
func isBoolParam(p protocol.ParamInfo) bool {
	return p.Kind == protocol.ParamBool || (p.Kind == "" && isBool(p.Default))
}

// paramTitle is p's tooltip: its help, then its kind, unit, range and default in a few words
// ("1..100 requests, whole numbers; default 5").
func paramTitle(p protocol.ParamInfo) string {
	var what []string
	switch p.Kind {
	case protocol.ParamInt:
		what = append(what, "whole number")
	case protocol.ParamFloat:
		what = append(what, "number")
	case protocol.ParamDuration:
		what = append(what, "duration such as 250ms or 1.5s")
	case protocol.ParamBool:
		what = append(what, "on or off")
	case protocol.ParamEnum:
		what = append(what, "one of "+strings.Join(p.Values, ", "))
	}
	if p.List && len(what) > 0 {
		what[0] = "comma-separated list; each a " + what[0]
	}
	if p.Unit != "" {
		what = append(what, "in "+p.Unit)
	}
	switch {
	case p.Min != "" && p.Max != "":
		what = append(what, p.Min+" to "+p.Max)
	case p.Min != "":
		what = append(what, "at least "+p.Min)
	case p.Max != "":
		what = append(what, "at most "+p.Max)
	}
	t := p.Help
	if len(what) > 0 {
		t += "\n" + strings.Join(what, ", ")
	}
	return t + " (default " + p.Default + ")\nin the address and the CLI: " + p.Name
}

// paramLabel is p's name in words ("drop packet #"), or its name from a server that sends none.
func paramLabel(p protocol.ParamInfo) string {
	if p.Label != "" {
		return p.Label
	}
	return strings.ReplaceAll(p.Name, "_", " ")
}
