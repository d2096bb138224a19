package report

import (
	"flag"
	"html"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wireplay/wireplay/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/document.golden.html")

// sample is a report with everything a report can hold: two runs, charts, statistics of the link
// and of transports, a table with a numeric column, parameters, and text that must be escaped.
func sample() *protocol.ScenarioReport {
	run := &protocol.ScenarioResult{
		Series: []protocol.Series{
			{Chart: "Round trip per request", Name: "tcp", XLabel: "request", YLabel: "ms", Points: []protocol.Point{{X: 1, Y: 40.5}, {X: 2, Y: 41}, {X: 3, Y: 80.25}}},
			{Chart: "Round trip per request", Name: "quic", XLabel: "request", YLabel: "ms", Points: []protocol.Point{{X: 1, Y: 20}, {X: 2, Y: 21.5}, {X: 3, Y: 20.75}}},
		},
		Tables: []protocol.Table{{
			Title:   "Reads <per> request",
			Columns: []string{"transport", "reads", "bytes", "note"},
			Rows: [][]string{
				{"tcp", "3", "1200", "merged & split"},
				{"quic", "1", "400", strings.Repeat("long ", 10)},
				{"link", "", "1600", ""},
			},
		}},
		Conclusion: "QUIC answered first.",
	}
	return &protocol.ScenarioReport{
		Scenario: "handshake", Title: "Handshakes <compared>", Explain: "First paragraph.\n\nSecond & last paragraph.",
		Preset: "3g", Up: "delay 100ms, 64 KB queue", Down: "delay 100ms", Seed: 7, Repeat: 2,
		Params: map[string]string{"requests": "3", "tls": "true"},
		Runs:   []*protocol.ScenarioResult{run, run},
		Stats: []protocol.Stat{
			{Transport: "", Name: "dropped_packets", Unit: "count", N: 2, Mean: 1.5, CI95: 6.353, Min: 1, Max: 2},
			{Transport: "tcp", Name: "first_byte_ms", Unit: "ms", N: 2, Mean: 412.345, CI95: 12.7, Min: 403.3, Max: 421.4},
			{Transport: "tcp", Name: "handshake_rtts", Unit: "RTT", N: 2, Mean: 2, CI95: 0, Min: 2, Max: 2},
			{Transport: "quic", Name: "first_byte_ms", Unit: "ms", N: 2, Mean: 1234.6, CI95: 99.4, Min: 1200, Max: 1269},
		},
		Conclusion: "QUIC answered first <by one round trip> & TCP after.",
		WallMillis: 1234,
	}
}

var tags = regexp.MustCompile(`<[^>]*>`)

// text is what a browser shows of markup: its text, tags dropped, entities decoded, spaces folded.
func text(markup string) string {
	markup = regexp.MustCompile(`(?s)<style>.*?</style>|<title>.*?</title>`).ReplaceAllString(markup, " ")
	return strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(markup, " "))), " ")
}

// TestDocumentSaysWhatItSaid: the --html report still says everything it said before the page's
// renderer became its: what ran and on what link, how long, the conclusion and the explanation,
// the charts, every statistic with its spread, and every cell of every table, with the report's
// strings escaped and nothing loaded from elsewhere.
func TestDocumentSaysWhatItSaid(t *testing.T) {
	rep := sample()
	doc := Document(rep)
	got := text(doc)
	want := []string{
		"Handshakes <compared> (handshake)",
		"3g · ↑ delay 100ms, 64 KB queue · ↓ delay 100ms · seed 7 · 2 runs (seeds 7–8) · requests=3 · tls=true",
		"ran in 1234 ms",
		"QUIC answered first <by one round trip> & TCP after.",
		"First paragraph.", "Second & last paragraph.",
		"Charts (run 1)", "Round trip per request",
		"Measurements over 2 runs, mean ± 95% confidence interval (Student's t)",
		"transport metric mean ± 95% CI unit min max n",
		"link dropped packets 1.5 ± 6.353 count 1 2 2",
		"tcp first byte 412.3 ± 12.7 ms 403.3 421.4 2",
		"handshake RTTs 2 ± 0.000 RTT 2 2 2",
		"quic first byte 1235 ± 99 ms 1200 1269 2",
		"Reads <per> request transport reads bytes note",
		"tcp 3 1200 merged & split",
		"quic 1 400 " + strings.TrimSpace(strings.Repeat("long ", 10)),
		"link 1600",
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("the report does not say %q; it says:\n%s", w, got)
		}
	}
	if n := strings.Count(doc, "<svg"); n != 1 {
		t.Errorf("%d charts, want 1 (two series of one chart)", n)
	}
	for _, raw := range []string{"<compared>", "<by one", "<per>", "& TCP", "& split"} {
		if strings.Contains(doc, raw) {
			t.Errorf("%q is not escaped", raw)
		}
	}
	if strings.Contains(strings.ReplaceAll(doc, "http://www.w3.org/2000/svg", ""), "http") {
		t.Error("the report loads something from elsewhere")
	}
	if !strings.HasPrefix(doc, "<!doctype html>") || !strings.HasSuffix(doc, "</body></html>\n") {
		t.Error("not a whole document")
	}

	golden := "testdata/document.golden.html"
	if *update {
		if err := os.WriteFile(golden, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(golden); err != nil || string(want) != doc {
		t.Errorf("Document differs from %s (%v); if the change is meant, run go test ./report -update and review the diff", golden, err)
	}
}

var spreadCells = regexp.MustCompile(`(<td class="n">[^<]*</td>){3}</tr>`)

// TestPageAndFileSameMarkup: the page's rendering (Page) and the --html report's (File, in
// Document) are the same markup for a report within the page's bounds; the file only adds each
// statistic's min, max and n as three cells at the end of its row.
func TestPageAndFileSameMarkup(t *testing.T) {
	rep := sample()
	page, file := Render(rep, Page), Render(rep, File)
	if page.Meta != file.Meta || page.Conclusion != file.Conclusion || page.Charts != file.Charts ||
		page.StatsNote != file.StatsNote || page.Tables != file.Tables {
		t.Errorf("page and file differ:\npage %+v\nfile %+v", page, file)
	}
	if rows := spreadCells.ReplaceAllString(file.StatsRows, "</tr>"); rows != page.StatsRows {
		t.Errorf("statistics rows differ beyond the spread cells:\npage %s\nfile %s", page.StatsRows, rows)
	}
	if n := strings.Count(page.StatsRows, "<tr"); n != len(rep.Stats) {
		t.Errorf("%d rows for %d statistics", n, len(rep.Stats))
	}
	doc := Document(rep)
	for name, part := range map[string]string{"charts": file.Charts, "stats": file.StatsRows, "tables": file.Tables,
		"meta": html.EscapeString(file.Meta), "conclusion": html.EscapeString(file.Conclusion), "note": html.EscapeString(file.StatsNote)} {
		if part == "" || !strings.Contains(doc, part) {
			t.Errorf("the document does not hold the %s part %q", name, part)
		}
	}
	// The markup the page relies on: the chart figures its tests select, a coloured dot for the
	// transports the charts draw, the colour on a table's first cell, right-aligned numbers.
	for _, w := range []string{`<figure class="lesson-chart" data-testid="lesson-chart"><svg`, "<figcaption>run 1 of 2</figcaption>",
		`<tr class="first"><td class="tr-name"><i style="--c: `, `<td class="tr-name">link</td>`, `<th class="n">reads</th>`,
		` class="n">1200</td>`, ` class="tr-name" style="--c: `, ` title="long long`, `<td data-label="`} {
		if !strings.Contains(page.Charts+page.StatsRows+page.Tables, w) && !strings.Contains(page.Tables, w) {
			t.Errorf("page markup lacks %s", w)
		}
	}
}

// TestPageBounds: what the page's bounds leave out is counted, not dropped silently; the file
// holds everything.
func TestPageBounds(t *testing.T) {
	rep := sample()
	for i := range 350 {
		rep.Stats = append(rep.Stats, protocol.Stat{Transport: "udp", Name: "m" + strconv.Itoa(i), N: 1, Mean: float64(i)})
	}
	tb := &rep.Runs[0].Tables[0]
	for i := range 250 {
		tb.Rows = append(tb.Rows, []string{"udp", strconv.Itoa(i), "1", ""})
	}
	page, file := Render(rep, Page), Render(rep, File)
	if n, more := strings.Count(page.StatsRows, "<tr"), strconv.Itoa(len(rep.Stats)-Page.MaxStats)+" more not shown"; n != Page.MaxStats+1 || !strings.Contains(page.StatsRows, more) {
		t.Errorf("page: %d statistics rows, want %d and %q", n, Page.MaxStats+1, more)
	}
	if more := strconv.Itoa(len(tb.Rows)-Page.MaxTableRows) + " more rows not shown"; !strings.Contains(page.Tables, more) {
		t.Errorf("page table lacks %q", more)
	}
	if strings.Contains(file.StatsRows, "more not shown") || strings.Contains(file.Tables, "more rows not shown") ||
		strings.Count(file.StatsRows, "<tr") != len(rep.Stats) || strings.Count(file.Tables, "<tr>") != len(tb.Rows)+1 {
		t.Errorf("the file report leaves something out")
	}
}

func TestFormatStat(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{{0, "0"}, {1234.6, "1235"}, {412.345, "412.3"}, {12.3456, "12.35"}, {1.5, "1.5"}, {0.0123, "0.012"}, {0.00123, "0.00123"}, {-2, "-2"}} {
		if got := FormatStat(tt.v); got != tt.want {
			t.Errorf("FormatStat(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if got := FormatCI(12.7, 412.3); got != "12.7" {
		t.Errorf("FormatCI = %q", got)
	}
}

// TestChart: a chart drawn alone is the very figure Render draws among the others.
func TestChart(t *testing.T) {
	rep := sample()
	rep.Runs[0].Series = append(rep.Runs[0].Series, protocol.Series{Chart: "Other", Name: "udp", Style: "dots", Points: []protocol.Point{{X: 1, Y: 2}}})
	charts := Render(rep, File).Charts
	for _, name := range []string{"Round trip per request", "Other"} {
		fig := Chart(rep, name)
		if fig == "" || !strings.Contains(charts, fig) || strings.Count(fig, "<figure") != 1 {
			t.Errorf("Chart(%q) = %q, want one of Render's figures", name, fig)
		}
	}
	if !strings.Contains(Chart(rep, "Other"), "<circle") {
		t.Error("a dots series is not drawn as circles")
	}
	if fig := Chart(rep, "none"); fig != "" {
		t.Errorf("Chart of a missing chart = %q", fig)
	}
}

// TestMetricLabel: metric names read as words, without the unit the unit column already shows.
func TestMetricLabel(t *testing.T) {
	for name, want := range map[string]string{
		"stream1_stall_ms":       "stream 1 stall",
		"first_echo_round_trips": "round trips to the first echo",
		"goodput_20ms_loss0.5":   "goodput at 20ms RTT, 0.5% loss",
		"tcp_gap_rtt":            "TCP gap RTT",
		"reads":                  "reads",
		"detect_client":          "detected by client",
	} {
		if got := MetricLabel(name); got != want {
			t.Errorf("MetricLabel(%q) = %q, want %q", name, got, want)
		}
		if got := MetricLabel(name); strings.Contains(got, "_") && name != "time_wait" {
			t.Errorf("MetricLabel(%q) = %q has an underscore", name, got)
		}
	}
}

// TestSplitMetric: splitMetric does what the two regular expressions it replaced (to keep regexp
// out of the page's wasm) did, on names built from every mix of their parts.
func TestSplitMetric(t *testing.T) {
	streamN := regexp.MustCompile(`^stream(\d+)_`)
	lossN := regexp.MustCompile(`_loss([0-9.]+)$`)
	parts := []string{"", "stream", "stream1", "stream12_", "streamx_", "_", "_loss", "_loss0.5", "loss1", "_loss_loss2", "goodput_20ms", "_loss.", "9", "a"}
	for _, a := range parts {
		for _, b := range parts {
			for _, c := range parts {
				name := a + b + c
				n, loss := streamN.ReplaceAllString(name, "stream ${1}_"), ""
				if m := lossN.FindStringSubmatch(n); m != nil {
					loss = ", " + m[1] + "% loss"
					n = n[:len(n)-len(m[0])]
				}
				if gn, gl := splitMetric(name); gn != n || gl != loss {
					t.Errorf("splitMetric(%q) = %q, %q; the regexps gave %q, %q", name, gn, gl, n, loss)
				}
			}
		}
	}
}
