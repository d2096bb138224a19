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

// layoutCheck is run in the page: it returns what is wrong with the layout at the current viewport.
// The page must not scroll sideways; every visible element with a data-testid must lie inside every
// ancestor that clips horizontally (overflow hidden or clip; a scroll container counts only when
// its scrollbar can be seen), and no such element may truncate its own text; no element anywhere
// may scroll sideways (a table wraps instead) or hide text behind an ellipsis or a line clamp; a
// chart's text lies inside its viewBox and is drawn at 6 to 16 px whatever the chart's width; the newest message of each column's timeline
// must be on screen within its column.
const layoutCheck = `(() => {
	const out = [];
	const de = document.documentElement;
	const name = e => {
		const id = e.getAttribute && e.getAttribute("data-testid");
		if (id) return '[data-testid="' + id + '"]';
		const c = e.getAttribute && e.getAttribute("class");
		return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (c ? "." + c.trim().split(/\s+/).join(".") : "");
	};
	if (de.scrollWidth > innerWidth) {
		// name the outermost elements that stick out
		const wide = Array.from(document.body.querySelectorAll("*")).filter(e => e.getBoundingClientRect().right > innerWidth + 1 &&
			e.parentElement.getBoundingClientRect().right <= innerWidth + 1).slice(0, 3).map(e => name(e) + " (" + Math.round(e.getBoundingClientRect().width) + " px)");
		out.push("page is " + de.scrollWidth + " px wide in a " + innerWidth + " px viewport: " + wide.join(", "));
	}
	const shown = e => {
		const r = e.getBoundingClientRect();
		if (r.width === 0 && r.height === 0) return false;
		const s = getComputedStyle(e);
		return s.visibility !== "hidden" && s.display !== "none";
	};
	const scrollable = s => (s === "auto" || s === "scroll");
	for (const e of document.querySelectorAll("[data-testid]")) {
		if (!shown(e)) continue;
		const r = e.getBoundingClientRect();
		for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
			const s = getComputedStyle(a);
			if (s.overflowX === "visible") continue;
			if (scrollable(s.overflowX) && s.scrollbarWidth !== "none") break; // reachable by its scrollbar
			const ar = a.getBoundingClientRect();
			if (r.right > ar.right + 1 || r.left < ar.left - 1) {
				out.push(name(e) + " [" + Math.round(r.left) + ", " + Math.round(r.right) + "] clipped by " + name(a) + " [" + Math.round(ar.left) + ", " + Math.round(ar.right) + "]");
				break;
			}
		}
		const s = getComputedStyle(e);
		if (s.overflowX !== "visible" && !scrollable(s.overflowX) && e.scrollWidth > e.clientWidth + 1 && e.textContent.trim() !== "")
			out.push(name(e) + " truncates its text: " + e.scrollWidth + " px in " + e.clientWidth + ": " + JSON.stringify(e.textContent.trim().slice(0, 60)));
	}
	for (const e of document.body.querySelectorAll("*")) {
		const s = getComputedStyle(e);
		if (scrollable(s.overflowX) && e.scrollWidth > e.clientWidth + 1 && shown(e))
			out.push(name(e) + " scrolls sideways: " + e.scrollWidth + " px in " + e.clientWidth);
		const clamp = s.webkitLineClamp !== "none" && s.webkitLineClamp !== "";
		if (s.textOverflow !== "ellipsis" && !clamp) continue;
		if (!shown(e) || e.textContent.trim() === "") continue;
		if (e.scrollWidth > e.clientWidth + 1 || (clamp && e.scrollHeight > e.clientHeight + 1))
			out.push(name(e) + " cut short by " + (clamp ? "a line clamp" : "an ellipsis") + ": " + JSON.stringify(e.textContent.trim().slice(0, 60)));
	}
	for (const svg of document.querySelectorAll("svg.chart")) {
		const vb = svg.viewBox && svg.viewBox.baseVal;
		if (!shown(svg) || !vb || !vb.width) continue;
		const k = svg.getBoundingClientRect().width / vb.width;
		for (const t of svg.querySelectorAll("text")) {
			const b = t.getBBox();
			if (!t.hasAttribute("transform") && (b.x < vb.x - 1 || b.y < vb.y - 1 || b.x + b.width > vb.x + vb.width + 1 || b.y + b.height > vb.y + vb.height + 1))
				out.push("chart " + JSON.stringify(svg.querySelector("title")?.textContent || "") + " draws " + JSON.stringify(t.textContent.slice(0, 30)) + " outside its viewBox");
			const px = parseFloat(getComputedStyle(t).fontSize) * k;
			if (px > 16 || px < 6) {
				out.push("chart " + JSON.stringify(svg.querySelector("title")?.textContent || "") + " draws " + JSON.stringify(t.textContent.slice(0, 30)) + " at " + px.toFixed(1) + " px (want 6–16)");
				break;
			}
		}
	}
	if (!document.getElementById("view-messages").hidden) {
		for (const col of document.querySelectorAll('.col[data-testid^="col-"]')) {
			if (col.hidden) continue; // a local transport's column on the emulated link: not shown
			const m = col.querySelector('.timeline [data-testid="echo"]');
			if (!m) { out.push(name(col) + " has no message in its timeline"); continue; }
			const r = m.getBoundingClientRect();
			for (let a = m.parentElement; a && a !== document.body; a = a.parentElement) {
				const s = getComputedStyle(a);
				if (s.overflowY === "visible") continue;
				const ar = a.getBoundingClientRect();
				if (r.top < ar.top - 1 || r.bottom > ar.bottom + 1) {
					out.push(name(col) + "'s newest message [" + Math.round(r.top) + ", " + Math.round(r.bottom) + "] is hidden inside " + name(a) + " [" + Math.round(ar.top) + ", " + Math.round(ar.bottom) + "]");
					break;
				}
			}
		}
	}
	return out;
})()`

// layoutRedrawn is true when every drawn packet diagram is as wide as its box.
const layoutRedrawn = `Array.from(document.querySelectorAll('.seq[data-empty="false"]')).every(b =>
	b.getBoundingClientRect().width === 0 || Math.abs(b.querySelector("svg").getBoundingClientRect().width - b.getBoundingClientRect().width) <= 1)`

// layoutWidths are the viewport sizes the layout is checked at, from a phone's to a wide
// monitor's; all but the last are also screenshot.
var layoutWidths = []struct{ w, h int64 }{{360, 740}, {800, 600}, {1280, 720}, {1920, 1080}, {2560, 1440}}

// layoutLegend is the legend keys of the lesson's charts, one array per chart: each key's colour
// and its row's y, as "colour y".
const layoutLegend = `Array.from(document.querySelectorAll('[data-testid="lesson-charts"] svg.chart')).map(svg =>
	Array.from(svg.querySelectorAll('line[stroke-width="3"]')).map(l => l.getAttribute("stroke") + " " + l.getAttribute("y1")))`

// TestBrowserLayout opens the page in one browser and checks each tab at widths from a phone's to
// a wide monitor's (the viewport resized by emulation, the page not reloaded): no sideways
// scrolling, nothing with a data-testid clipped, no text cut short, a chart's text inside its
// viewBox (layoutCheck). The Messages tab shows a message sent on the emulated link (lab-25ms:
// delay, no loss, so every transport echoes and the packet diagrams fill), the Head-of-line tab a
// short run and the Lessons tab a small throughput grid, whose chart has two legend rows and a
// colour for every series (20 ms and 50 ms differ). The screenshots at 360, 800, 1280 and 1920 px
// (the whole page) go to the test's artifact directory (kept with go test -artifacts).
//
// It is kept light, since it runs beside other tests: one browser, one page load, short runs.
func TestBrowserLayout(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	start := time.Now()
	defer func() { t.Logf("the browser session took %v", time.Since(start).Round(10*time.Millisecond)) }()
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+"/")

	browserChange(t, ctx, "link-mode", "link")
	browserWithin(t, ctx, 20*time.Second, "the emulated link", browserWaitTrue(`document.querySelector('#linkbar').dataset.mode === "link"`))
	browserChange(t, ctx, "link-preset", "lab-25ms")
	browserWithin(t, ctx, 20*time.Second, "the lab-25ms preset", browserWaitTrue(`document.querySelector('[data-testid="link-state"]').textContent.includes("lab-25ms")`))
	msg := "one message, five ways, on the emulated link"
	browserWithin(t, ctx, 10*time.Second, "sending with Enter", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), msg+"\r"))
	browserWaitEchoes(t, ctx, msg)
	browserWithin(t, ctx, 10*time.Second, "packets in the diagrams", browserWaitTrue(`document.querySelectorAll('[data-testid^="seq-"] g.pk').length > 0`))
	layoutAt(t, ctx, "messages")

	browserWithin(t, ctx, 5*time.Second, "opening the Head-of-line tab", chromedp.Click(chromedp.CSS(`[data-testid="tab-hol"]`)))
	browserChange(t, ctx, "hol-messages", 10)
	browserWithin(t, ctx, 10*time.Second, "Run to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="hol-run"]`)))
	browserWithin(t, ctx, 5*time.Second, "running head-of-line", chromedp.Click(chromedp.CSS(`[data-testid="hol-run"]`)))
	browserWithin(t, ctx, 30*time.Second, "the head-of-line result", browserWaitTrue(`document.querySelector('[data-testid="hol-result"]').dataset.state === "done"`))
	layoutAt(t, ctx, "hol")

	browserWithin(t, ctx, 5*time.Second, "opening the Lessons tab", chromedp.Click(chromedp.CSS(`[data-testid="tab-lessons"]`)))
	browserWithin(t, ctx, 10*time.Second, "the lessons menu", browserWaitTrue(`document.querySelectorAll('[data-testid^="lesson-"].lesson-item').length >= 2`))
	// (The throughput lesson streams no packets, so no sequence diagram: browserLesson would ask for one.)
	browserLessonRun(t, ctx, "throughput", map[string]string{
		"lesson-param-losses": "0,1", "lesson-param-rtts": "20ms,50ms", "lesson-param-bytes": "200000", "lesson-param-cap": "300ms",
	})
	browserLessonDrawn(t, ctx, "throughput")
	legends, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](layoutLegend))
	if err != nil || len(legends) == 0 {
		t.Fatalf("the throughput chart's legend: %v (err %v)", legends, err)
	}
	// Three transports and an estimate at each of two round trips: eight keys, in two rows at least
	// (layoutCheck has them inside the chart), each its own colour.
	for _, keys := range legends {
		colours, rows := map[string]bool{}, map[string]bool{}
		for _, k := range keys {
			c, y, _ := strings.Cut(k, " ")
			if colours[c] {
				t.Errorf("the throughput chart draws two series in %s: %v", c, keys)
			}
			colours[c], rows[y] = true, true
		}
		if len(keys) != 8 || len(rows) < 2 {
			t.Errorf("the throughput chart's legend has %d keys in %d rows, want 8 in 2 or more: %v", len(keys), len(rows), keys)
		}
	}
	layoutAt(t, ctx, "lessons")

	// Back to the window browserOpen made, for anything that runs after.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		t.Error(err)
	}
}

// layoutAt checks the shown tab at each of layoutWidths with layoutCheck and saves a screenshot of
// the whole page named after the tab and the width.
func layoutAt(t *testing.T, ctx context.Context, tab string) {
	t.Helper()
	dir := t.ArtifactDir()
	for i, vp := range layoutWidths {
		browserWithin(t, ctx, 10*time.Second, fmt.Sprintf("the %s tab at %d×%d", tab, vp.w, vp.h), chromedp.Steps(
			chromedp.EmulateViewport(vp.w, vp.h),
			browserWaitTrue(fmt.Sprintf(`document.querySelector('[data-testid="tab-%s"]').getAttribute("aria-selected") === "true" && innerWidth === %d`, tab, vp.w)),
		))
		// The client redraws the packet diagrams and the charts a moment after a resize, to their
		// boxes' new width: wait for that (or report them clipped).
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := chromedp.Do(wctx, browserWaitTrue(layoutRedrawn))
		cancel()
		if err != nil {
			t.Logf("%s tab at %d: the diagrams were not redrawn to their boxes: %v", tab, vp.w, err)
		}
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](layoutCheck))
		if err != nil {
			t.Fatalf("check the layout of %s at %d: %v", tab, vp.w, err)
		}
		for _, p := range problems {
			t.Errorf("%s tab at %d×%d: %s", tab, vp.w, vp.h, p)
		}
		if i < len(layoutWidths)-1 {
			browserFullScreenshot(t, ctx, filepath.Join(dir, fmt.Sprintf("layout-%s-%d.png", tab, vp.w)))
		}
	}
}

// browserFullScreenshot saves the whole page, below the fold too.
func browserFullScreenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
	t.Logf("screenshot: %s", path)
}
