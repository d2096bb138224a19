package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// TestBrowserLayout opens the page at widths from a phone's to a wide monitor's, with a message
// sent, a head-of-line run and a lesson's result shown, and checks each tab at each width, on the
// kernel's loopback and on the emulated link (Messages and Head-of-line): no
// sideways scrolling, nothing with a data-testid clipped, no text cut short (layoutCheck). The
// screenshots at 360, 800, 1280 and 1920 px (the view and the whole page) go to the test's artifact directory (kept with
// go test -artifacts).
func TestBrowserLayout(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+"/")

	msg := "one message, five ways"
	browserWithin(t, ctx, 10*time.Second, "sending with Enter", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), msg+"\r"))
	browserWaitEchoes(t, ctx, msg)

	browserWithin(t, ctx, 5*time.Second, "opening the Head-of-line tab", chromedp.Click(chromedp.CSS(`[data-testid="tab-hol"]`)))
	browserWithin(t, ctx, 10*time.Second, "Run to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="hol-run"]`)))
	browserWithin(t, ctx, 5*time.Second, "running head-of-line", chromedp.Click(chromedp.CSS(`[data-testid="hol-run"]`)))
	browserWithin(t, ctx, 90*time.Second, "the head-of-line result", browserWaitTrue(`document.querySelector('[data-testid="hol-result"]').dataset.state === "done"`))

	browserWithin(t, ctx, 5*time.Second, "opening the Lessons tab", chromedp.Click(chromedp.CSS(`[data-testid="tab-lessons"]`)))
	browserWithin(t, ctx, 10*time.Second, "the lessons menu", browserWaitTrue(`document.querySelectorAll('[data-testid^="lesson-"].lesson-item').length >= 2`))
	browserLesson(t, ctx, "handshake", map[string]string{"lesson-param-requests": "3"})

	layoutAt(t, ctx, "kernel", []string{"messages", "hol", "lessons"})

	// On the emulated link (lab-25ms: delay, no loss, so every transport echoes) the columns draw packet diagrams and the
	// network bar counts packets: the Messages and Head-of-line tabs again.
	browserWithin(t, ctx, 5*time.Second, "opening the Messages tab", chromedp.Click(chromedp.CSS(`[data-testid="tab-messages"]`)))
	browserChange(t, ctx, "link-mode", "link")
	browserWithin(t, ctx, 20*time.Second, "the emulated link", browserWaitTrue(`document.querySelector('#linkbar').dataset.mode === "link"`))
	browserChange(t, ctx, "link-preset", "lab-25ms")
	browserWithin(t, ctx, 20*time.Second, "the lab-25ms preset", browserWaitTrue(`document.querySelector('[data-testid="link-state"]').textContent.includes("lab-25ms")`))
	msg = "on the emulated link"
	browserWithin(t, ctx, 10*time.Second, "sending on the link", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), msg+"\r"))
	browserWaitEchoes(t, ctx, msg)
	browserWithin(t, ctx, 10*time.Second, "packets in the diagrams", browserWaitTrue(`document.querySelectorAll('[data-testid^="seq-"] g.pk').length > 0`))
	browserWithin(t, ctx, 5*time.Second, "opening the Head-of-line tab", chromedp.Click(chromedp.CSS(`[data-testid="tab-hol"]`)))
	browserWithin(t, ctx, 10*time.Second, "Run to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="hol-run"]`)))
	browserWithin(t, ctx, 5*time.Second, "running head-of-line on the link", chromedp.Click(chromedp.CSS(`[data-testid="hol-run"]`)))
	browserWithin(t, ctx, 90*time.Second, "the head-of-line result", browserWaitTrue(`document.querySelector('[data-testid="hol-result"]').dataset.state === "done"`))
	layoutAt(t, ctx, "link", []string{"messages", "hol"})

	// Back to the window browserOpen made, for anything that runs after.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		t.Error(err)
	}
}

// layoutAt checks each of tabs at each width with layoutCheck and saves screenshots (the view and
// the whole page) named after mode, the tab and the width.
func layoutAt(t *testing.T, ctx context.Context, mode string, tabs []string) {
	t.Helper()
	dir := t.ArtifactDir()
	for _, w := range []int{360, 800, 1280, 1920, 2560} {
		h := map[int]int{360: 740, 800: 600, 1280: 720, 1920: 1080, 2560: 1440}[w]
		for _, tab := range tabs {
			browserWithin(t, ctx, 10*time.Second, fmt.Sprintf("the %s tab at %d×%d", tab, w, h), chromedp.Steps(
				chromedp.EmulateViewport(int64(w), int64(h)),
				chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="tab-%s"]`, tab))),
				browserWaitTrue(fmt.Sprintf(`document.querySelector('[data-testid="tab-%s"]').getAttribute("aria-selected") === "true"`, tab)),
			))
			// The client redraws the packet diagrams and the chart a moment after a resize, to their
			// boxes' new width: wait for that (or report them clipped).
			wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := chromedp.Do(wctx, browserWaitTrue(layoutRedrawn))
			cancel()
			if err != nil {
				t.Logf("%s: %s tab at %d: the diagrams were not redrawn to their boxes: %v", mode, tab, w, err)
			}
			problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](layoutCheck))
			if err != nil {
				t.Fatalf("check the layout of %s at %d: %v", tab, w, err)
			}
			for _, p := range problems {
				t.Errorf("%s: %s tab at %d×%d: %s", mode, tab, w, h, p)
			}
			if w != 2560 {
				name := fmt.Sprintf("layout-%s-%s-%d", mode, tab, w)
				browserScreenshot(t, ctx, filepath.Join(dir, name+".png"))
				browserFullScreenshot(t, ctx, filepath.Join(dir, name+"-full.png"))
			}
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
