// Package charts draws wireplay's result charts as self-contained SVG: the same code draws them in
// the page (the wasm client) and in `wireplay run --html` reports, so both show the same picture.
// It depends on nothing but the standard library and package protocol.
package charts

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/wireplay/wireplay/protocol"
)

// Size of a chart in CSS pixels (its viewBox). The page scales a chart to its box, from about 0.6
// to 1.2 times this, so its 11 px text reads at 7 to 13 px.
const (
	Width  = 480
	Height = 280
)

const (
	padL, padR = 56.0, 16.0
	// padT is the room above the plot for a one-line title; each further line takes titleLine
	// more. titleChar is the width of a title character at font-size 13, generously.
	padT, titleLine, titleChar = 34.0, 16.0, 7.8
	// padB is the room below the plot for the x ticks, the x label and one legend row; each
	// further legend row takes legendRow more.
	padB      = 56.0
	legendRow = 15.0
	// legendX is where a legend row starts; legendChar is the width of a legend character at
	// font-size 11, generously (system-ui averages about 6 px), so that rows wrap before the edge.
	legendX, legendChar, legendSwatch, legendGap = 10.0, 6.6, 20.0, 14.0
)

// colors for well-known series names; others take the palette in turn.
var colors = map[string]string{
	"tcp": "#4f8cff", "tcp+tls": "#2f5fbf", "udp": "#f0a030", "quic": "#a070f0", "quic-stream": "#a070f0",
	"quic-dgram": "#e0507a", "ws": "#35b57a", "websocket": "#35b57a", "mathis": "#888888",
}

var palette = []string{"#4f8cff", "#f0a030", "#a070f0", "#35b57a", "#e0507a", "#20b0c0", "#c0a020", "#888888"}

// Color is the colour a series of this name is drawn in.
func Color(name string, i int) string {
	base := strings.ToLower(name)
	if c, ok := colors[base]; ok {
		return c
	}
	for k, c := range colors { // "tcp 50ms" takes tcp's colour
		if strings.HasPrefix(base, k+" ") {
			return c
		}
	}
	return palette[i%len(palette)]
}

// shades are how a colour is varied for a further series that would take it: mixed with white
// (positive) or black (negative) by this fraction.
var shades = []float64{0.45, -0.35, 0.7, -0.55, 0.25, -0.2}

// Colors are the colours the series of one chart are drawn in, one each and all different: a
// series takes its name's Color, unless an earlier series of the chart has it, when it takes a
// lighter or darker shade of it ("tcp 20ms" blue, "tcp 50ms" light blue).
func Colors(series []protocol.Series) []string {
	out := make([]string, len(series))
	taken := map[string]bool{}
	for i, s := range series {
		base := Color(s.Name, i)
		c := base
		for k := 0; taken[c] && k < len(shades); k++ {
			c = shade(base, shades[k])
		}
		taken[c] = true
		out[i] = c
	}
	return out
}

// shade mixes the colour #rrggbb with white (f > 0) or black (f < 0) by |f|.
func shade(c string, f float64) string {
	var r, g, b uint8
	if _, err := fmt.Sscanf(c, "#%02x%02x%02x", &r, &g, &b); err != nil {
		return c
	}
	mix := func(v uint8) uint8 {
		if f > 0 {
			return uint8(math.Round(float64(v) + (255-float64(v))*f))
		}
		return uint8(math.Round(float64(v) * (1 + f)))
	}
	return fmt.Sprintf("#%02x%02x%02x", mix(r), mix(g), mix(b))
}

// legendItem is where one series' key goes: its swatch's left and its row.
type legendItem struct {
	x   float64
	row int
}

// legendLayout places the keys of series left to right, wrapping to a new row before one would
// cross the chart's right edge; it returns the places and the number of rows.
func legendLayout(series []protocol.Series) ([]legendItem, int) {
	items := make([]legendItem, len(series))
	x, row := legendX, 0
	for i, s := range series {
		w := legendSwatch + legendChar*float64(len([]rune(s.Name)))
		if x > legendX && x+w > Width-legendX {
			x, row = legendX, row+1
		}
		items[i] = legendItem{x, row}
		x += w + legendGap
	}
	return items, row + 1
}

// wrapWords breaks s into lines of at most n characters at spaces (a longer word has a line of
// its own).
func wrapWords(s string, n int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len([]rune(line))+1+len([]rune(w)) <= n:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}

// Group splits series by their Chart, keeping first-seen order.
func Group(series []protocol.Series) [][]protocol.Series {
	var order []string
	by := map[string][]protocol.Series{}
	for _, s := range series {
		if _, ok := by[s.Chart]; !ok {
			order = append(order, s.Chart)
		}
		by[s.Chart] = append(by[s.Chart], s)
	}
	out := make([][]protocol.Series, 0, len(order))
	for _, c := range order {
		out = append(out, by[c])
	}
	return out
}

// SVG draws one chart: every series in it shares the axes; the first series' labels name them.
func SVG(series []protocol.Series) string {
	if len(series) == 0 {
		return ""
	}
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), 0.0, math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			if bad(p.X) || bad(p.Y) {
				continue
			}
			minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
			minY, maxY = math.Min(minY, p.Y), math.Max(maxY, p.Y)
		}
	}
	if math.IsInf(minX, 1) { // no points
		minX, maxX, maxY = 0, 1, 1
	}
	if maxX == minX {
		maxX = minX + 1
	}
	if maxY <= minY {
		maxY = minY + 1
	}
	xt := ticks(minX, maxX)
	if integral(series) { // message numbers, request numbers: no half ticks
		xt = slicesInts(xt)
	}
	yt := ticks(minY, maxY)
	minX, maxX = math.Min(minX, xt[0]), math.Max(maxX, xt[len(xt)-1])
	minY, maxY = math.Min(minY, yt[0]), math.Max(maxY, yt[len(yt)-1])
	legend, rows := legendLayout(series)
	colors := Colors(series)
	title := wrapWords(series[0].Chart, int(math.Floor((Width-2*legendX)/titleChar)))
	top := padT + titleLine*float64(len(title)-1)
	pw, ph := Width-padL-padR, Height-top-padB-legendRow*float64(rows-1)
	sx := func(x float64) float64 { return padL + (x-minX)/(maxX-minX)*pw }
	sy := func(y float64) float64 { return top + ph - (y-minY)/(maxY-minY)*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" font-family="system-ui,sans-serif" font-size="11">`, Width, Height, Width, Height)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(series[0].Chart))
	for i, line := range title {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="13" font-weight="600" fill="currentColor">%s</text>`, legendX, 18+titleLine*float64(i), esc(line))
	}
	// grid and ticks
	for _, t := range yt {
		y := sy(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="currentColor" stroke-opacity="0.12"/>`, padL, y, padL+pw, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="currentColor" fill-opacity="0.7">%s</text>`, padL-6, y+4, num(t))
	}
	for _, t := range xt {
		x := sx(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="currentColor" stroke-opacity="0.12"/>`, x, top, x, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="currentColor" fill-opacity="0.7">%s</text>`, x, top+ph+15, num(t))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="currentColor">%s</text>`, padL+pw/2, top+ph+32, esc(series[0].XLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle" fill="currentColor">%s</text>`, top+ph/2, esc(series[0].YLabel))
	// series
	for i, s := range series {
		c := colors[i]
		switch s.Style {
		case "dots":
			for _, p := range s.Points {
				if bad(p.X) || bad(p.Y) {
					continue
				}
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.6" fill="%s"><title>%s: %s, %s</title></circle>`, sx(p.X), sy(p.Y), c, esc(s.Name), num(p.X), num(p.Y))
			}
		default:
			var pts []string
			for _, p := range s.Points {
				if bad(p.X) || bad(p.Y) {
					continue
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(p.X), sy(p.Y)))
			}
			dash := ""
			if s.Style == "dashed" {
				dash = ` stroke-dasharray="5 4"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>`, c, dash, strings.Join(pts, " "), esc(s.Name))
			for _, p := range s.Points {
				if !bad(p.X) && !bad(p.Y) && len(s.Points) <= 40 {
					fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.2" fill="%s"><title>%s: %s, %s</title></circle>`, sx(p.X), sy(p.Y), c, esc(s.Name), num(p.X), num(p.Y))
				}
			}
		}
	}
	// legend, below the x label, in as many rows as it needs
	for i, s := range series {
		lx, ly := legend[i].x, top+ph+50+legendRow*float64(legend[i].row)
		dash := ""
		if s.Style == "dashed" {
			dash = ` stroke-dasharray="5 4"`
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"%s/>`, lx, ly-4, lx+16, ly-4, colors[i], dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="currentColor">%s</text>`, lx+legendSwatch, ly, esc(s.Name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// All draws every chart of series, one SVG each.
func All(series []protocol.Series) []string {
	var out []string
	for _, g := range Group(series) {
		out = append(out, SVG(g))
	}
	return out
}

// integral reports whether every x is a whole number.
func integral(series []protocol.Series) bool {
	for _, s := range series {
		for _, p := range s.Points {
			if p.X != math.Trunc(p.X) {
				return false
			}
		}
	}
	return true
}

// slicesInts drops the ticks that are not whole numbers (keeping at least two).
func slicesInts(t []float64) []float64 {
	var out []float64
	for _, v := range t {
		if v == math.Trunc(v) {
			out = append(out, v)
		}
	}
	if len(out) < 2 {
		return t
	}
	return out
}

func bad(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }

func esc(s string) string { return html.EscapeString(s) }

// ticks returns about five round tick values covering [lo, hi].
func ticks(lo, hi float64) []float64 {
	span := hi - lo
	step := math.Pow(10, math.Floor(math.Log10(span/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= 6 {
			step *= m
			break
		}
	}
	start := math.Floor(lo/step) * step
	var out []float64
	for v := start; v <= hi+step*0.999 && len(out) < 20; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// num formats a tick or value compactly.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	}
	return fmt.Sprintf("%.2g", v)
}
