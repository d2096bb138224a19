package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserLessons opens the Lessons tab, runs two lessons from the menu and expects each one's
// conclusion, a drawn chart and its statistics; the controls live in the page's address, so a
// link opens the same lesson with the same settings.
//
// With WIREPLAY_SCREENSHOT=1 it refreshes docs/screenshot-lessons.png.
func TestBrowserLessons(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	base := "http://" + srv.Addrs().HTTP + "/"
	browserLoad(t, ctx, base)

	browserWithin(t, ctx, 5*time.Second, "opening the Lessons tab", chromedp.Click(chromedp.CSS(`[data-testid="tab-lessons"]`)))
	browserWithin(t, ctx, 10*time.Second, "the lessons menu", browserWaitTrue(`document.querySelectorAll('[data-testid^="lesson-"].lesson-item').length >= 2`))
	browserWithin(t, ctx, 5*time.Second, "the view in the address", browserWaitTrue(`new URLSearchParams(location.search).get("view") === "lessons"`))

	// boundaries: its own preset, the defaults.
	browserLesson(t, ctx, "boundaries", nil)
	if seed, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`new URLSearchParams(location.search).get("lesson")`)); seed != "boundaries" {
		t.Errorf("address names lesson %q, want boundaries", seed)
	}

	// loss-order on a lossier link: the live sequence diagram marks the drops. (At 10% each way
	// some of the ~150 packets of the run are dropped all but surely, P(none) < 1e-6, while five
	// handshakes rarely wait out more than a retransmission or two.)
	browserLesson(t, ctx, "loss-order", map[string]string{"lesson-param-messages": "10", "lesson-up-loss": "10", "lesson-down-loss": "10"})
	browserWithin(t, ctx, 5*time.Second, "a dropped packet in the lesson's diagram", browserWaitTrue(
		`document.querySelectorAll('[data-testid="lesson-seq"] g.pk[data-fate="dropped"]').length > 0`))
	// The lesson's packets are the Lessons tab's only: the Messages tab's diagrams stay empty.
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid^="seq-"] g.pk').length`)); err != nil || n != 0 {
		t.Errorf("%d packets in the Messages tab's diagrams after lessons (%v), want 0", n, err)
	}

	// handshake, with a parameter and a seed of our own: both go into the address.
	// The down direction edited away from the preset: 30 ms of delay.
	browserLesson(t, ctx, "handshake", map[string]string{"lesson-param-requests": "3", "lesson-seed": "3", "lesson-down-delay": "30"})
	q, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
	if err != nil {
		t.Fatal(err)
	}
	// The preset is the lesson's own unless changed; the address names it all the same.
	preset, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="lesson-preset"]').value`))
	if err != nil || preset == "" {
		t.Fatalf("lesson preset %q (%v)", preset, err)
	}
	for _, want := range []string{"view=lessons", "lesson=handshake", "seed=3", "p.requests=3", "preset=" + preset, "down.delay=30"} {
		if !strings.Contains(q, want) {
			t.Errorf("address %q lacks %q", q, want)
		}
	}
	if meta, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid="lesson-meta"]`))); !strings.Contains(meta, "HTTP requests 3") || !strings.Contains(meta, "seed 3") || !strings.Contains(meta, "↓ 30") {
		t.Errorf("the result's settings read %q, want HTTP requests 3, seed 3 and 30 ms down", meta)
	}
	shot := filepath.Join(t.ArtifactDir(), "lessons.png")
	if os.Getenv("WIREPLAY_SCREENSHOT") == "1" {
		shot = filepath.Join("..", "docs", "screenshot-lessons.png")
	}
	browserScreenshot(t, ctx, shot)

	// The address reproduces the lesson and its controls in a fresh page.
	browserLoad(t, ctx, base+q)
	browserWithin(t, ctx, 10*time.Second, "the handshake lesson restored from the address", browserWaitTrue(`
		document.querySelector('[data-testid="lesson-handshake"]')?.getAttribute("aria-current") === "true" &&
		!document.querySelector('#view-lessons').hidden &&
		document.querySelector('[data-testid="lesson-seed"]').value === "3" &&
		document.querySelector('[data-testid="lesson-param-requests"]').value === "3" &&
		document.querySelector('[data-testid="lesson-down-delay"]').value === "30" &&
		document.querySelector('[data-testid="lesson-preset"]').value === new URLSearchParams(location.search).get("preset")`))

	// A parameter the scenario refuses: the relay's error shows in the result, not as a result.
	browserLoad(t, ctx, base+"?view=lessons&lesson=handshake&p.requests=-4")
	browserWithin(t, ctx, 10*time.Second, "Run to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="lesson-run"]`)))
	browserWithin(t, ctx, 5*time.Second, "running with requests=-4", chromedp.Click(chromedp.CSS(`[data-testid="lesson-run"]`)))
	browserWithin(t, ctx, 30*time.Second, "the refusal", browserWaitTrue(`document.querySelector('[data-testid="lesson-result"]').dataset.state === "error" &&
		document.querySelector('[data-testid="lesson-status"]').textContent.startsWith("The lesson failed") &&
		document.querySelector('[data-testid="lesson-conclusion"]').hidden && !document.querySelector('[data-testid="lesson-run"]').disabled`))
}

// browserLesson chooses lesson name from the menu, sets controls (by data-testid), runs it and
// waits for its result: a conclusion, at least one chart with a line or dots, and statistics.
func browserLesson(t *testing.T, ctx context.Context, name string, controls map[string]string) {
	t.Helper()
	browserLessonRun(t, ctx, name, controls)
	browserLessonDrawn(t, ctx, name)
	// The run's packets, streamed while it ran, stay drawn: arrows between client and server.
	arrows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector('[data-testid="lesson-live"]').hidden ? -1 :
		document.querySelectorAll('[data-testid="lesson-seq"] g.pk line').length`))
	if err != nil || arrows < 1 {
		t.Errorf("%s: %d arrows in the lesson's sequence diagram (%v), want some", name, arrows, err)
	}
	if note, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid="lesson-seq-note"]`))); !strings.Contains(note, "packets") {
		t.Errorf("%s: the diagram's note reads %q", name, note)
	}
}

// browserLessonRun chooses lesson name from the menu, sets controls (by data-testid), runs it and
// waits for it to finish, failing the test unless it is done.
func browserLessonRun(t *testing.T, ctx context.Context, name string, controls map[string]string) {
	t.Helper()
	browserWithin(t, ctx, 5*time.Second, "choosing lesson "+name, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="lesson-%s"]`, name))))
	browserWithin(t, ctx, 5*time.Second, "lesson "+name+" shown", browserWaitTrue(fmt.Sprintf(
		`document.querySelector('[data-testid="lesson-%s"]').getAttribute("aria-current") === "true" && document.querySelectorAll('[data-testid="lesson-explain"] p').length > 0`, name)))
	for id, v := range controls {
		browserChange(t, ctx, id, v)
	}
	browserWithin(t, ctx, 10*time.Second, "Run to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="lesson-run"]`)))
	browserWithin(t, ctx, 5*time.Second, "running "+name, chromedp.Click(chromedp.CSS(`[data-testid="lesson-run"]`)))
	browserWithin(t, ctx, 90*time.Second, "the result of "+name,
		browserWaitTrue(`["done", "error"].includes(document.querySelector('[data-testid="lesson-result"]').dataset.state)`))
	st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="lesson-result"]').dataset.state + ": " + document.querySelector('[data-testid="lesson-status"]').textContent`))
	if !strings.HasPrefix(st, "done") {
		browserScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), name+"-failed.png"))
		t.Fatalf("lesson %s did not finish: %s", name, st)
	}
}

// browserLessonDrawn checks the shown lesson's result: a conclusion, a chart with a line or dots,
// and statistics with numbers.
func browserLessonDrawn(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	conclusion, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid="lesson-conclusion"]`)))
	if err != nil || len(strings.TrimSpace(conclusion)) < 20 {
		t.Errorf("%s: conclusion %q (%v), want a sentence or more", name, conclusion, err)
	}
	drawn, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="lesson-charts"] svg polyline, [data-testid="lesson-charts"] svg circle').length`))
	if err != nil || drawn == 0 {
		t.Errorf("%s: %d lines or dots in the charts (%v), want some", name, drawn, err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector('[data-testid="lesson-stats"]').hidden ? -1 : document.querySelectorAll('[data-testid="lesson-stats"] tbody tr').length`))
	if err != nil || rows < 1 {
		t.Errorf("%s: %d rows of statistics (%v), want some", name, rows, err)
	}
	if filled, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`Array.from(document.querySelectorAll('[data-testid="lesson-stats"] tbody td.n')).some(td => /\d/.test(td.textContent))`)); !filled {
		t.Errorf("%s: no number in the statistics", name)
	}
}
