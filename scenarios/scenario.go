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
	"slices"
	"strconv"
	"time"

	"github.com/wireplay/wireplay/link"
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

// Param is one scenario parameter.
type Param struct {
	Name, Default, Help string
}

// Env is what one run gets: a fresh link (client and server hosts) and the parameters.
type Env struct {
	Link     *link.Link
	Settings link.Settings
	Seed     int64
	Params   map[string]string
	// Epoch is when the run began; event times count from it.
	Epoch time.Time
	// QLog, when set, records the run's QUIC connections (use QUICConfig).
	QLog *transports.QLog
	// Progress, when set, receives live events (packets are already on the link's OnPacket);
	// the page uses it to draw while a run goes on.
	Progress func(protocol.Event)
}

// Int returns parameter name as an int (its default when unset).
func (e *Env) Int(name string) int {
	n, _ := strconv.Atoi(e.Params[name])
	return n
}

// Float returns parameter name as a float64.
func (e *Env) Float(name string) float64 {
	f, _ := strconv.ParseFloat(e.Params[name], 64)
	return f
}

// Duration returns parameter name as a time.Duration ("250ms").
func (e *Env) Duration(name string) time.Duration {
	d, _ := time.ParseDuration(e.Params[name])
	return d
}

// Bool returns parameter name as a bool.
func (e *Env) Bool(name string) bool {
	b, _ := strconv.ParseBool(e.Params[name])
	return b
}

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
	registry = append(registry, s)
}

// order is the lessons' order; scenarios not listed come after, by name.
var order = []string{"handshake", "boundaries", "loss-order", "hol", "migration", "throughput", "dead-peer", "backlog"}

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
		in.Params = append(in.Params, protocol.ParamInfo{Name: p.Name, Default: p.Default, Help: p.Help})
	}
	return in
}

// params merges overrides over a scenario's defaults, refusing unknown names.
func (s *Scenario) params(over map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range s.Params {
		out[p.Name] = p.Default
	}
	for k, v := range over {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("scenario %s has no parameter %q", s.Name, k)
		}
		out[k] = v
	}
	return out, nil
}
