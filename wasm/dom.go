//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"
)

var document = js.Global().Get("document")

func byID(id string) js.Value { return document.Call("getElementById", id) }

func query(root js.Value, sel string) js.Value { return root.Call("querySelector", sel) }

// el makes an element with an optional class and text; text is set as textContent, never parsed.
func el(tag, class, text string) js.Value {
	e := document.Call("createElement", tag)
	if class != "" {
		e.Set("className", class)
	}
	if text != "" {
		e.Set("textContent", text)
	}
	return e
}

func setText(e js.Value, s string) { e.Set("textContent", s) }

// setValue shows a measurement such as "1.25 ms" with its unit set smaller.
func setValue(e js.Value, s string) {
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		setText(e, s)
		return
	}
	setText(e, s[:i])
	e.Call("append", el("small", "", s[i+1:]))
}

// nowMillis is the page's high resolution clock.
func nowMillis() float64 { return js.Global().Get("performance").Call("now").Float() }

// visible makes control characters in a preview visible, so that a newline between two messages
// merged into one read shows as ↵.
func visible(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString("↵")
		case r == '\r':
			b.WriteString("␍")
		case r == '\t':
			b.WriteString("⇥")
		case r == 0:
			b.WriteString("␀")
		case r < 0x20 || r == 0x7f:
			b.WriteString("·")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// setHTML sets e's markup to s, made by package report (which escapes every string it puts in).
// The page's Content-Security-Policy refuses style attributes in markup, so each one is renamed
// data-style and then applied through the CSSOM, which the policy does not govern. (An attribute
// is the only place ` style="` can occur: report escapes the quote in text.)
func setHTML(e js.Value, s string) {
	if !strings.Contains(s, ` style="`) {
		e.Set("innerHTML", s)
		return
	}
	e.Set("innerHTML", strings.ReplaceAll(s, ` style="`, ` data-style="`))
	styled := e.Call("querySelectorAll", "[data-style]")
	for i := range styled.Length() {
		n := styled.Index(i)
		n.Get("style").Set("cssText", n.Call("getAttribute", "data-style"))
		n.Call("removeAttribute", "data-style")
	}
}
