package charts_test

import (
	"encoding/xml"
	"io"
	"math"
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
