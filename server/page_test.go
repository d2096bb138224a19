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
	"seq-tcp", "seq-udp", "seq-quic-stream", "seq-quic-dgram", "seq-ws",
	"link-mode", "link-preset", "link-advanced", "link-seed", "link-state", "link-counts",
	"download-pcapng", "download-qlog", "download-qlog-dgram", "cwnd-chart",
	"tab-messages", "tab-hol", "hol-run", "hol-messages", "hol-size", "hol-drop", "hol-result",
	"hol-tcp", "hol-quic-stream", "hol-udp", "hol-ws",
	"tab-lessons", "lesson-list", "lesson-title", "lesson-summary", "lesson-preset", "lesson-seed", "lesson-repeat",
	"lesson-params", "lesson-link", "lesson-link-state", "lesson-link-reset", "lesson-run", "lesson-explain",
	"lesson-result", "lesson-status", "lesson-conclusion", "lesson-meta", "lesson-charts", "lesson-stats", "lesson-tables",
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

// TestPageLinkControls checks the network controls, diagrams and HOL panel the client relies on.
func TestPageLinkControls(t *testing.T) {
	doc := renderPage(t, pageInfo{}, "127.0.0.1:8080")
	one := func(id string) *html.Node {
		t.Helper()
		n := byTestID(doc, id)
		if len(n) != 1 {
			t.Fatalf("data-testid=%q: %d elements, want 1", id, len(n))
		}
		return n[0]
	}
	mode := one("link-mode")
	if mode.Data != "select" {
		t.Errorf("link-mode is a <%s>, want <select>", mode.Data)
	}
	var modes []string
	for n := range mode.Descendants() {
		if n.Type == html.ElementNode && n.Data == "option" {
			v, _ := attr(n, "value")
			modes = append(modes, v+"="+text(n))
		}
	}
	if got := strings.Join(modes, ","); got != "kernel=Kernel loopback,link=Emulated link" {
		t.Errorf("link-mode options %q", got)
	}
	if p := one("link-preset"); p.Data != "select" {
		t.Errorf("link-preset is a <%s>, want <select>", p.Data)
	}
	if a := one("link-advanced"); a.Data != "details" {
		t.Errorf("link-advanced is a <%s>, want <details>", a.Data)
	}
	// Every per-direction setting exists for both directions.
	for _, dir := range []string{"up", "down"} {
		for _, f := range impFields {
			n := one("link-" + dir + "-" + f.Key)
			if id, _ := attr(n, "id"); id != dir+"-"+f.Key {
				t.Errorf("link-%s-%s has id %q", dir, f.Key, id)
			}
			want := "number"
			if f.Check {
				want = "checkbox"
			}
			if typ, _ := attr(n, "type"); n.Data != "input" || typ != want {
				t.Errorf("link-%s-%s is <%s type=%q>, want an input of type %s", dir, f.Key, n.Data, typ, want)
			}
		}
	}
	// The diagrams are SVG, one per column, inside it.
	for _, c := range columns {
		col := byTestID(doc, "col-"+string(c.T))
		if len(col) != 1 || len(byTestID(col[0], "seq-"+string(c.T))) != 1 {
			t.Errorf("col-%s lacks its seq-%s diagram", c.T, c.T)
		}
		if n := one("seq-" + string(c.T)); n.Data != "svg" {
			t.Errorf("seq-%s is a <%s>, want <svg>", c.T, n.Data)
		}
	}
	if n := one("cwnd-chart"); n.Data != "svg" {
		t.Errorf("cwnd-chart is a <%s>, want <svg>", n.Data)
	}
	for _, id := range []string{"download-pcapng", "download-qlog", "download-qlog-dgram"} {
		if n := one(id); n.Data != "a" {
			t.Errorf("%s is a <%s>, want <a>", id, n.Data)
		} else if d, _ := attr(n, "aria-disabled"); d != "true" {
			t.Errorf("%s is not disabled before the client knows the session", id)
		}
	}
	if n := one("hol-run"); n.Data != "button" {
		t.Errorf("hol-run is a <%s>, want <button>", n.Data)
	}
	res := one("hol-result")
	for _, tr := range []string{"tcp", "quic-stream", "udp", "ws"} {
		if len(byTestID(res, "hol-"+tr)) != 1 {
			t.Errorf("hol-result lacks hol-%s", tr)
		}
	}
	// The head-of-line view starts hidden; the messages view shows.
	for n := range doc.Descendants() {
		if id, _ := attr(n, "id"); n.Type == html.ElementNode && (id == "view-hol" || id == "view-messages") {
			if _, hidden := attr(n, "hidden"); hidden != (id == "view-hol") {
				t.Errorf("#%s hidden=%v", id, hidden)
			}
		}
	}
}

// TestPageLessons checks the Lessons view the client fills in: its tab, its controls, the
// per-direction link inputs and the result area; the menu itself comes from the relay's welcome.
func TestPageLessons(t *testing.T) {
	doc := renderPage(t, pageInfo{}, "127.0.0.1:8080")
	one := func(root *html.Node, id string) *html.Node {
		t.Helper()
		n := byTestID(root, id)
		if len(n) != 1 {
			t.Fatalf("data-testid=%q: %d elements, want 1", id, len(n))
		}
		return n[0]
	}
	tab := one(doc, "tab-lessons")
	if c, _ := attr(tab, "aria-controls"); tab.Data != "button" || c != "view-lessons" {
		t.Errorf("tab-lessons is <%s aria-controls=%q>, want a button controlling view-lessons", tab.Data, c)
	}
	var view *html.Node
	for n := range doc.Descendants() {
		if id, _ := attr(n, "id"); n.Type == html.ElementNode && id == "view-lessons" {
			view = n
		}
	}
	if view == nil {
		t.Fatal("no #view-lessons")
	}
	if _, hidden := attr(view, "hidden"); !hidden {
		t.Error("#view-lessons is shown before the client chose a view")
	}
	for _, id := range []string{"lesson-list", "lesson-preset", "lesson-seed", "lesson-repeat", "lesson-params", "lesson-link", "lesson-run", "lesson-result", "lesson-stats"} {
		one(view, id)
	}
	want := map[string]string{"lesson-run": "button", "lesson-preset": "select", "lesson-seed": "input", "lesson-repeat": "input",
		"lesson-link": "details", "lesson-stats": "table", "lesson-list": "ol"}
	for id, tag := range want {
		if n := one(view, id); n.Data != tag {
			t.Errorf("%s is a <%s>, want <%s>", id, n.Data, tag)
		}
	}
	if lo, _ := attr(one(view, "lesson-repeat"), "min"); lo != "1" {
		t.Errorf("lesson-repeat min=%q, want 1", lo)
	}
	if hi, _ := attr(one(view, "lesson-repeat"), "max"); hi != "10" {
		t.Errorf("lesson-repeat max=%q, want 10", hi)
	}
	// The menu is the client's to fill: no lesson item yet, only a placeholder.
	for n := range one(view, "lesson-list").Descendants() {
		if v, ok := attr(n, "data-lesson"); ok {
			t.Errorf("server-rendered menu item %q", v)
		}
	}
	// The statistics table's columns.
	var cols []string
	for n := range one(view, "lesson-stats").Descendants() {
		if n.Type == html.ElementNode && n.Data == "th" {
			cols = append(cols, text(n))
		}
	}
	if got := strings.Join(cols, ","); got != "transport,metric,mean ± 95% CI,unit" {
		t.Errorf("lesson-stats columns %q", got)
	}
	// Every per-direction link setting, for both directions, like the network bar's.
	for _, dir := range []string{"up", "down"} {
		for _, f := range impFields {
			n := one(view, "lesson-"+dir+"-"+f.Key)
			if id, _ := attr(n, "id"); id != "lesson-"+dir+"-"+f.Key {
				t.Errorf("lesson-%s-%s has id %q", dir, f.Key, id)
			}
			if d, _ := attr(n, "data-dir"); d != dir {
				t.Errorf("lesson-%s-%s has data-dir %q", dir, f.Key, d)
			}
		}
	}
	// The result area starts empty, its conclusion and table hidden.
	if st, _ := attr(one(view, "lesson-result"), "data-state"); st != "empty" {
		t.Errorf("lesson-result data-state=%q, want empty", st)
	}
	for _, id := range []string{"lesson-conclusion", "lesson-stats"} {
		if _, hidden := attr(one(view, id), "hidden"); !hidden {
			t.Errorf("%s is shown before any result", id)
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
		if n.Data == "script" {
			v, ok := attr(n, "src")
			if !ok || strings.TrimSpace(text(n)) != "" {
				t.Errorf("an inline script (the Content-Security-Policy forbids them): %q", text(n))
			}
			scripts = append(scripts, v)
			if v == "/static/boot.js" {
				if w, _ := attr(n, "data-wasm"); w != "/static/main.wasm" {
					t.Errorf("boot.js is given data-wasm=%q, want /static/main.wasm", w)
				}
			}
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" {
				t.Errorf("<%s %s=%q>: inline handlers and styles are refused by the Content-Security-Policy", n.Data, a.Key, a.Val)
			}
		}
		switch n.Data {
		case "link":
			if v, _ := attr(n, "rel"); v == "stylesheet" {
				href, _ := attr(n, "href")
				styles = append(styles, href)
			}
		}
	}
	if strings.Join(scripts, " ") != "/static/wasm_exec.js /static/boot.js" {
		t.Errorf("scripts %q, want [/static/wasm_exec.js /static/boot.js]", scripts)
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
