package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// testIDs are the data-testid attributes the browser test and other tools rely on.
var testIDs = []string{
	"message", "send", "burst-count", "burst-size", "burst",
	"col-tcp", "col-udp", "col-quic-stream", "col-quic-dgram", "col-ws",
}

func renderPage(t *testing.T, info pageInfo, host string) *html.Node {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = host
	rec := httptest.NewRecorder()
	newPageHandler(info).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	doc, err := html.Parse(rec.Body)
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	return doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// byTestID returns the elements under root whose data-testid is id.
func byTestID(root *html.Node, id string) []*html.Node {
	var out []*html.Node
	for n := range root.Descendants() {
		if v, ok := attr(n, "data-testid"); ok && n.Type == html.ElementNode && v == id {
			out = append(out, n)
		}
	}
	return out
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

func TestPageTestIDs(t *testing.T) {
	doc := renderPage(t, pageInfo{Addrs: Addrs{HTTP: "127.0.0.1:8080", TCP: "127.0.0.1:7001", UDP: "127.0.0.1:7002", QUIC: "127.0.0.1:7003"}}, "127.0.0.1:8080")
	for _, id := range testIDs {
		if got := len(byTestID(doc, id)); got != 1 {
			t.Errorf("data-testid=%q: %d elements, want 1", id, got)
		}
	}
	if n := byTestID(doc, "message"); len(n) == 1 && n[0].Data != "input" {
		t.Errorf("message is a <%s>, want <input>", n[0].Data)
	}
	for _, id := range []string{"send", "burst"} {
		if n := byTestID(doc, id); len(n) == 1 && n[0].Data != "button" {
			t.Errorf("%s is a <%s>, want <button>", id, n[0].Data)
		}
	}
	// Every column has one rtt, and no echo before anything was sent.
	for _, id := range []string{"col-tcp", "col-udp", "col-quic-stream", "col-quic-dgram", "col-ws"} {
		cols := byTestID(doc, id)
		if len(cols) != 1 {
			continue
		}
		if got := len(byTestID(cols[0], "rtt")); got != 1 {
			t.Errorf("%s: %d rtt elements, want 1", id, got)
		}
		if got := len(byTestID(cols[0], "echo")); got != 0 {
			t.Errorf("%s: %d echo elements before any message, want 0", id, got)
		}
	}
}

func TestPageLoadsClientAndNothingExternal(t *testing.T) {
	doc := renderPage(t, pageInfo{}, "example.test")
	var scripts, styles []string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		for _, k := range []string{"src", "href"} {
			if v, ok := attr(n, k); ok && (strings.Contains(v, "//") || strings.HasPrefix(v, "http")) {
				t.Errorf("<%s %s=%q> loads an external resource", n.Data, k, v)
			}
		}
		switch n.Data {
		case "script":
			if v, ok := attr(n, "src"); ok {
				scripts = append(scripts, v)
			} else if !strings.Contains(text(n), `fetch("/static/main.wasm")`) {
				t.Errorf("inline script does not load /static/main.wasm: %s", text(n))
			}
		case "link":
			if v, _ := attr(n, "rel"); v == "stylesheet" {
				href, _ := attr(n, "href")
				styles = append(styles, href)
			}
		}
	}
	if strings.Join(scripts, " ") != "/static/wasm_exec.js" {
		t.Errorf("scripts %q, want [/static/wasm_exec.js]", scripts)
	}
	if strings.Join(styles, " ") != "/static/style.css" {
		t.Errorf("stylesheets %q, want [/static/style.css]", styles)
	}
}

func TestPageEndpoints(t *testing.T) {
	info := pageInfo{Addrs: Addrs{HTTP: "0.0.0.0:8080", TCP: "127.0.0.1:7001", UDP: "[::]:7002", QUIC: "10.0.0.5:7003"}}
	doc := renderPage(t, info, "wireplay.example:8080")
	foot := ""
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "footer" {
			foot = text(n)
		}
	}
	for _, want := range []string{
		"nc 127.0.0.1 7001",
		"nc -u wireplay.example 7002",
		"wireplay probe --transport quic-stream --addr 10.0.0.5:7003",
		"websocat ws://wireplay.example:8080/ws/echo",
	} {
		if !strings.Contains(foot, want) {
			t.Errorf("footer lacks %q; it reads %q", want, foot)
		}
	}
}

func TestPageEscapesHost(t *testing.T) {
	// The Host header is the one thing a client puts on the page (for unspecified listen addresses).
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = `<script>alert(1)</script>`
	rec := httptest.NewRecorder()
	newPageHandler(pageInfo{Addrs: Addrs{TCP: "0.0.0.0:7001"}}).ServeHTTP(rec, req)
	body := rec.Body.String()
	if strings.Contains(body, "<script>alert(1)") {
		t.Fatal("the Host header reached the page unescaped")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the escaped host is missing from the footer")
	}
}
