package report

import (
	"math"
	"strconv"
	"strings"

	"github.com/wireplay/wireplay/protocol"
)

// statsRows renders the statistics table's rows: one per statistic, the transport's name (with
// its colour) on the first row of each transport's group.
func statsRows(stats []protocol.Stat, color func(string) string, opt Options) string {
	var b strings.Builder
	cols := 4
	if opt.Spread {
		cols = 7
	}
	last := "\x00"
	for i, s := range stats {
		if i == opt.MaxStats && opt.MaxStats > 0 {
			b.WriteString(`<tr class="more"><td colspan="` + strconv.Itoa(cols) + `">` + strconv.Itoa(len(stats)-i) + " more not shown</td></tr>")
			break
		}
		if s.Transport != last {
			b.WriteString(`<tr class="first"><td class="tr-name">`)
			if c := color(s.Transport); c != "" {
				b.WriteString(`<i style="--c: ` + esc(c) + `;"></i>`)
			}
			name := s.Transport
			if name == "" {
				name = "link"
			}
			b.WriteString(esc(name) + "</td>")
		} else {
			b.WriteString(`<tr><td class="tr-name"></td>`)
		}
		last = s.Transport
		b.WriteString(`<td class="m-name" title="` + esc(s.Name) + `">` + esc(MetricLabel(s.Name)) + "</td>")
		b.WriteString(`<td class="n" title="n=` + strconv.Itoa(s.N) + ", min " + FormatStat(s.Min) + ", max " + FormatStat(s.Max) + `">` + FormatStat(s.Mean))
		if s.N > 1 {
			b.WriteString(`<small class="ci"> ± ` + FormatCI(s.CI95, s.Mean) + "</small>")
		}
		b.WriteString(`</td><td class="unit">` + esc(s.Unit) + "</td>")
		if opt.Spread {
			b.WriteString(`<td class="n">` + FormatStat(s.Min) + `</td><td class="n">` + FormatStat(s.Max) + `</td><td class="n">` + strconv.Itoa(s.N) + "</td>")
		}
		b.WriteString("</tr>")
	}
	return b.String()
}

// FormatStat shows a statistic with about three significant digits.
func FormatStat(v float64) string {
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

// FormatCI shows a confidence interval's half-width to the precision its mean is shown with.
func FormatCI(ci, mean float64) string {
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
