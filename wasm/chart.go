//go:build js && wasm

package main

import (
	"math"
	"slices"
	"strconv"
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

// maxSamples bounds each transport's series in the chart.
const maxSamples = 600

// chartSeries are the transports the congestion window chart draws, in legend order.
var chartSeries = []protocol.Transport{protocol.TCP, protocol.QUICStream, protocol.QUICDgram}

// chart draws congestion window (top) and smoothed RTT (bottom) over time, sharing the time axis,
// TCP and QUIC together.
type chart struct {
	svg, source js.Value
	series      map[protocol.Transport][]protocol.MetricSample
}

func newChart() *chart {
	return &chart{svg: byID("cwnd-chart"), source: byID("chart-source"), series: map[protocol.Transport][]protocol.MetricSample{}}
}

func (c *chart) add(m protocol.MetricSample) {
	if !slices.Contains(chartSeries, m.Transport) {
		return
	}
	s := append(c.series[m.Transport], m)
	if len(s) > maxSamples {
		s = slices.Delete(s, 0, len(s)-maxSamples)
	}
	c.series[m.Transport] = s
}

func (c *chart) reset(mode string) {
	clear(c.svg)
	c.series = map[protocol.Transport][]protocol.MetricSample{}
	if mode == protocol.ModeLink {
		setText(c.source, "emulated link: netstack's TCP and quic-go's qlog")
	} else {
		setText(c.source, "kernel loopback: TCP_INFO and quic-go's connection stats, after each message")
	}
}

// statsSample turns a "stats" reading into a chart sample (kernel mode has no "metrics" events).
func statsSample(t protocol.Transport, at int64, s *protocol.Stats) (protocol.MetricSample, bool) {
	switch {
	case s.TCP != nil && t == protocol.TCP && s.TCP.MSS > 0:
		return protocol.MetricSample{Transport: t, AtMicros: at, CwndBytes: uint64(s.TCP.Cwnd) * uint64(s.TCP.MSS), SRTTMicros: s.TCP.RTTMicros, Source: "stats"}, true
	case s.QUIC != nil && s.QUIC.Cwnd > 0:
		return protocol.MetricSample{Transport: t, AtMicros: at, CwndBytes: s.QUIC.Cwnd, SRTTMicros: s.QUIC.SmoothedRTTMicros, Source: "stats"}, true
	}
	return protocol.MetricSample{}, false
}

func (c *chart) render() {
	clear(c.svg)
	w, h := boxSize(c.svg, 1200, 118)
	const left, right, top, gap, bottom = 58.0, 14.0, 6.0, 10.0, 16.0
	plotH := (h - top - gap - bottom) / 2
	t0, t1 := int64(math.MaxInt64), int64(math.MinInt64)
	var maxCwnd, maxRTT float64
	n := 0
	for _, s := range c.series {
		for _, m := range s {
			t0, t1 = min(t0, m.AtMicros), max(t1, m.AtMicros)
			maxCwnd = max(maxCwnd, float64(m.CwndBytes))
			maxRTT = max(maxRTT, float64(m.SRTTMicros))
			n++
		}
	}
	frag := document.Call("createDocumentFragment")
	defer func() { c.svg.Call("append", frag) }()
	plots := []struct {
		y0    float64
		name  string
		max   float64
		label func(float64) string
		value func(protocol.MetricSample) float64
	}{
		{top, "cwnd", niceMax(maxCwnd), func(v float64) string { return fmtBytes(int64(v)) }, func(m protocol.MetricSample) float64 { return float64(m.CwndBytes) }},
		{top + plotH + gap, "srtt", niceMax(maxRTT), func(v float64) string { return fmtMicros(int64(v)) }, func(m protocol.MetricSample) float64 { return float64(m.SRTTMicros) }},
	}
	for _, p := range plots {
		frag.Call("append",
			svgEl("rect", "class", "plot", "x", left, "y", p.y0, "width", w-left-right, "height", plotH),
			svgEl("line", "class", "grid", "x1", left, "x2", w-right, "y1", p.y0+plotH/2, "y2", p.y0+plotH/2),
		)
		if plotH >= 34 { // the scale left of the plot: top, name, zero
			frag.Call("append",
				svgText(left-6, p.y0+8, "ax", p.label(p.max), "text-anchor", "end"),
				svgText(left-6, p.y0+plotH/2+4, "pname", p.name, "text-anchor", "end"),
				svgText(left-6, p.y0+plotH, "ax", "0", "text-anchor", "end"),
			)
		} else { // compact: the name left, the top of the scale inside the plot
			frag.Call("append",
				svgText(left-6, p.y0+plotH/2+4, "pname", p.name, "text-anchor", "end"),
				svgText(w-right-4, p.y0+9, "ax", "top "+p.label(p.max), "text-anchor", "end"),
			)
		}
	}
	if n == 0 {
		frag.Call("append", svgText(w/2, h/2+4, "empty", "no readings yet: send a message or a burst", "text-anchor", "middle"))
		return
	}
	if t1-t0 < 1_000_000 {
		t1 = t0 + 1_000_000
	}
	x := func(t int64) float64 { return left + float64(t-t0)/float64(t1-t0)*(w-left-right) }
	for i := range 5 {
		t := t0 + (t1-t0)*int64(i)/4
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		frag.Call("append", svgText(x(t), h-3, "ax", strconv.FormatFloat(float64(t)/1e6, 'f', 1, 64)+" s", "text-anchor", anchor))
	}
	for _, p := range plots {
		for _, tr := range chartSeries {
			s := c.series[tr]
			if len(s) == 0 {
				continue
			}
			xs, ys := make([]float64, len(s)), make([]float64, len(s))
			for i, m := range s {
				xs[i] = x(m.AtMicros)
				ys[i] = p.y0 + plotH - p.value(m)/p.max*plotH
			}
			cls := "series s-" + string(tr)
			if len(s) == 1 {
				frag.Call("append", svgEl("circle", "class", cls+" dot", "cx", xs[0], "cy", ys[0], "r", 2.5))
				continue
			}
			line := svgEl("polyline", "class", cls, "data-series", string(tr)+"-"+p.name, "points", points(xs, ys))
			svgTitle(line, tr.Label()+" "+p.name+": latest "+p.label(p.value(s[len(s)-1])))
			frag.Call("append", line)
		}
	}
}

// niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}
