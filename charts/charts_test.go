package charts_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/wireplay/wireplay/charts"
	"github.com/wireplay/wireplay/protocol"
)

func TestSVG(t *testing.T) {
	tests := []struct {
		name   string
		series []protocol.Series
		want   []string
	}{
		{"two lines and a reference", []protocol.Series{
			{Chart: "Goodput vs loss", Name: "tcp", XLabel: "loss %", YLabel: "Mbit/s", Points: []protocol.Point{{X: 0, Y: 90}, {X: 1, Y: 20}, {X: 2, Y: 9}}},
			{Chart: "Goodput vs loss", Name: "quic", Points: []protocol.Point{{X: 0, Y: 80}, {X: 1, Y: 30}, {X: 2, Y: 15}}},
			{Chart: "Goodput vs loss", Name: "mathis", Style: "dashed", Points: []protocol.Point{{X: 0.5, Y: 40}, {X: 2, Y: 10}}},
		}, []string{"Goodput vs loss", "loss %", "Mbit/s", "polyline", `stroke-dasharray="5 4"`, ">tcp<", ">quic<"}},
		{"dots", []protocol.Series{{Chart: "d", Name: "udp", Style: "dots", Points: []protocol.Point{{X: 1, Y: 1}, {X: 2, Y: 4}}}}, []string{"<circle"}},
		{"no points", []protocol.Series{{Chart: "empty", Name: "x"}}, []string{"empty"}},
		{"NaN and Inf are skipped", []protocol.Series{{Chart: "n", Name: "x", Points: []protocol.Point{{X: math.NaN(), Y: 1}, {X: 1, Y: math.Inf(1)}, {X: 2, Y: 3}}}}, []string{"polyline"}},
		{"labels are escaped", []protocol.Series{{Chart: `<script>alert(1)</script>`, Name: `a&b`, Points: []protocol.Point{{X: 1, Y: 1}}}}, []string{"&lt;script&gt;", "a&amp;b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := charts.SVG(tt.series)
			for _, w := range tt.want {
				if !strings.Contains(svg, w) {
					t.Errorf("SVG lacks %q", w)
				}
			}
			if strings.Contains(svg, "<script") || strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
				t.Errorf("SVG holds unescaped or non-finite content:\n%s", svg)
			}
			d := xml.NewDecoder(strings.NewReader(svg))
			for {
				_, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed XML: %v\n%s", err, svg)
				}
			}
		})
	}
}

func TestGroupKeepsOrder(t *testing.T) {
	g := charts.Group([]protocol.Series{{Chart: "b"}, {Chart: "a"}, {Chart: "b"}})
	if len(g) != 2 || g[0][0].Chart != "b" || len(g[0]) != 2 || g[1][0].Chart != "a" {
		t.Errorf("groups %+v", g)
	}
}

func TestIntegerAxisHasNoHalfTicks(t *testing.T) {
	svg := charts.SVG([]protocol.Series{{Chart: "c", Name: "tcp", Points: []protocol.Point{{X: 1, Y: 100}, {X: 2, Y: 200}, {X: 3, Y: 330}}}})
	if strings.Contains(svg, ">1.5<") || strings.Contains(svg, ">2.5<") {
		t.Errorf("x axis of request numbers has half ticks")
	}
	if !strings.Contains(svg, ">2<") {
		t.Errorf("x axis lacks tick 2")
	}
}

// throughputLike is the throughput lesson's chart: three transports and a dashed estimate at each
// of two round trips, eight series whose names share prefixes.
func throughputLike() []protocol.Series {
	var ss []protocol.Series
	for _, rtt := range []string{"20ms", "50ms"} {
		for _, tr := range []string{"tcp", "quic", "ws"} {
			ss = append(ss, protocol.Series{Chart: "Goodput vs loss", Name: tr + " " + rtt, XLabel: "loss %", YLabel: "Mbit/s",
				Points: []protocol.Point{{X: 0, Y: 90}, {X: 0.5, Y: 40}, {X: 2, Y: 9}}})
		}
		ss = append(ss, protocol.Series{Chart: "Goodput vs loss", Name: "Mathis estimate " + rtt, Style: "dashed",
			Points: []protocol.Point{{X: 0.5, Y: 60}, {X: 2, Y: 20}}})
	}
	return ss
}

// TestSeriesColoursDiffer: every series of a chart is drawn in its own colour, in its lines, its
// dots and its legend key; a transport's first series keeps the transport's colour.
func TestSeriesColoursDiffer(t *testing.T) {
	ss := throughputLike()
	svg := charts.SVG(ss)
	stroke := regexp.MustCompile(`<polyline fill="none" stroke="(#[0-9a-f]{6})"[^>]*><title>([^<]*)</title>`)
	dot := regexp.MustCompile(`<circle [^>]*fill="(#[0-9a-f]{6})"><title>([^<:]*):`)
	key := regexp.MustCompile(`<line [^>]*stroke="(#[0-9a-f]{6})" stroke-width="3"[^>]*/><text [^>]*>([^<]*)</text>`)
	for what, re := range map[string]*regexp.Regexp{"line": stroke, "dot": dot, "legend key": key} {
		byName, byColour := map[string]string{}, map[string]string{}
		for _, m := range re.FindAllStringSubmatch(svg, -1) {
			c, name := m[1], m[2]
			if prev, ok := byName[name]; ok && prev != c {
				t.Errorf("%s of %q drawn in %s and %s", what, name, prev, c)
			}
			byName[name] = c
			if other, ok := byColour[c]; ok && other != name {
				t.Errorf("%s of %q and of %q share colour %s", what, name, other, c)
			}
			byColour[c] = name
		}
		if len(byName) != len(ss) {
			t.Errorf("%d series have a %s, want %d", len(byName), what, len(ss))
		}
	}
	cs := charts.Colors(ss)
	if cs[0] != charts.Color("tcp", 0) || cs[1] != charts.Color("quic", 0) {
		t.Errorf("tcp 20ms %s, quic 20ms %s: want the transports' colours %s, %s", cs[0], cs[1], charts.Color("tcp", 0), charts.Color("quic", 0))
	}
}

// TestTextWithinViewBox: the title, the axis labels and every legend key (at 0.6 em a
// character, generously for system-ui) lie inside the chart's viewBox, however many rows the legend needs.
func TestTextWithinViewBox(t *testing.T) {
	long := []protocol.Series{{Chart: "HTTP requests: a connection each (1.0) vs keep-alive (1.1), from the first SYN", Name: "HTTP/1.0 a new connection per request", Points: []protocol.Point{{X: 1, Y: 1}}},
		{Chart: "x", Name: "HTTP/1.1 keep-alive", Points: []protocol.Point{{X: 2, Y: 3}}}}
	for name, ss := range map[string][]protocol.Series{"throughput": throughputLike(), "long names": long} {
		t.Run(name, func(t *testing.T) {
			svg := charts.SVG(ss)
			var vb struct {
				ViewBox string `xml:"viewBox,attr"`
				Texts   []struct {
					X         float64 `xml:"x,attr"`
					Y         float64 `xml:"y,attr"`
					Anchor    string  `xml:"text-anchor,attr"`
					Size      float64 `xml:"font-size,attr"`
					Transform string  `xml:"transform,attr"`
					Text      string  `xml:",chardata"`
				} `xml:"text"`
			}
			if err := xml.Unmarshal([]byte(svg), &vb); err != nil {
				t.Fatal(err)
			}
			var w, h float64
			if _, err := fmt.Sscanf(vb.ViewBox, "0 0 %g %g", &w, &h); err != nil {
				t.Fatalf("viewBox %q: %v", vb.ViewBox, err)
			}
			keys := 0
			for _, tx := range vb.Texts {
				if tx.Transform != "" { // the rotated y label
					continue
				}
				size := tx.Size
				if size == 0 {
					size = 11
				}
				width := 0.6 * size * float64(len([]rune(tx.Text)))
				left := tx.X
				switch tx.Anchor {
				case "middle":
					left -= width / 2
				case "end":
					left -= width
				}
				if left < 0 || left+width > w || tx.Y-size < 0 || tx.Y+3 > h {
					t.Errorf("%q at x %.1f–%.1f, baseline %.1f: outside the viewBox %gx%g", tx.Text, left, left+width, tx.Y, w, h)
				}
				for _, s := range ss {
					if tx.Text == s.Name {
						keys++
					}
				}
			}
			if keys != len(ss) {
				t.Errorf("%d legend keys for %d series", keys, len(ss))
			}
		})
	}
}
