//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"
)

const svgNS = "http://www.w3.org/2000/svg"

// svgEl makes an SVG element with attributes given as name, value pairs (strings or float64).
func svgEl(tag string, attrs ...any) js.Value {
	e := document.Call("createElementNS", svgNS, tag)
	for i := 0; i+1 < len(attrs); i += 2 {
		name, _ := attrs[i].(string)
		switch v := attrs[i+1].(type) {
		case string:
			e.Call("setAttribute", name, v)
		case float64:
			e.Call("setAttribute", name, fnum(v))
		case int:
			e.Call("setAttribute", name, strconv.Itoa(v))
		}
	}
	return e
}

// svgText makes an SVG <text> whose content is set as textContent.
func svgText(x, y float64, class, text string, attrs ...any) js.Value {
	e := svgEl("text", append([]any{"x", x, "y", y, "class", class}, attrs...)...)
	e.Set("textContent", text)
	return e
}

// svgTitle gives e a tooltip (an SVG <title> child).
func svgTitle(e js.Value, text string) {
	t := document.Call("createElementNS", svgNS, "title")
	t.Set("textContent", text)
	e.Call("append", t)
}

// clear removes every child of e.
func clear(e js.Value) { e.Set("textContent", "") }

// fnum formats an SVG coordinate.
func fnum(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// boxSize is the laid-out size of e, or the fallback when it is not laid out (a hidden view).
func boxSize(e js.Value, fw, fh float64) (w, h float64) {
	r := e.Call("getBoundingClientRect")
	w, h = r.Get("width").Float(), r.Get("height").Float()
	if w < 40 {
		w = fw
	}
	if h < 20 {
		h = fh
	}
	return w, h
}

// points formats a polyline's points.
func points(xs, ys []float64) string {
	b := make([]byte, 0, len(xs)*12)
	for i := range xs {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, xs[i], 'f', 1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, ys[i], 'f', 1, 64)
	}
	return string(b)
}

// shorten cuts s to n runes with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if n < 2 || len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
