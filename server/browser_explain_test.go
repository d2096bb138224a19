package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// TestBrowserExplainFigures: every tile and stack metric of the Messages view says what it
// measures and in which unit; a datagram read counts the 8-byte sequence number (the message's
// length plus 8, known independently); TCP's cwnd shows in bytes, snd_cwnd × MSS; on the
// emulated link "drop packet #1" says it fired exactly when the link's capture has the one packet
// dropped by that rule, and the sequence diagram's times carry their unit.
func TestBrowserExplainFigures(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+"/")

	const msg = "twelve bytes" // 12 bytes
	browserWithin(t, ctx, 10*time.Second, "sending", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), msg+"\r"))
	browserWaitEchoes(t, ctx, msg)

	// The tiles' tooltips: what, where measured, and the unit.
	tips, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(() => {
		const tip = (col, role) => document.querySelector('[data-testid="' + col + '"] [data-role="' + role + '"]').parentElement.title;
		return {
			rtt: tip("col-tcp", "rtt"), p50: tip("col-tcp", "p50"), hs: tip("col-tcp", "hs"),
			udpRTT: tip("col-udp", "rtt"),
			udpReads: document.querySelector('[data-testid="col-udp"] [data-role="reads"]').title,
			meter: document.querySelector('[data-testid="relay-rtt"]').parentElement.title,
		};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string][]string{
		"rtt":      {"in ms", "relay client", "browser↔server leg over /relay is not in it"},
		"p50":      {"median", "in ms"},
		"hs":       {"in ms"},
		"udpRTT":   {"in ms", "--loss-timeout"},
		"udpReads": {"8-byte sequence number"},
		"meter":    {"browser ↔ server", "in ms", "/relay"},
	} {
		for _, w := range want {
			if !strings.Contains(tips[k], w) {
				t.Errorf("%s tooltip %q lacks %q", k, tips[k], w)
			}
		}
	}
	// The UDP read of the 12-byte message returned 20 bytes: the sequence number and the message.
	read, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="col-udp"] .reads .rb').textContent`))
	if err != nil || read != "20 B" {
		t.Errorf("UDP read shows %q (%v), want 20 B (12-byte message + 8-byte sequence number)", read, err)
	}

	// Every stack metric has a tooltip and a unit.
	browserWithin(t, ctx, 10*time.Second, "every column's stack metrics", browserWaitTrue(
		`Array.from(document.querySelectorAll('[data-role="metrics"]')).every(m => m.children.length > 0 && !m.textContent.includes("—"))`))
	metrics, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll('[data-role="metrics"] > div')).map(d => [d.closest("[data-transport]").dataset.transport, d.querySelector("dt").textContent, d.querySelector("dd").textContent, d.title])`))
	if err != nil || len(metrics) < 20 {
		t.Fatalf("stack metrics: %d (%v), want those of five columns", len(metrics), err)
	}
	unit := regexp.MustCompile(`\d( ms| s| B| KiB| MiB| GiB| seg| segs| pkts| dgrams| msgs)$`)
	for _, m := range metrics {
		if m[3] == "" || !unit.MatchString(m[2]) {
			t.Errorf("%s %s = %q (tooltip %q): want a unit and a tooltip", m[0], m[1], m[2], m[3])
		}
	}
	checkCwndBytes(t, metrics)

	// The emulated link, and drop packet #1 up: armed, then fired, as the link's capture says.
	browserChange(t, ctx, "link-mode", "link")
	browserWithin(t, ctx, 20*time.Second, "the emulated link", browserWaitTrue(`document.querySelector('#linkbar').dataset.mode === "link"`))
	browserWithin(t, ctx, 5*time.Second, "opening the advanced settings", chromedp.Click(chromedp.CSS(`[data-testid="link-advanced"] summary`)))
	browserChange(t, ctx, "link-up-drop", 1)
	browserWithin(t, ctx, 20*time.Second, "drop packet #1 armed", browserWaitTrue(
		`document.querySelector('[data-testid="link-drop-up"]')?.dataset.state === "armed" && document.querySelector('[data-testid="link-drop-up"]').textContent.includes("not yet")`))
	browserWithin(t, ctx, 10*time.Second, "sending on the link", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), "over the link\r"))
	browserWithin(t, ctx, 30*time.Second, "drop packet #1 fired", browserWaitTrue(
		`document.querySelector('[data-testid="link-drop-up"]')?.dataset.state === "fired"`))
	fired, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(e => [e.textContent, e.title])(document.querySelector('[data-testid="link-drop-up"]'))`))
	if err != nil || !regexp.MustCompile(`^drop packet #1 ↑: fired at \d`).MatchString(fired[0]) || !strings.Contains(fired[1], "client → server") {
		t.Errorf("drop state %q (%v)", fired, err)
	}
	// The capture, fetched as the page does: its link's URL, the session in the header.
	dl, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(a => [a.getAttribute("href"), a.download])(document.querySelector('[data-testid="download-pcapng"]'))`))
	if err != nil || len(dl) != 2 {
		t.Fatal(dl, err)
	}
	session := strings.TrimSuffix(strings.TrimPrefix(dl[1], "wireplay-"), ".pcapng")
	pcap := httpGet(t, "http://"+srv.Addrs().HTTP+dl[0], protocol.SessionHeader, session)
	if n := bytes.Count(pcap, []byte("dropped by dropnth")); n != 1 {
		t.Errorf("the capture has %d packets dropped by dropnth, the page says fired: want 1", n)
	}

	// The sequence diagrams' time labels carry their unit.
	browserWithin(t, ctx, 10*time.Second, "time labels in the diagrams", browserWaitTrue(`document.querySelectorAll('[data-testid^="seq-"] text.t').length > 0`))
	labels, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('[data-testid^="seq-"] text.t')).map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range labels {
		if !regexp.MustCompile(`^\+[\d.]+ (ms|s)$`).MatchString(l) {
			t.Errorf("diagram time label %q, want +N ms or +N s", l)
		}
	}
	browserScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), "explain.png"))
}

// checkCwndBytes: TCP's cwnd shows in bytes, and its number is snd_cwnd × MSS as the tooltip
// gives them; QUIC's is in bytes too.
func checkCwndBytes(t *testing.T, metrics [][]string) {
	t.Helper()
	calc := regexp.MustCompile(`snd_cwnd (\d+) segments × MSS (\d+) B = (\d+) B`)
	for _, m := range metrics {
		if m[1] != "cwnd" {
			continue
		}
		switch m[0] {
		case "tcp":
			c := calc.FindStringSubmatch(m[3])
			if c == nil {
				t.Errorf("tcp cwnd %q: tooltip %q does not give snd_cwnd × MSS", m[2], m[3])
				continue
			}
			seg, _ := strconv.Atoi(c[1])
			mss, _ := strconv.Atoi(c[2])
			b, _ := strconv.Atoi(c[3])
			if seg*mss != b || seg == 0 || !strings.HasSuffix(m[2], "B") {
				t.Errorf("tcp cwnd %q: %d × %d ≠ %d", m[2], seg, mss, b)
			}
		case "quic-stream", "quic-dgram":
			if !strings.Contains(m[3], "in bytes") || !strings.HasSuffix(m[2], "B") {
				t.Errorf("%s cwnd %q (%q): want bytes", m[0], m[2], m[3])
			}
		}
	}
}

// httpGet GETs url with the headers given as name, value pairs and returns the body of a 200.
func httpGet(t *testing.T, url string, header ...string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return b
}

// TestBrowserRefusedAndHeld: with one page allowed per address, a second page says why it is
// refused in words (the server's reason, read from /relay/limits); then, with the server gone, a
// message sent in the first page waits and goes out when the page reconnects, its cards saying
// how long it was held.
func TestBrowserRefusedAndHeld(t *testing.T) {
	chrome := browserChromium(t)
	assets := browserAssets(t)
	one := func(c *server.Config) { c.MaxRelayPerIP = 1 }
	srv := browserServer(t, assets, "127.0.0.1:0", one)
	addr := srv.Addrs().HTTP
	ctx := browserOpen(t, chrome)
	browserLoad(t, ctx, "http://"+addr+"/")

	second, closeSecond := chromedp.NewContext(ctx)
	defer closeSecond()
	// The first action opens the tab; it must not have a deadline, which would close the tab.
	if err := chromedp.Do(second, chromedp.EmulateViewport(1280, 720)); err != nil {
		t.Fatalf("open a second tab: %v", err)
	}
	browserWithin(t, second, 20*time.Second, "the second page", chromedp.Steps(
		chromedp.Navigate("http://"+addr+"/"),
		chromedp.WaitReady(chromedp.CSS(`[data-testid="status"]`)),
	))
	want := "this address already has 1 page open; the server allows 1 per address (--max-relay-per-ip)"
	browserWithin(t, second, 20*time.Second, "the refusal in words", browserWaitTrue(fmt.Sprintf(
		`document.querySelector('[data-testid="status"]').dataset.state === "down" && document.getElementById("status-text").textContent.includes(%q)`, want)))
	closeSecond()

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	browserWithin(t, ctx, 20*time.Second, "status down", browserWaitTrue(`document.querySelector('[data-testid="status"]').dataset.state === "down"`))
	const msg = "sent while away"
	browserWithin(t, ctx, 10*time.Second, "sending while offline", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), msg+"\r"))
	browserWithin(t, ctx, 5*time.Second, "the message held", browserWaitTrue(`document.querySelector('[data-testid="message"]').value === "" && document.querySelector('[data-testid="notice"]').textContent.includes("when the page reconnects")`))
	browserServer(t, assets, addr, one)
	browserWaitEchoes(t, ctx, msg)
	for _, col := range browserColumns {
		held, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
			const e = Array.from(document.querySelectorAll('[data-testid=%q] [data-testid="echo"]')).find(e => e.textContent.includes(%q));
			const h = e && e.closest("li").querySelector('[data-testid="held"]');
			return h ? h.textContent : "";
		})()`, col, msg)))
		if err != nil || !regexp.MustCompile(`^held \d+\.\d s while reconnecting$`).MatchString(held) {
			t.Errorf("%s: the held message's card says %q (%v), want how long it was held", col, held, err)
		}
	}
}

// TestBrowserLessonSurvivesReload: a lesson's result comes back after a reload (the address holds
// the settings, the browser keeps the result), marked as from the last run; the parameters are
// named in words.
func TestBrowserLessonSurvivesReload(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	base := "http://" + srv.Addrs().HTTP + "/"
	browserLoad(t, ctx, base+"?view=lessons&lesson=hol")
	browserWithin(t, ctx, 10*time.Second, "the hol lesson", browserWaitTrue(`document.querySelector('[data-testid="lesson-param-drop_nth"]') !== null`))
	label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="lesson-param-drop_nth"]').closest("label").querySelector(".lp-name").textContent`))
	if err != nil || label != "drop packet #" {
		t.Errorf("drop_nth is labelled %q (%v), want drop packet #", label, err)
	}

	browserLesson(t, ctx, "boundaries", map[string]string{"lesson-seed": "4"})
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="lesson-conclusion"]').textContent + "|" + document.querySelector('[data-testid="lesson-stats"] tbody').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('[data-testid="lesson-stats"] td.m-name')).map(e => e.textContent)`))
	if err != nil || len(names) == 0 {
		t.Fatalf("metric names %v (%v)", names, err)
	}
	for _, n := range names {
		if strings.Contains(n, "_") {
			t.Errorf("metric %q shown with its machine name", n)
		}
	}

	q, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
	if err != nil || !strings.Contains(q, "seed=4") {
		t.Fatalf("address %q (%v)", q, err)
	}
	browserLoad(t, ctx, base+q)
	browserWithin(t, ctx, 10*time.Second, "the result back after the reload", browserWaitTrue(
		`document.querySelector('[data-testid="lesson-result"]').dataset.state === "done" && document.querySelector('[data-testid="lesson-from-last"]') !== null`))
	after, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="lesson-conclusion"]').textContent + "|" + document.querySelector('[data-testid="lesson-stats"] tbody').textContent`))
	if err != nil || after != before {
		t.Errorf("after the reload the result reads\n%q\nwant\n%q (%v)", after, before, err)
	}
	from, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid="lesson-from-last"]`)))
	if !regexp.MustCompile(`from your last run at \d\d:\d\d`).MatchString(from) {
		t.Errorf("the restored result is marked %q", from)
	}
	// Other settings have no stored result.
	browserLoad(t, ctx, base+strings.Replace(q, "seed=4", "seed=5", 1))
	browserWithin(t, ctx, 10*time.Second, "the lesson shown", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="lesson-run"]`)))
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="lesson-result"]').dataset.state`)); st != "empty" {
		t.Errorf("with seed 5 the result is %q, want empty (no run with these settings)", st)
	}
}
