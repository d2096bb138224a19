// Package report renders a scenario's report (protocol.ScenarioReport) as HTML. The page's
// Lessons tab and the CLI's self-contained --html file both render a report with it: the page
// puts the parts of Render into its result area (around them it keeps its live parts, such as
// the trace of the running lesson), and Document wraps the same parts in a page of their own.
//
// It imports only the standard library, protocol and charts, so it builds for the browser
// (GOOS=js GOARCH=wasm) as well as for the host.
package report

import (
	"html"
	"slices"
	"strconv"
	"strings"

	"github.com/wireplay/wireplay/charts"
	"github.com/wireplay/wireplay/protocol"
)

// Options say how much of a report a rendering holds.
type Options struct {
	// MaxCharts, MaxStats, MaxTables and MaxTableRows bound what is rendered; 0 is no bound.
	// What a bound leaves out is counted in a "… more not shown" row.
	MaxCharts, MaxStats, MaxTables, MaxTableRows int
	// Spread adds each statistic's min, max and number of runs as cells of their own (the page
	// shows them in the value's tooltip only).
	Spread bool
}

// Page is what the page's Lessons tab shows of a report.
var Page = Options{MaxCharts: 12, MaxStats: 300, MaxTables: 10, MaxTableRows: 200}

// File is what the --html report holds: everything, with each statistic's spread.
var File = Options{Spread: true}

// Parts is a report rendered part by part. Meta, Conclusion and StatsNote are plain text (to be
// set as text, not parsed); Charts, StatsRows and Tables are markup in which every string of the
// report is escaped.
type Parts struct {
	Meta       string // "wifi · ↑ 20 ms · ↓ 20 ms · seed 1 · 3 runs (seeds 1–3) · requests=5"
	Conclusion string
	// Charts is one <figure class="lesson-chart"> per chart of the first run.
	Charts string
	// StatsNote says what the statistics are over ("from 1 run", or the runs and the interval).
	StatsNote string
	// StatsRows are the <tr> rows of the statistics table's body: transport, metric, mean ± 95%
	// CI, unit (and min, max, n with Options.Spread).
	StatsRows string
	// Tables is one <div class="lesson-table"> per table of the first run.
	Tables string
}

// Render renders rep within the bounds of opt.
func Render(rep *protocol.ScenarioReport, opt Options) Parts {
	var run *protocol.ScenarioResult
	if len(rep.Runs) > 0 {
		run = rep.Runs[0]
	}
	color := colors(run)
	p := Parts{Meta: Meta(rep), Conclusion: rep.Conclusion, StatsNote: statsNote(rep.Repeat)}
	p.StatsRows = statsRows(rep.Stats, color, opt)
	if run != nil {
		p.Charts = chartFigures(run.Series, rep.Repeat, opt.MaxCharts)
		var b strings.Builder
		for i, t := range run.Tables {
			if i == opt.MaxTables && opt.MaxTables > 0 {
				break
			}
			writeTable(&b, t, color, opt.MaxTableRows)
		}
		p.Tables = b.String()
	}
	return p
}

// Meta is the line that says what a report ran on: preset, the two directions, seed, runs and
// the parameters.
func Meta(rep *protocol.ScenarioReport) string {
	seed := strconv.FormatInt(rep.Seed, 10)
	meta := rep.Preset + " · ↑ " + rep.Up + " · ↓ " + rep.Down + " · seed " + seed
	if rep.Repeat > 1 {
		meta += " · " + strconv.Itoa(rep.Repeat) + " runs (seeds " + seed + "–" + strconv.FormatInt(rep.Seed+int64(rep.Repeat)-1, 10) + ")"
	}
	keys := make([]string, 0, len(rep.Params))
	for k := range rep.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if l := rep.ParamLabels[k]; l != "" {
			meta += " · " + l + " " + rep.Params[k]
		} else {
			meta += " · " + k + "=" + rep.Params[k]
		}
	}
	return meta
}

func statsNote(repeat int) string {
	if repeat > 1 {
		return "over " + strconv.Itoa(repeat) + " runs, mean ± 95% confidence interval (Student's t)"
	}
	return "from 1 run"
}

// colors gives each name the colour the charts of run give it, so that a row of the tables
// matches its line; names no chart has take the colour charts knows them by, if any.
func colors(run *protocol.ScenarioResult) func(string) string {
	byName := map[string]string{}
	if run != nil {
		for _, g := range charts.Group(run.Series) {
			cs := charts.Colors(g)
			for i, sr := range g {
				if _, ok := byName[sr.Name]; !ok {
					byName[sr.Name] = cs[i]
				}
			}
		}
	}
	return func(name string) string {
		if c, ok := byName[name]; ok {
			return c
		}
		return knownColor(name)
	}
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

// Chart is the <figure class="lesson-chart"> of the chart named chart in rep's first run, the
// same markup Render's Charts holds for it, or "" when the run has no such chart. The page's
// Head-of-line tab places each transport's chart of the hol lesson with it.
func Chart(rep *protocol.ScenarioReport, chart string) string {
	if len(rep.Runs) == 0 {
		return ""
	}
	var series []protocol.Series
	for _, s := range rep.Runs[0].Series {
		if s.Chart == chart {
			series = append(series, s)
		}
	}
	return chartFigures(series, rep.Repeat, 0)
}

// chartFigures draws the charts of a run's series, at most max of them (0: all).
func chartFigures(series []protocol.Series, repeat, max int) string {
	var b strings.Builder
	for i, svg := range charts.All(series) {
		if i == max && max > 0 {
			break
		}
		b.WriteString(`<figure class="lesson-chart" data-testid="lesson-chart">`)
		b.WriteString(svg) // charts escapes every label
		if repeat > 1 {
			b.WriteString("<figcaption>run 1 of " + strconv.Itoa(repeat) + "</figcaption>")
		}
		b.WriteString("</figure>")
	}
	return b.String()
}

var esc = html.EscapeString
