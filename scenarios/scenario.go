// Package scenarios turns the classic transport questions — what a handshake costs, where message
// boundaries go, who loses and who reorders, head-of-line blocking, migration, throughput under
// loss, noticing a dead peer, a full accept backlog — into named experiments that run the real
// stacks across the emulated link and measure the answer.
//
// One engine serves the page's lessons and `wireplay run`: a Scenario runs once on a fresh link
// built from the settings and seed it is given and returns measured Metrics, chart Series and a
// Conclusion written from this run's numbers; Run repeats it and reports each metric's mean and
// 95% confidence interval.
package scenarios

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/observe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// Scenario is one lesson's experiment.
type Scenario struct {
	Name    string // as typed on the command line: "handshake"
	Title   string // "Handshake and teardown"
	Summary string // one line, for `wireplay scenarios`
	// Explain is the lesson's explanation, in paragraphs separated by blank lines.
	Explain string
	// Preset is the link preset a run uses unless told otherwise.
	Preset string
	// Params are the scenario's own parameters, with their defaults.
	Params []Param
	// Run runs the scenario once. It must stop when ctx is done and close all it opened.
	Run func(ctx context.Context, env *Env) (*Result, error)
}

// Parameter kinds (Param.Kind), the values protocol.ParamInfo carries to the page.
const (
	KindInt      = protocol.ParamInt
	KindFloat    = protocol.ParamFloat
	KindDuration = protocol.ParamDuration
	KindBool     = protocol.ParamBool
	KindEnum     = protocol.ParamEnum
)

// Param is one scenario parameter, declared with its type and bounds; Run checks every value
// against them before a run starts, so a scenario reads its parameters already parsed (Env.Int,
// Env.Durations, …).
type Param struct {
	Name string
	// Label is the name in words, for the page and the reports ("drop packet #" for drop_nth);
	// Name stays what URLs, the CLI (--param NAME=VALUE) and JSON use.
	Label string
	// Kind is the type of the values: KindInt, KindFloat, KindDuration, KindBool or KindEnum
	// (one of Values).
	Kind string
	// List makes the value a comma-separated list of values of Kind, at least one.
	List bool
	// Unit is what a number counts ("bytes", "%"), for help and the page's controls.
	Unit string
	// Min and Max bound an int, float or duration, written as values of its kind ("1",
	// "10ms"); "" is unbounded.
	Min, Max string
	// Values are an enum's choices.
	Values []string
	// Default is the value when none is given; Help says what the parameter does.
	Default, Help string
}

// Env is what one run gets: a fresh link (client and server hosts) and the parameters.
type Env struct {
	Link     *link.Link
	Settings link.Settings
	Seed     int64
	// Params are the parameters' values as given (defaults filled in); the typed accessors
	// (Int, Float, Duration, Bool, Enum, Floats, Durations, Enums) return them parsed.
	Params map[string]string
	// Epoch is the time base of every event of the run, its packets' included (Options.Epoch).
	Epoch time.Time
	// QLog, when set, records the run's QUIC connections (use QUICConfig or QUICTracer), in
	// memory: the runner writes the files after the run.
	QLog *transports.QLog
	// Progress, when set, receives live events (packets are already on the link's OnPacket);
	// the page uses it to draw while a run goes on.
	Progress func(protocol.Event)

	values map[string]any // Params parsed
	quic   *observe.QUIC  // every QUIC connection's packets and recovery, from their qlog events
	flows  *observe.Flows // what the link did to each connection's packets
	// capture records every link of the run (NewLink) when it writes a pcapng.
	capture *runCapture
}

// value is parameter name's parsed value. Asking for a parameter the scenario did not declare,
// or as another type, is a bug in the scenario: it panics.
func value[T any](e *Env, name string) T {
	v, ok := e.values[name].(T)
	if !ok {
		panic(fmt.Sprintf("scenarios: parameter %q is not declared as a %T", name, v))
	}
	return v
}

// Int returns int parameter name.
func (e *Env) Int(name string) int { return value[int](e, name) }

// Float returns float parameter name.
func (e *Env) Float(name string) float64 { return value[float64](e, name) }

// Duration returns duration parameter name ("250ms").
func (e *Env) Duration(name string) time.Duration { return value[time.Duration](e, name) }

// Bool returns bool parameter name.
func (e *Env) Bool(name string) bool { return value[bool](e, name) }

// Enum returns enum parameter name.
func (e *Env) Enum(name string) string { return value[string](e, name) }

// Ints returns int list parameter name.
func (e *Env) Ints(name string) []int { return value[[]int](e, name) }

// Floats returns float list parameter name.
func (e *Env) Floats(name string) []float64 { return value[[]float64](e, name) }

// Durations returns duration list parameter name.
func (e *Env) Durations(name string) []time.Duration { return value[[]time.Duration](e, name) }

// Enums returns enum list parameter name.
func (e *Env) Enums(name string) []string { return value[[]string](e, name) }

// RTT is the link's base round-trip time (the two one-way delays).
func (e *Env) RTT() time.Duration {
	return e.Settings.ClientToServer.Delay + e.Settings.ServerToClient.Delay
}

// The result types are protocol's, so the page and the CLI read the same report.
type (
	Result = protocol.ScenarioResult
	Metric = protocol.Metric
	Series = protocol.Series
	Point  = protocol.Point
	Table  = protocol.Table
	Report = protocol.ScenarioReport
	Stat   = protocol.Stat
)

var registry []*Scenario

// Register adds a scenario; it is called from init functions of this package's scenario files.
func Register(s *Scenario) {
	if Lookup(s.Name) != nil {
		panic("scenarios: " + s.Name + " registered twice")
	}
	for _, p := range s.Params {
		if _, err := p.Parse(p.Default); err != nil { // a bad bound panics here too
			panic("scenarios: " + s.Name + ": default of " + err.Error())
		}
	}
	registry = append(registry, s)
}

// order is the lessons' order; scenarios not listed come after, by name.
var order = []string{"handshake", "boundaries", "loss-order", "hol", "migration", "throughput", "dead-peer", "backlog", "patterns"}

// All returns the scenarios in lesson order.
func All() []*Scenario {
	out := slices.Clone(registry)
	idx := func(n string) int {
		if i := slices.Index(order, n); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortFunc(out, func(a, b *Scenario) int {
		if d := idx(a.Name) - idx(b.Name); d != 0 {
			return d
		}
		return compareStrings(a.Name, b.Name)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Lookup finds a scenario by name.
func Lookup(name string) *Scenario {
	for _, s := range registry {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Info describes the scenario for a lessons menu.
func (s *Scenario) Info() protocol.ScenarioInfo {
	in := protocol.ScenarioInfo{Name: s.Name, Title: s.Title, Summary: s.Summary, Explain: s.Explain, Preset: s.Preset}
	for _, p := range s.Params {
		in.Params = append(in.Params, protocol.ParamInfo{Name: p.Name, Label: p.Label, Default: p.Default, Help: p.Help,
			Kind: p.Kind, List: p.List, Unit: p.Unit, Min: p.Min, Max: p.Max, Values: slices.Clone(p.Values)})
	}
	return in
}

// params merges overrides over a scenario's defaults, refusing unknown names, and parses every
// value against its declaration: the one place parameters are checked.
func (s *Scenario) params(over map[string]string) (map[string]string, map[string]any, error) {
	text := map[string]string{}
	for _, p := range s.Params {
		text[p.Name] = p.Default
	}
	for k, v := range over {
		if _, ok := text[k]; !ok {
			return nil, nil, fmt.Errorf("no parameter %q (wireplay run %s --help lists them)", k, s.Name)
		}
		text[k] = v
	}
	values := map[string]any{}
	for _, p := range s.Params {
		v, err := p.Parse(text[p.Name])
		if err != nil {
			return nil, nil, err
		}
		values[p.Name] = v
	}
	return text, values, nil
}

// Parse parses text as a value of p: an int, float64, time.Duration, bool or string (enum), or
// with List a slice of them. Its errors name the parameter and the bad value:
// `requests "abc" is not an integer`, `requests 500 is outside 1..100`.
func (p Param) Parse(text string) (any, error) {
	if !p.List {
		return p.parseOne(strings.TrimSpace(text))
	}
	var items []string
	for it := range strings.SplitSeq(text, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s %q has no values (want a comma-separated list)", p.Name, text)
	}
	switch p.Kind {
	case protocol.ParamInt:
		return parseAll[int](p, items)
	case protocol.ParamFloat:
		return parseAll[float64](p, items)
	case protocol.ParamDuration:
		return parseAll[time.Duration](p, items)
	case protocol.ParamBool:
		return parseAll[bool](p, items)
	}
	return parseAll[string](p, items)
}

func parseAll[T any](p Param, items []string) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, it := range items {
		v, err := p.parseOne(it)
		if err != nil {
			return nil, err
		}
		out = append(out, v.(T))
	}
	return out, nil
}

// parseOne parses one value of p's kind and checks its bounds.
func (p Param) parseOne(text string) (any, error) {
	switch p.Kind {
	case protocol.ParamInt:
		n, err := strconv.Atoi(text)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not an integer", p.Name, text)
		}
		return n, inRangeOf(p, float64(n), text, strconv.Atoi)
	case protocol.ParamFloat:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s %q is not a number", p.Name, text)
		}
		return f, inRangeOf(p, f, text, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	case protocol.ParamDuration:
		d, err := time.ParseDuration(text)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not a duration (such as 250ms or 1.5s)", p.Name, text)
		}
		return d, inRangeOf(p, float64(d), d.String(), time.ParseDuration)
	case protocol.ParamBool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not true or false", p.Name, text)
		}
		return b, nil
	case protocol.ParamEnum:
		if !slices.Contains(p.Values, text) {
			return nil, fmt.Errorf("%s %q is not one of %s", p.Name, text, strings.Join(p.Values, ", "))
		}
		return text, nil
	}
	return nil, fmt.Errorf("scenarios: parameter %s has unknown kind %q", p.Name, p.Kind)
}

// inRangeOf checks v (shown as shown) against p's bounds, parsed with parse.
func inRangeOf[T int | float64 | time.Duration](p Param, v float64, shown string, parse func(string) (T, error)) error {
	bound := func(s string) (float64, bool) {
		if s == "" {
			return 0, false
		}
		b, err := parse(s)
		if err != nil {
			panic(fmt.Sprintf("scenarios: parameter %s has a bad bound %q", p.Name, s))
		}
		return float64(b), true
	}
	lo, hasLo := bound(p.Min)
	hi, hasHi := bound(p.Max)
	if (hasLo && v < lo) || (hasHi && v > hi) {
		return fmt.Errorf("%s %s is outside %s..%s", p.Name, shown, orDots(p.Min), orDots(p.Max))
	}
	return nil
}

func orDots(s string) string {
	if s == "" {
		return "…"
	}
	return s
}
