package report

import (
	"io"
	"strconv"
	"strings"

	"github.com/wireplay/wireplay/protocol"
)

// RanIn is how the page says how long a report's runs took ("ran in 1.2 s").
func RanIn(rep *protocol.ScenarioReport) string {
	return "ran in " + strconv.FormatFloat(rep.WallMillis/1000, 'f', 1, 64) + " s"
}

// StatsHead is the statistics table's heading row for opt: the page's own (server/view.templ)
// without Options.Spread.
func StatsHead(opt Options) string {
	h := `<tr><th scope="col">transport</th><th scope="col">metric</th><th scope="col" class="n">mean ± 95% CI</th><th scope="col">unit</th>`
	if opt.Spread {
		h += `<th scope="col" class="n">min</th><th scope="col" class="n">max</th><th scope="col" class="n">n</th>`
	}
	return h + "</tr>"
}

// documentStyle is the --html report's look: the page's result area, on white.
const documentStyle = `body{font:14px/1.5 system-ui,sans-serif;max-width:1180px;margin:24px auto;padding:0 16px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h1 span,.lesson-meta,.ran{color:#5b6475}h2{font-size:16px;margin:28px 0 8px}
.lesson-meta{font-family:ui-monospace,monospace;font-size:12px;margin:2px 0}.ran{margin:2px 0}
.lesson-conclusion{background:#eef4ff;border-left:4px solid #4f8cff;padding:10px 14px;margin:16px 0}
.explain p{margin:6px 0;max-width:80ch}
.lesson-charts{display:flex;flex-wrap:wrap;gap:16px}.lesson-chart{margin:0;border:1px solid #e3e7ef;border-radius:6px}
.lesson-chart svg{display:block;max-width:100%;height:auto;color:#1d2330}.lesson-chart figcaption{color:#5b6475;font-size:11px;text-align:right;padding:0 4px 4px}
.lesson-stats,.lesson-table table{border-collapse:collapse;margin:8px 0}
caption{text-align:left;font-weight:650;padding:4px 0}caption small{font-weight:400;color:#5b6475}
th,td{padding:4px 10px;border-bottom:1px solid #e3e7ef;text-align:left;vertical-align:baseline}th{background:#f5f7fb}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.ci,.unit{color:#5b6475}
.tr-name{font-weight:650;white-space:nowrap}.tr-name i{display:inline-block;width:8px;height:8px;border-radius:50%;background:var(--c);margin-right:6px}
.lesson-table td.tr-name{color:var(--c)}tr.more td{color:#5b6475;font-style:italic}`

// Document is a self-contained HTML page of rep (no external resources): the parts Render makes
// with File, under the scenario's title and name, with its explanation and how long it ran.
func Document(rep *protocol.ScenarioReport) string {
	p := Render(rep, File)
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>wireplay: ` + esc(rep.Scenario) + "</title>\n<style>\n" + documentStyle + "\n</style></head><body>\n")
	b.WriteString("<h1>" + esc(rep.Title) + " <span>(" + esc(rep.Scenario) + ")</span></h1>\n")
	b.WriteString(`<p class="lesson-meta" data-testid="lesson-meta">` + esc(p.Meta) + "</p>\n")
	b.WriteString(`<p class="ran">ran in ` + strconv.FormatFloat(rep.WallMillis, 'f', 0, 64) + " ms</p>\n")
	b.WriteString(`<p class="lesson-conclusion" data-testid="lesson-conclusion">` + esc(p.Conclusion) + "</p>\n")
	if rep.Explain != "" {
		b.WriteString(`<h2>What this shows</h2><div class="explain">`)
		for _, para := range strings.Split(rep.Explain, "\n\n") {
			b.WriteString("<p>" + esc(strings.TrimSpace(para)) + "</p>")
		}
		b.WriteString("</div>\n")
	}
	if p.Charts != "" {
		b.WriteString(`<h2>Charts (run 1)</h2><div class="lesson-charts" data-testid="lesson-charts">` + p.Charts + "</div>\n")
	}
	b.WriteString(`<h2>Measurements</h2><table class="lesson-stats" data-testid="lesson-stats"><caption><small>` + esc(p.StatsNote) + "</small></caption><thead>" + StatsHead(File) + "</thead><tbody>" + p.StatsRows + "</tbody></table>\n")
	if p.Tables != "" {
		b.WriteString(`<div class="lesson-tables" data-testid="lesson-tables">` + p.Tables + "</div>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// WriteHTML writes Document(rep) to w.
func WriteHTML(w io.Writer, rep *protocol.ScenarioReport) error {
	_, err := io.WriteString(w, Document(rep))
	return err
}
