package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserLessonQueued: two pages of one address. The first runs a long lesson; the second's
// lesson waits and says so ("queued: place 1"); the first page is left for another, which ends
// its session (the client closes its socket on pagehide: Chromium would keep it open while the
// page sits in the back-forward cache) and its lesson, and the second's runs and finishes. The
// second page's status is recorded as it changes, so the order is read from the page, not timed;
// the server's count of the address's relay connections (GET /relay/limits) shows the first page
// gone.
func TestBrowserLessonQueued(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	base := "http://" + srv.Addrs().HTTP + "/"
	browser := browserOpen(t, chrome)
	// Each page is a tab of its own.
	tab := func() context.Context {
		ctx, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		// The first Run makes the tab; it must not have a deadline, which would close the tab.
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	first := tab()
	browserLoad(t, first, base+"?view=lessons&lesson=handshake&p.requests=100&up.delay=25&down.delay=25")
	browserWithin(t, first, 10*time.Second, "Run to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="lesson-run"]`)))
	browserWithin(t, first, 5*time.Second, "running the long lesson", chromedp.Click(chromedp.CSS(`[data-testid="lesson-run"]`)))
	browserWithin(t, first, 20*time.Second, "the long lesson's live events", browserWaitTrue(`document.querySelector('[data-testid="lesson-status"]').textContent.includes("live events")`))

	second := tab()
	browserLoad(t, second, base+"?view=lessons&lesson=boundaries")
	browserWithin(t, second, 10*time.Second, "Run to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="lesson-run"]`)))
	browserWithin(t, second, 5*time.Second, "running behind the first", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`window.__st = []; new MutationObserver(() => { const e = document.querySelector('[data-testid="lesson-status"]'); const v = e.dataset.state + ": " + e.textContent; if (window.__st[window.__st.length - 1] !== v) window.__st.push(v); }).observe(document.querySelector('[data-testid="lesson-status"]'), {childList: true, characterData: true, subtree: true, attributes: true})`),
		chromedp.Click(chromedp.CSS(`[data-testid="lesson-run"]`)),
	))
	browserWithin(t, second, 20*time.Second, "the second lesson queued", browserWaitTrue(`window.__st.some(s => s.startsWith("queued: queued: place 1"))`))
	browserWithin(t, first, 10*time.Second, "the first page leaving", chromedp.Navigate("about:blank"))
	browserWithin(t, second, 90*time.Second, "the second lesson's result",
		browserWaitTrue(`["done", "error"].includes(document.querySelector('[data-testid="lesson-result"]').dataset.state)`))
	seen, err := chromedp.Run(second, chromedp.Evaluate[[]string](`window.__st`))
	if err != nil {
		t.Fatal(err)
	}
	queued, ran := -1, -1
	for i, s := range seen {
		if queued < 0 && strings.HasPrefix(s, "queued: queued: place 1") {
			queued = i
		}
		if queued >= 0 && ran < 0 && strings.HasPrefix(s, "running: Running") {
			ran = i
		}
	}
	if queued < 0 || ran < 0 {
		t.Errorf("the second page's status went %q; want queued: place 1, then running", seen)
	}
	browserWithin(t, second, 10*time.Second, "the first page's session to end", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for {
			one, err := chromedp.Evaluate[bool](`fetch("/relay/limits").then(r => r.json()).then(l => l.open === 1)`, chromedp.EvalAwaitPromise)(ctx, tg)
			if err != nil || one {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	if st, _ := chromedp.Run(second, chromedp.Evaluate[string](`document.querySelector('[data-testid="lesson-result"]').dataset.state`)); st != "done" {
		t.Errorf("second lesson ended %q, want done", st)
	}
}
