package scenarios

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/wireplay/wireplay/charts"
)

// Formats Write knows.
var Formats = []string{"table", "json", "csv"}

// Write prints a report as "table" (for people), "json" (the whole report) or "csv" (one row per
// metric: scenario, transport, metric, unit, n, mean, ci95, min, max).
func Write(w io.Writer, rep *Report, format string) error {
	switch format {
	case "", "table":
		return writeTable(w, rep)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"scenario", "transport", "metric", "unit", "n", "mean", "ci95", "min", "max"})
		for _, s := range rep.Stats {
			cw.Write([]string{rep.Scenario, s.Transport, s.Name, s.Unit, strconv.Itoa(s.N), f(s.Mean), f(s.CI95), f(s.Min), f(s.Max)})
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

func f(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func writeTable(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "%s — %s\n", rep.Scenario, rep.Title)
	fmt.Fprintf(w, "link: %s (up: %s; down: %s), seed %d, %d run(s), %.0f ms\n\n", rep.Preset, rep.Up, rep.Down, rep.Seed, rep.Repeat, rep.WallMillis)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "transport\tmetric\tmean\t± 95% CI\tunit\tmin\tmax")
	for _, s := range rep.Stats {
		ci := "-"
		if s.N > 1 {
			ci = fmtNum(s.CI95)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(s.Transport), s.Name, fmtNum(s.Mean), ci, s.Unit, fmtNum(s.Min), fmtNum(s.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Runs) > 0 {
		for _, t := range rep.Runs[0].Tables {
			fmt.Fprintf(w, "\n%s\n", t.Title)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, strings.Join(t.Columns, "\t"))
			for _, r := range t.Rows {
				fmt.Fprintln(tw, strings.Join(r, "\t"))
			}
			tw.Flush()
		}
	}
	fmt.Fprintf(w, "\n%s\n", rep.Conclusion)
	for _, file := range rep.Files {
		fmt.Fprintf(w, "wrote %s\n", file)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtNum(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e9 && v > -1e9:
		return strconv.FormatInt(int64(v), 10)
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1 || v <= -1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// WriteHTML writes a self-contained report page (no external resources) with the same SVG charts
// the page draws (package charts).
func WriteHTML(w io.Writer, rep *Report) error {
	e := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>wireplay: %s</title>
<style>
body{font:14px/1.5 system-ui,sans-serif;max-width:1180px;margin:24px auto;padding:0 16px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#5b6475}.conclusion{background:#eef4ff;border-left:4px solid #4f8cff;padding:10px 14px;margin:16px 0}
table{border-collapse:collapse;margin:8px 0}th,td{padding:4px 10px;border-bottom:1px solid #e3e7ef;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}th{background:#f5f7fb}
.charts{display:flex;flex-wrap:wrap;gap:16px}.charts svg{border:1px solid #e3e7ef;border-radius:6px;background:#fff;color:#1d2330}
.explain p{margin:6px 0;max-width:80ch}
</style></head><body>
<h1>%s <span class="meta">(%s)</span></h1>
<div class="meta">link: %s — up: %s; down: %s — seed %d — %d run(s) — %.0f ms</div>
<div class="conclusion">%s</div>
`, e(rep.Scenario), e(rep.Title), e(rep.Scenario), e(rep.Preset), e(rep.Up), e(rep.Down), rep.Seed, rep.Repeat, rep.WallMillis, e(rep.Conclusion))
	if rep.Explain != "" {
		b.WriteString(`<h2>What this shows</h2><div class="explain">`)
		for _, p := range strings.Split(rep.Explain, "\n\n") {
			fmt.Fprintf(&b, "<p>%s</p>", e(strings.TrimSpace(p)))
		}
		b.WriteString(`</div>`)
	}
	if len(rep.Runs) > 0 && len(rep.Runs[0].Series) > 0 {
		b.WriteString(`<h2>Charts (run 1)</h2><div class="charts">`)
		for _, svg := range charts.All(rep.Runs[0].Series) {
			b.WriteString(svg)
		}
		b.WriteString(`</div>`)
	}
	b.WriteString(`<h2>Measurements</h2><table><tr><th>transport</th><th>metric</th><th>mean</th><th>± 95% CI</th><th>unit</th><th>min</th><th>max</th><th>n</th></tr>`)
	for _, s := range rep.Stats {
		ci := "–"
		if s.N > 1 {
			ci = fmtNum(s.CI95)
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td></tr>",
			e(dash(s.Transport)), e(s.Name), fmtNum(s.Mean), ci, e(s.Unit), fmtNum(s.Min), fmtNum(s.Max), s.N)
	}
	b.WriteString(`</table>`)
	if len(rep.Runs) > 0 {
		for _, t := range rep.Runs[0].Tables {
			fmt.Fprintf(&b, "<h2>%s</h2><table><tr>", e(t.Title))
			for _, c := range t.Columns {
				fmt.Fprintf(&b, "<th>%s</th>", e(c))
			}
			b.WriteString("</tr>")
			for _, r := range t.Rows {
				b.WriteString("<tr>")
				for _, c := range r {
					fmt.Fprintf(&b, "<td>%s</td>", e(c))
				}
				b.WriteString("</tr>")
			}
			b.WriteString("</table>")
		}
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
