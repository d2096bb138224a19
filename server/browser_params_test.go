package server_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPresetEditAndParams: on the page, editing one field of the 3g preset keeps its 64 KB
// queue bound in both directions of the link in force; a lesson's controls are built from its
// parameters' declarations, and a value the scenario refuses is named in the error.
func TestBrowserPresetEditAndParams(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+"/")

	browserWithin(t, ctx, 10*time.Second, "the presets", browserWaitTrue(`document.querySelectorAll('[data-testid="link-preset"] option[value="3g"]').length === 1`))
	// (browserChange's checkbox branch would not parse a value such as 3g.)
	browserWithin(t, ctx, 5*time.Second, "choosing 3g", browserWaitTrue(`(() => {
		const e = document.querySelector('[data-testid="link-preset"]');
		e.value = "3g";
		e.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`))
	browserWithin(t, ctx, 20*time.Second, "3g in force", browserWaitTrue(
		`(document.querySelector('[data-testid="link-state"]').textContent.match(/queue 64\.0 KiB/g) || []).length === 2`))
	browserWithin(t, ctx, 5*time.Second, "opening the advanced settings", chromedp.Click(chromedp.CSS(`[data-testid="link-advanced"] summary`)))
	browserChange(t, ctx, "link-up-delay", 40)
	browserWithin(t, ctx, 20*time.Second, "3g with 40 ms up, its queue kept", browserWaitTrue(`(() => {
		const s = document.querySelector('[data-testid="link-state"]').textContent;
		return s.includes("40 ms") && s.includes("150 ms") && (s.match(/queue 64\.0 KiB/g) || []).length === 2 && s.includes("(edited)");
	})()`))

	browserWithin(t, ctx, 5*time.Second, "opening the Lessons tab", chromedp.Click(chromedp.CSS(`[data-testid="tab-lessons"]`)))
	browserWithin(t, ctx, 5*time.Second, "choosing the handshake lesson", chromedp.Click(chromedp.CSS(`[data-testid="lesson-handshake"]`)))
	browserWithin(t, ctx, 5*time.Second, "typed controls", browserWaitTrue(`(() => {
		const n = document.querySelector('[data-testid="lesson-param-requests"]');
		const b = document.querySelector('[data-testid="lesson-param-zero_rtt"]');
		return n && b && n.dataset.kind === "int" && n.closest("label").title.includes("1 to 100") &&
			b.type === "checkbox" && b.dataset.kind === "bool";
	})()`))
	browserScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), "params-handshake.png"))
	browserWithin(t, ctx, 5*time.Second, "choosing the throughput lesson", chromedp.Click(chromedp.CSS(`[data-testid="lesson-throughput"]`)))
	browserWithin(t, ctx, 5*time.Second, "list controls", browserWaitTrue(
		`document.querySelector('[data-testid="lesson-param-losses"]')?.closest("label").classList.contains("long")`))
	browserScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), "params-throughput.png"))
	browserWithin(t, ctx, 5*time.Second, "back to the handshake lesson", chromedp.Click(chromedp.CSS(`[data-testid="lesson-handshake"]`)))
	browserChange(t, ctx, "lesson-param-requests", "abc")
	browserWithin(t, ctx, 10*time.Second, "Run to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="lesson-run"]`)))
	browserWithin(t, ctx, 5*time.Second, "running with requests=abc", chromedp.Click(chromedp.CSS(`[data-testid="lesson-run"]`)))
	browserWithin(t, ctx, 30*time.Second, "the refusal naming the parameter", browserWaitTrue(
		`document.querySelector('[data-testid="lesson-result"]').dataset.state === "error" &&
		document.querySelector('[data-testid="lesson-status"]').textContent.toLowerCase().includes('requests "abc" is not an integer')`))
}
