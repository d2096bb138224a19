package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// cspWatch is installed in every document before its own scripts run: it keeps each
// securitypolicyviolation the page reports.
const cspWatch = `window.__csp = []; document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber), true);`

// TestBrowserCSP loads the page under its Content-Security-Policy, sends a message and runs a
// lesson (whose tables are colored), and finds no violation reported, neither by the page's
// securitypolicyviolation events nor in the browser's log. A style attribute inserted at the end
// must be reported, so the watch is shown to see violations.
func TestBrowserCSP(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	base := "http://" + srv.Addrs().HTTP + "/"

	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self' 'wasm-unsafe-eval';", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q allows inline code", csp)
	}

	ctx := browserOpen(t, chrome)
	var (
		mu     sync.Mutex
		logged []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
				mu.Lock()
				logged = append(logged, m.String())
				mu.Unlock()
			}
		}
	}()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("install the violation watch: %v", err)
	}
	browserLoad(t, ctx, base)
	browserWithin(t, ctx, 10*time.Second, "sending with Enter", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), "under a strict policy\r"))
	browserWaitEchoes(t, ctx, "under a strict policy")
	// Enter in the composer did not submit the form: still the same document.
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__csp.length`)); err != nil || n != 0 {
		t.Fatalf("the watch is gone or saw %d violations (%v): the form was submitted?", n, err)
	}
	browserWithin(t, ctx, 5*time.Second, "opening the Lessons tab", chromedp.Click(chromedp.CSS(`[data-testid="tab-lessons"]`)))
	browserLesson(t, ctx, "loss-order", map[string]string{"lesson-param-messages": "10", "lesson-up-loss": "5"})
	// The lesson's colored transport names came through the CSSOM.
	if c, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#view-lessons [data-style]') ? "left " : "") + (Array.from(document.querySelectorAll('#view-lessons td.tr-name')).map(e => e.style.getPropertyValue('--c') || (e.querySelector('i') ? e.querySelector('i').style.getPropertyValue('--c') : '')).find(v => v) || "")`)); err != nil || strings.HasPrefix(c, "left") || c == "" {
		t.Errorf("the lesson's transport colors = %q (%v), want set through the CSSOM", c, err)
	}

	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp`))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	seen := append([]string(nil), logged...)
	mu.Unlock()
	if len(violations) != 0 || len(seen) != 0 {
		t.Errorf("CSP violations while loading, sending and running a lesson: %q; logged: %q", violations, seen)
	}

	// The control, in a tab of its own (browserOpen fails a test on any violation in the first):
	// markup with a style attribute is refused and reported, in the page and in the log.
	control, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if _, err := chromedp.Call(control, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("install the violation watch: %v", err)
	}
	lctx, lcancel := context.WithTimeout(control, 20*time.Second) // bounds the wait for the log entry
	defer lcancel()
	cmsgs := chromedp.Console(lctx)
	browserLoad(t, control, base)
	if _, err := chromedp.Run(control, chromedp.Evaluate[bool](`document.body.insertAdjacentHTML("beforeend", '<i style="color: red"></i>'), true`)); err != nil {
		t.Fatal(err)
	}
	browserWithin(t, control, 5*time.Second, "the control's violation", browserWaitTrue(`window.__csp.length === 1 && window.__csp[0].startsWith("style-src-attr")`))
	for m, err := range cmsgs {
		if err != nil {
			t.Fatalf("the control's violation is not in the browser's log: %v", err)
		}
		if strings.Contains(m.Text, "Content Security Policy") {
			break
		}
	}
}
