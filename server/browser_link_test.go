package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wireplay/wireplay/protocol"
)

// browserChange sets a control's value (a select's, an input's or a checkbox's) as a user would
// and fires its change event. The id and the value go into the script as JSON strings, so any
// text is safe ("lab-25ms" once went in bare and was a syntax error); a checkbox is checked by
// true or "true". A select is changed only once it offers value (its options may come from the
// server a moment after the page loads): until then the wait goes on, and fails naming the value.
func browserChange(t *testing.T, ctx context.Context, testid string, value any) {
	t.Helper()
	id, err := json.Marshal(`[data-testid="` + testid + `"]`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := json.Marshal(fmt.Sprint(value))
	if err != nil {
		t.Fatal(err)
	}
	js := fmt.Sprintf(`((sel, v) => {
		const e = document.querySelector(sel);
		if (!e) return false;
		if (e.tagName === "SELECT" && !Array.from(e.options).some(o => o.value === v)) return false;
		if (e.type === "checkbox") e.checked = v === "true"; else e.value = v;
		e.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})(%s, %s)`, id, v)
	browserWithin(t, ctx, 5*time.Second, fmt.Sprintf("changing %s to %s (the control, or that option, is missing)", testid, v), browserWaitTrue(js))
}

// TestBrowserLink switches the page to the emulated link with 20% loss each way and a fixed seed,
// sends a burst and expects the sequence diagrams to show UDP packets dropped and TCP segments
// retransmitted, and the congestion window chart to draw a line.
func TestBrowserLink(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	var tcp tcpFrames
	if err := chromedp.Listen(ctx, tcp.listen); err != nil {
		t.Fatal(err)
	}
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+"/")

	// Presets come with the welcome.
	browserWithin(t, ctx, 10*time.Second, "the presets", browserWaitTrue(`document.querySelectorAll('[data-testid="link-preset"] option[value="wifi"]').length === 1`))

	// A message on the kernel's loopback fills the tiles; on the new network they start afresh.
	browserWithin(t, ctx, 10*time.Second, "sending on the kernel", chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), "on the kernel"),
		chromedp.Click(chromedp.CSS(`[data-testid="send"]`)),
	))
	browserWaitEchoes(t, ctx, "on the kernel")
	browserChange(t, ctx, "link-mode", "link")
	browserWithin(t, ctx, 20*time.Second, "the emulated link", browserWaitTrue(`document.querySelector('#linkbar').dataset.mode === "link"`))
	for _, col := range browserColumns {
		rtt, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(fmt.Sprintf(`[data-testid=%q] [data-testid="rtt"]`, col))))
		if err != nil || rtt != "—" {
			t.Errorf("%s rtt after switching to the link: %q (%v), want — (the kernel's figure is gone)", col, rtt, err)
		}
	}
	browserWithin(t, ctx, 5*time.Second, "the mode in the address", browserWaitTrue(`new URLSearchParams(location.search).get("mode") === "link"`))
	// The downloads name this session, but not in the URL: the page sends it in a header.
	dl, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => { const a = document.querySelector('[data-testid="download-pcapng"]'); return [a.getAttribute("href"), a.download]; })()`))
	if err != nil || len(dl) != 2 || dl[0] != "/relay/pcapng" || !regexpMatch(`^wireplay-[0-9a-f]+\.pcapng$`, dl[1]) {
		t.Errorf("pcapng download href, name = %q (%v), want /relay/pcapng and the session's name", dl, err)
	}

	browserWithin(t, ctx, 5*time.Second, "opening the advanced settings", chromedp.Click(chromedp.CSS(`[data-testid="link-advanced"] summary`)))
	browserChange(t, ctx, "link-seed", 7)
	for _, f := range []string{"link-up-delay", "link-down-delay"} {
		browserChange(t, ctx, f, 5)
	}
	for _, f := range []string{"link-up-loss", "link-down-loss"} {
		browserChange(t, ctx, f, 20)
	}
	browserWithin(t, ctx, 20*time.Second, "20% loss both ways in force",
		browserWaitTrue(`(document.querySelector('[data-testid="link-state"]').textContent.match(/20% loss/g) || []).length === 2`))
	browserWithin(t, ctx, 5*time.Second, "the seed in the address", browserWaitTrue(`new URLSearchParams(location.search).get("seed") === "7"`))
	browserScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), "advanced.png"))
	browserWithin(t, ctx, 5*time.Second, "closing the advanced settings", chromedp.Click(chromedp.CSS(`[data-testid="link-advanced"] summary`)))

	browserWithin(t, ctx, 10*time.Second, "starting a burst", chromedp.Steps(
		chromedp.SetValue(chromedp.CSS(`[data-testid="burst-count"]`), "40"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="burst-size"]`), "200"),
		chromedp.Click(chromedp.CSS(`[data-testid="burst"]`)),
	))
	browserWithin(t, ctx, 30*time.Second, "a dropped packet in the UDP diagram",
		browserWaitTrue(`document.querySelectorAll('[data-testid="seq-udp"] [data-fate="dropped"]').length > 0`))
	browserCheckRetransmissions(t, ctx, &tcp)
	browserWithin(t, ctx, 30*time.Second, "a line in the cwnd chart",
		browserWaitTrue(`Array.from(document.querySelectorAll('[data-testid="cwnd-chart"] polyline')).some(p => p.points.length > 1)`))

	// A click on pcapng fetches the capture with the session header and offers it as a file: the
	// blob handed to URL.createObjectURL is a pcapng (its section header block first).
	browserWithin(t, ctx, 20*time.Second, "downloading the pcapng", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`window.__dl = []; const made = URL.createObjectURL; URL.createObjectURL = b => { b.arrayBuffer().then(a => window.__dl.push([b.size, new DataView(a).getUint32(0, true)])); return made(b); }`),
		chromedp.Click(chromedp.CSS(`[data-testid="download-pcapng"]`)),
		browserWaitTrue(`window.__dl.length === 1 && window.__dl[0][0] > 1000 && window.__dl[0][1] === 0x0A0D0D0A`),
	))
	browserWithin(t, ctx, 10*time.Second, "both sides' TCP retransmissions",
		browserWaitTrue(`(t => t.includes("retrans client") && t.includes("retrans server"))(document.querySelector('[data-testid="col-tcp"] [data-role="metrics"]').textContent)`))
	browserWithin(t, ctx, 5*time.Second, "dropped packets counted",
		browserWaitTrue(`/[1-9]\d* dropped/.test(document.querySelector('[data-testid="link-counts"]').textContent)`))
	// Bounded: no diagram holds more than its last 60 packets.
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Math.max(...Array.from(document.querySelectorAll('[data-testid^="seq-"]')).map(s => s.querySelectorAll('.pk').length))`))
	if err != nil || n > 60 || n == 0 {
		t.Errorf("largest diagram has %d packets (%v), want 1..60", n, err)
	}
	// Let the burst settle a little for the picture.
	time.Sleep(1500 * time.Millisecond)

	shot := filepath.Join(t.ArtifactDir(), "link.png")
	if os.Getenv("WIREPLAY_SCREENSHOT") == "1" {
		shot = filepath.Join("..", "docs", "screenshot.png")
	}
	browserScreenshot(t, ctx, shot)
}

// tcpFrames collects the Messages view's TCP packets the relay sends the page, in order, read
// off its WebSocket.
type tcpFrames struct {
	mu   sync.Mutex
	retx []bool // each TCP packet's retransmission mark
}

func (f *tcpFrames) listen(ev any) {
	e, ok := ev.(*network.EventWebSocketFrameReceived)
	if !ok || e.Response == nil || !bytes.Contains(e.Response.PayloadData, []byte(`"packets"`)) {
		return
	}
	evs, _ := protocol.DecodeEvents(e.Response.PayloadData)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range evs {
		if ev.Type != protocol.EventPackets || ev.Req != 0 {
			continue
		}
		for _, p := range ev.Packets {
			if p.Transport == protocol.TCP {
				f.retx = append(f.retx, p.Retransmit)
			}
		}
	}
}

// snapshot is how many TCP packets arrived, how many were marked retransmissions, and how many
// of the last n.
func (f *tcpFrames) snapshot(n int) (total, marked, lastMarked int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.retx {
		if r {
			marked++
			if i >= len(f.retx)-n {
				lastMarked++
			}
		}
	}
	return len(f.retx), marked, lastMarked
}

// browserCheckRetransmissions: with 20% loss TCP retransmits, the relay marks those segments,
// and once the traffic settles the TCP diagram, which holds the last packets it got, marks
// exactly those of them the relay marked (retransmissions early in the burst may have scrolled
// out of it).
func browserCheckRetransmissions(t *testing.T, ctx context.Context, f *tcpFrames) {
	t.Helper()
	const js = `(() => { const s = document.querySelector('[data-testid="seq-tcp"]');
		return [s.querySelectorAll('.pk').length, s.querySelectorAll('[data-retx="true"]').length]; })()`
	var last [3]int
	for range 300 { // bounded: 60 s
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](js))
		if err != nil || len(got) != 2 {
			t.Fatalf("reading the TCP diagram: %v %v", got, err)
		}
		total, marked, lastMarked := f.snapshot(got[0])
		cur := [3]int{total, got[0], got[1]}
		if marked > 0 && cur == last && got[0] == min(total, 60) {
			if got[1] != lastMarked {
				t.Errorf("the TCP diagram marks %d retransmissions among its %d packets; the relay marked %d of them (%d of all %d)", got[1], got[0], lastMarked, marked, total)
			}
			t.Logf("TCP: %d packets, %d marked retransmissions; the diagram holds %d with %d marked", total, marked, got[0], got[1])
			return
		}
		last = cur
		time.Sleep(200 * time.Millisecond)
	}
	total, marked, _ := f.snapshot(0)
	t.Fatalf("TCP packets never settled with a retransmission among them: %d packets, %d marked retransmissions", total, marked)
}

// holFrames collects the scenario reports the relay sends the page, read off its WebSocket.
type holFrames struct {
	mu      sync.Mutex
	reports []*protocol.ScenarioReport
	bad     []string
}

func (f *holFrames) listen(ev any) {
	e, ok := ev.(*network.EventWebSocketFrameReceived)
	if !ok || e.Response == nil || !bytes.Contains(e.Response.PayloadData, []byte(`"scenario"`)) {
		return
	}
	evs, err := protocol.DecodeEvents(e.Response.PayloadData)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.bad = append(f.bad, err.Error())
	}
	for _, ev := range evs {
		if ev.Type == protocol.EventScenario && ev.Report != nil {
			f.reports = append(f.reports, ev.Report)
		}
	}
}

// TestBrowserHOL runs the Head-of-line tab on the session's emulated link: the page sends the
// hol lesson with the session's settings (wifi, seed 3, no round trip added) and draws the report
// the relay sent: per transport, a dot for every message the lesson's chart has, and the stall
// figures of the lesson's metrics.
func TestBrowserHOL(t *testing.T) {
	// The address restores the network and the view.
	ctx, frames := holOpen(t, "/?mode=link&preset=wifi&seed=3&view=hol")
	browserWithin(t, ctx, 5*time.Second, "the head-of-line view", chromedp.WaitVisible(chromedp.CSS(`[data-testid="hol-run"]`)))
	browserWithin(t, ctx, 20*time.Second, "the wifi preset on the emulated link, seed 3", browserWaitTrue(`document.querySelector('#linkbar').dataset.mode === "link" &&
		document.querySelector('[data-testid="link-preset"]').value === "wifi" && document.querySelector('[data-testid="link-seed"]').value === "3" &&
		document.querySelector('[data-testid="link-state"]').textContent.includes("2% loss")`))
	holRun(t, ctx, chromedp.SetValue(chromedp.CSS(`[data-testid="hol-messages"]`), "20"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="hol-size"]`), "800"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="hol-drop"]`), "6"))
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="hol-result"]').dataset.state + ": " + document.querySelector('[data-testid="hol-status"]').textContent`)); !strings.HasPrefix(st, "done") {
		browserScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), "hol-failed.png"))
		t.Fatalf("the experiment did not finish: %s", st)
	}
	rep := holReport(t, frames)
	for _, tr := range []string{"tcp", "quic-stream", "udp", "ws"} {
		holCheckCard(t, ctx, rep, tr)
	}
	shot := filepath.Join(t.ArtifactDir(), "hol.png")
	if os.Getenv("WIREPLAY_SCREENSHOT") == "1" {
		shot = filepath.Join("..", "docs", "screenshot-hol.png")
	}
	browserScreenshot(t, ctx, shot)
}

// TestBrowserHOLKernel runs the Head-of-line tab in kernel mode: the session stays on the kernel's
// loopback and the lesson runs on its own emulated link (clean, its own added round trip), which
// the tab says.
func TestBrowserHOLKernel(t *testing.T) {
	ctx, frames := holOpen(t, "/?view=hol")
	holRun(t, ctx, chromedp.SetValue(chromedp.CSS(`[data-testid="hol-messages"]`), "8"))
	st, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="hol-result"]').dataset.state + " " + document.querySelector('#linkbar').dataset.mode + ": " + document.querySelector('[data-testid="hol-meta"]').textContent`))
	if err != nil || !strings.HasPrefix(st, "done kernel: ran on clean") || !strings.Contains(st, "added round trip 60ms") {
		t.Fatalf("state, mode and meta %q (%v), want done, still kernel, the lesson's clean link with its 60 ms", st, err)
	}
	frames.mu.Lock()
	n := len(frames.reports)
	frames.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d reports on the page's WebSocket, want 1", n)
	}
	holCheckCard(t, ctx, frames.reports[0], "tcp")
}

// TestBrowserHOLNoDelay runs the Head-of-line tab on a session link that adds no delay (the clean
// preset): there a loss is repaired before anything can wait behind it, so the tab leaves the
// lesson its own round trip and says so, and the lesson's figures then show what it teaches —
// TCP's streams 2 and 3 first delivered later than QUIC's by over a third of that round trip.
func TestBrowserHOLNoDelay(t *testing.T) {
	ctx, frames := holOpen(t, "/?mode=link&preset=clean&seed=2&view=hol")
	browserWithin(t, ctx, 20*time.Second, "the clean preset on the emulated link", browserWaitTrue(`document.querySelector('#linkbar').dataset.mode === "link" &&
		document.querySelector('[data-testid="link-preset"]').value === "clean"`))
	holRun(t, ctx)
	st, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="hol-result"]').dataset.state + ": " + document.querySelector('[data-testid="hol-status"]').textContent + " | " + document.querySelector('[data-testid="hol-meta"]').textContent`))
	if err != nil || !strings.HasPrefix(st, "done") || !strings.Contains(st, "adds no delay") || !strings.Contains(st, "added round trip 60ms") {
		t.Fatalf("state, status and meta %q (%v), want done, saying the lesson added its own 60 ms round trip", st, err)
	}
	frames.mu.Lock()
	if len(frames.reports) != 1 {
		frames.mu.Unlock()
		t.Fatalf("%d reports on the page's WebSocket, want 1", len(frames.reports))
	}
	rep := frames.reports[0]
	frames.mu.Unlock()
	if rep.Preset != "clean" || rep.Params["rtt"] != "60ms" {
		t.Errorf("report on %q with rtt %q, want clean with the lesson's 60ms", rep.Preset, rep.Params["rtt"])
	}
	metric := func(tr, name string) float64 {
		for _, m := range rep.Runs[0].Metrics {
			if m.Transport == tr && m.Name == name {
				return m.Value
			}
		}
		t.Fatalf("no metric %s %s", tr, name)
		return 0
	}
	rtt := metric("", "rtt_ms")
	for _, s := range []string{"stream2_held_ms", "stream3_held_ms"} {
		if tcp, quic := metric("tcp", s), metric("quic-stream", s); !(tcp > quic+rtt/3) {
			t.Errorf("%s: %.1f ms on TCP, %.1f ms on QUIC: want TCP later by over %.0f ms", s, tcp, quic, rtt/3)
		}
	}
	shown, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid="hol-conclusion"]`)))
	if err != nil || !strings.Contains(shown, "That is head-of-line blocking") {
		t.Errorf("the tab's conclusion %q (%v) does not say it is head-of-line blocking", shown, err)
	}
	holCheckCard(t, ctx, rep, "tcp")
}

// holOpen opens the page at path on a fresh server, with the scenario reports the page receives
// collected, and waits until the Head-of-line tab can run.
func holOpen(t *testing.T, path string) (context.Context, *holFrames) {
	t.Helper()
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	frames := &holFrames{}
	if err := chromedp.Listen(ctx, frames.listen); err != nil {
		t.Fatal(err)
	}
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+path)
	browserWithin(t, ctx, 10*time.Second, "Run to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="hol-run"]`)))
	return ctx, frames
}

// holRun fills the tab's form with set, runs it and waits for its result.
func holRun(t *testing.T, ctx context.Context, set ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	browserWithin(t, ctx, 5*time.Second, "running the experiment", chromedp.Steps(append(set, chromedp.Click(chromedp.CSS(`[data-testid="hol-run"]`)))...))
	browserWithin(t, ctx, 45*time.Second, "the experiment's result",
		browserWaitTrue(`["done", "error"].includes(document.querySelector('[data-testid="hol-result"]').dataset.state)`))
}

// holReport is the one report the page received, which must be the hol lesson's on the session's
// link: wifi, seed 3, the form's parameters and no round trip added.
func holReport(t *testing.T, f *holFrames) *protocol.ScenarioReport {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) > 0 || len(f.reports) != 1 {
		t.Fatalf("%d scenario reports on the page's WebSocket (undecodable: %v), want 1", len(f.reports), f.bad)
	}
	rep := f.reports[0]
	want := map[string]string{"messages": "20", "size": "800", "drop_nth": "6", "rtt": "0"}
	for k, v := range want {
		if rep.Params[k] != v {
			t.Errorf("report param %s = %q, want %q", k, rep.Params[k], v)
		}
	}
	if rep.Scenario != "hol" || rep.Preset != "wifi" || rep.Seed != 3 || len(rep.Runs) != 1 {
		t.Fatalf("report of %q on %q seed %d with %d runs, want the hol lesson on the session's wifi, seed 3", rep.Scenario, rep.Preset, rep.Seed, len(rep.Runs))
	}
	return rep
}

// holCheckCard checks transport tr's card shows rep's figures: one dot per point of its
// delivery-time chart, and for tcp each stream's stall as the lesson's metric says it.
func holCheckCard(t *testing.T, ctx context.Context, rep *protocol.ScenarioReport, tr string) {
	t.Helper()
	points := 0
	for _, sr := range rep.Runs[0].Series {
		if sr.Chart == "Delivery time — "+tr {
			points += len(sr.Points)
		}
	}
	dots, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('[data-testid="hol-%s"] circle, [data-testid="hol-%s"] .never').length`, tr, tr)))
	if err != nil || dots == 0 || dots != points {
		t.Errorf("hol-%s: %d messages drawn (%v), want the %d points of the lesson's chart", tr, dots, err, points)
	}
	if tr != "tcp" {
		return
	}
	stalls, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid="hol-tcp"] [data-role="hol-stalls"]`)))
	if err != nil || !regexpMatch(`\d`, stalls) {
		t.Errorf("TCP stall numbers = %q (%v)", stalls, err)
	}
	for _, m := range rep.Runs[0].Metrics {
		if m.Transport != "tcp" || !strings.HasSuffix(m.Name, "_stall_ms") {
			continue
		}
		shown, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(fmt.Sprintf(`[data-testid="hol-tcp"] [data-role="hol-stalls"] [data-metric=%q]`, m.Name))))
		v, perr := strconv.ParseFloat(strings.TrimSuffix(shown, " ms"), 64)
		if err != nil || perr != nil || !strings.HasSuffix(shown, " ms") || math.Abs(v-m.Value) > 0.005*math.Max(1, math.Abs(m.Value)) {
			t.Errorf("tcp %s shown as %q (%v), the lesson measured %g ms", m.Name, shown, err, m.Value)
		}
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
