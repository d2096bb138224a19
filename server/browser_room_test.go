package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wireplay/wireplay/server"
)

// TestBrowserRoom drives a workshop room (issue 10) in headless Chromium: the instructor creates
// a room on /instructor with the server's token and opens its instructor link; two participants,
// each in a browser context of their own (so their own localStorage and member id), join it with
// a name. Everyone sees the three members; the two participants chat both ways; the instructor
// runs the first lesson and both participants see that one run live in their room-live area, to
// the same conclusion; a participant's page has no run control, a "run" and a "stop" forged over a
// room socket of the participant's page are refused (forbidden), and so is (401) a room it tries to
// create without the token.
func TestBrowserRoom(t *testing.T) {
	chrome := browserChromium(t)
	const token = "tok-browser-room-3f9c"
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0", func(c *server.Config) { c.InstructorToken = token })
	base := "http://" + srv.Addrs().HTTP
	ictx := browserOpen(t, chrome)

	// The instructor page: the token from ?token= fills the input (and leaves the address).
	browserWithin(t, ictx, 20*time.Second, "the instructor page", chromedp.Steps(
		chromedp.Navigate(base+"/instructor?token="+token),
		chromedp.WaitReady(chromedp.CSS(`[data-testid="room-create"]`)),
	))
	browserWithin(t, ictx, 10*time.Second, "the token filled in from ?token=", browserWaitTrue(
		fmt.Sprintf(`document.querySelector('[data-testid="instructor-token"]').value === %q && !location.search.includes("token")`, token)))
	browserWithin(t, ictx, 10*time.Second, "creating a room", chromedp.Click(chromedp.CSS(`[data-testid="room-create"]`)))
	browserWithin(t, ictx, 20*time.Second, "the room's code", browserWaitTrue(`/^[2-9A-Z]{6}$/.test(document.querySelector('[data-testid="room-code"]').textContent)`))
	links, err := chromedp.Run(ictx, chromedp.Evaluate[[]string](`[document.querySelector('[data-testid="room-code"]').textContent,
		document.querySelector('[data-testid="room-url"]').href, document.querySelector('[data-testid="room-instructor-url"]').href]`))
	if err != nil || len(links) != 3 {
		t.Fatalf("read the room's links: %v %v", links, err)
	}
	code, roomURL, instURL := links[0], links[1], links[2]
	if roomURL != base+"/r/"+code || !strings.HasPrefix(instURL, roomURL+"#instructor=") {
		t.Fatalf("room %s: participants' link %q, instructor's %q", code, roomURL, instURL)
	}

	// The instructor joins by the instructor link, the participants by the room's.
	browserRoomJoin(t, ictx, instURL, "Ines")
	p1 := browserRoomTab(t, ictx)
	browserRoomJoin(t, p1, roomURL, "Ada")
	p2 := browserRoomTab(t, ictx)
	// Bo types the code as it was read out (lower case, a dash) into the page's form.
	browserWithin(t, p2, 20*time.Second, "the page's room code form", chromedp.Steps(
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady(chromedp.CSS(`[data-testid="room-code-input"]`)),
	))
	browserWithin(t, p2, 20*time.Second, "Bo typing the room's code", chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="room-code-input"]`), strings.ToLower(code[:3])+"-"+strings.ToLower(code[3:])),
		chromedp.Click(chromedp.CSS(`[data-testid="room-code-go"]`)),
	))
	browserWithin(t, p2, 20*time.Second, "the room's page after the typed code", browserWaitTrue(
		fmt.Sprintf(`location.pathname === %q && document.querySelector('[data-testid="room-name"]') !== null`, "/r/"+code)))
	browserRoomJoin(t, p2, roomURL, "Bo")
	pages := map[string]context.Context{"Ines": ictx, "Ada": p1, "Bo": p2}
	for who, ctx := range pages {
		browserWithin(t, ctx, 20*time.Second, who+"'s page listing the three members", browserWaitTrue(
			`(() => { const ms = Array.from(document.querySelectorAll('[data-testid="room-members"] [data-testid="room-member"]')).map(e => e.firstChild.textContent);
			return ms.length === 3 && ["Ines", "Ada", "Bo"].every(n => ms.includes(n)); })()`))
		browserWithin(t, ctx, 5*time.Second, who+"'s room code", browserWaitTrue(fmt.Sprintf(`document.querySelector('[data-testid="room-code"]').textContent === %q`, code)))
	}

	// Chat both ways: each participant sees the other's message.
	say := func(ctx context.Context, who, text string) {
		t.Helper()
		browserWithin(t, ctx, 20*time.Second, who+" chatting", chromedp.Steps(
			chromedp.WaitEnabled(chromedp.CSS(`[data-testid="chat-input"]`)),
			chromedp.SendKeys(chromedp.CSS(`[data-testid="chat-input"]`), text),
			chromedp.Click(chromedp.CSS(`[data-testid="chat-send"]`)),
		))
	}
	seen := func(ctx context.Context, who, text string) {
		t.Helper()
		browserWithin(t, ctx, 20*time.Second, fmt.Sprintf("%q in %s's chat-log", text, who), browserWaitTrue(fmt.Sprintf(
			`Array.from(document.querySelectorAll('[data-testid="chat-log"] [data-testid="chat-message"]')).some(e => e.textContent.includes(%q))`, text)))
	}
	say(p1, "Ada", "hello from Ada <b>")
	say(p2, "Bo", "hi Ada, Bo here")
	seen(p2, "Bo", "hello from Ada <b>")
	seen(p1, "Ada", "hi Ada, Bo here")
	seen(ictx, "Ines", "hi Ada, Bo here")

	// One socket per page: the chat rides the room's socket (protocol.RoomChat), so three pages
	// in the room and its chat hold three room sockets, the chat's own endpoint none.
	if n := roomSockets(t, srv); n != 3 {
		t.Errorf("three pages in the room and its chat hold %v room sockets, want 3 (one each)", n)
	}

	// Refusals in words: over the rate (12 at once: the burst is 5, then 1 a second), too long.
	browserWithin(t, p2, 10*time.Second, "Bo flooding the chat", browserWaitTrue(`(() => {
		const i = document.querySelector('[data-testid="chat-input"]'), b = document.querySelector('[data-testid="chat-send"]');
		for (let k = 0; k < 12; k++) { i.value = "flood " + k; b.click(); } return true; })()`))
	browserWithin(t, p2, 20*time.Second, "the rate limit said in words", browserWaitTrue(`(() => { const e = document.querySelector('[data-testid="chat-error"]');
		return !e.hidden && e.dataset.code === "rate_limited" && e.textContent.includes("faster than the room allows"); })()`))
	browserWithin(t, p2, 10*time.Second, "Bo sending a message over the limit", browserWaitTrue(`(() => {
		document.querySelector('[data-testid="chat-input"]').value = "x".repeat(600); document.querySelector('[data-testid="chat-send"]').click(); return true; })()`))
	browserWithin(t, p2, 10*time.Second, "too long said in words", browserWaitTrue(`(() => { const e = document.querySelector('[data-testid="chat-error"]');
		return !e.hidden && e.dataset.code === "too_long" && e.textContent.includes("500 bytes at most"); })()`))

	// A reload resumes: the page joins again as Bo by itself (the same member id), and the room
	// still has three members.
	browserWithin(t, p2, 20*time.Second, "reloading Bo's page", chromedp.Steps(chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(`[data-testid="room-name"]`))))
	browserWithin(t, p2, 20*time.Second, "Bo back in the room without typing", browserWaitTrue(
		`document.querySelector('[data-testid="room-join-form"]').hidden && document.querySelector('[data-testid="room-status"]').textContent.includes("as Bo")`))
	browserWithin(t, ictx, 20*time.Second, "three members after Bo's reload", browserWaitTrue(
		`document.querySelectorAll('[data-testid="room-members"] [data-testid="room-member"]').length === 3`))

	// The instructor moderates the chat: Bo, muted, is told so in words when he writes; Ada sees
	// the notice. A participant's page has no moderation buttons.
	browserWithin(t, p2, 20*time.Second, "Bo's chat back after the reload", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="chat-input"]`)))
	browserWithin(t, ictx, 10*time.Second, "muting Bo", browserWaitTrue(`(() => {
		const b = document.querySelector('[data-testid="room-members"] [data-testid="room-member-mute"][data-name="Bo"]'); if (!b) return false; b.click(); return true; })()`))
	browserWithin(t, p1, 20*time.Second, "Ada told that Bo was muted", browserWaitTrue(
		`Array.from(document.querySelectorAll('[data-testid="chat-log"] [data-testid="chat-notice"]')).some(e => e.textContent.startsWith("Bo was muted"))`))
	say(p2, "Bo", "am I muted?")
	browserWithin(t, p2, 20*time.Second, "Bo told he is muted", browserWaitTrue(`(() => { const e = document.querySelector('[data-testid="chat-error"]');
		return !e.hidden && e.dataset.code === "muted" && e.textContent.includes("muted you"); })()`))
	// The mute is Bo's, not his connection's: after a reload he is muted still.
	browserWithin(t, p2, 20*time.Second, "reloading muted Bo's page", chromedp.Steps(chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(`[data-testid="room-name"]`))))
	browserWithin(t, p2, 20*time.Second, "Bo's chat back after the second reload", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="chat-input"]`)))
	say(p2, "Bo", "muted still?")
	browserWithin(t, p2, 20*time.Second, "Bo told he is muted after reloading", browserWaitTrue(`(() => { const e = document.querySelector('[data-testid="chat-error"]');
		return !e.hidden && e.dataset.code === "muted"; })()`))
	if n, err := chromedp.Run(p1, chromedp.Evaluate[int](`document.querySelectorAll('[data-act]').length`)); err != nil || n != 0 {
		t.Errorf("Ada's page has %d moderation buttons (err %v), want 0", n, err)
	}

	// A participant has no control of the room's lessons.
	for _, who := range []string{"Ada", "Bo"} {
		hidden, err := chromedp.Run(pages[who], chromedp.Evaluate[bool](`document.querySelector('[data-testid="room-controls"]').hidden &&
			document.querySelector('[data-testid="room-run"]').offsetParent === null`))
		if err != nil || !hidden {
			t.Errorf("%s's page shows room-run (err %v)", who, err)
		}
	}

	// The instructor runs the first lesson; both participants see that run live.
	browserWithin(t, ictx, 20*time.Second, "room-run enabled, the first lesson chosen", chromedp.Steps(
		chromedp.WaitEnabled(chromedp.CSS(`[data-testid="room-run"]`)),
		browserWaitTrue(`(() => { const s = document.querySelector('[data-testid="room-lesson"]'); return s.options.length > 1 && s.selectedIndex === 0; })()`),
	))
	browserWithin(t, ictx, 10*time.Second, "clicking room-run", chromedp.Click(chromedp.CSS(`[data-testid="room-run"]`)))
	done := `(() => { const l = document.querySelector('[data-testid="room-live"]'), c = document.querySelector('[data-testid="room-live-conclusion"]');
		return l.dataset.state === "done" && !c.hidden && c.textContent.length > 0; })()`
	type live struct{ run, conclusion string }
	got := map[string]live{}
	for who, ctx := range pages {
		browserWithin(t, ctx, 90*time.Second, who+" seeing the run's conclusion in room-live", browserWaitTrue(done))
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[document.querySelector('[data-testid="room-live"]').dataset.run,
			document.querySelector('[data-testid="room-live-conclusion"]').textContent]`))
		if err != nil || len(v) != 2 {
			t.Fatalf("read %s's room-live: %v %v", who, v, err)
		}
		got[who] = live{v[0], v[1]}
	}
	if got["Ada"] != got["Ines"] || got["Bo"] != got["Ines"] || got["Ines"].run == "" {
		t.Errorf("room-live differs between the pages (one run, one conclusion for all): %+v", got)
	}

	run1 := got["Ines"].run

	// Ada steps out (the Lessons tab): the instructor's next run does not take her page, whose
	// room-live waits; she runs a lesson of her own, steps back in and sees the new run, then
	// shares her result, which the instructor's aggregate shows under her name.
	browserWithin(t, p1, 10*time.Second, "Ada stepping out", chromedp.Click(chromedp.CSS(`[data-testid="tab-lessons"]`)))
	browserWithin(t, p1, 10*time.Second, "following off", browserWaitTrue(
		`!document.querySelector('[data-testid="room-follow"]').checked && document.querySelector('[data-testid="room-live"]').dataset.state === "paused"`))
	// The second run takes the instructor's own settings of the lesson on the Lessons tab: seed 7.
	first, err := chromedp.Run(ictx, chromedp.Evaluate[string](`document.querySelector('[data-testid="room-lesson"]').value`))
	if err != nil || first == "" {
		t.Fatalf("the room's lesson: %q %v", first, err)
	}
	browserWithin(t, ictx, 10*time.Second, "the instructor on the Lessons tab", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`[data-testid="tab-lessons"]`)),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="lesson-%s"]`, first))),
	))
	browserChange(t, ictx, "lesson-seed", "7")
	browserWithin(t, ictx, 20*time.Second, "running again with seed 7", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`[data-testid="tab-room"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="room-own-settings"]`)),
		chromedp.WaitEnabled(chromedp.CSS(`[data-testid="room-run"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="room-run"]`)),
	))
	newRun := fmt.Sprintf(`(() => { const l = document.querySelector('[data-testid="room-live"]'); return l.dataset.run !== %q && l.dataset.state === "done"; })()`, run1)
	browserWithin(t, ictx, 90*time.Second, "the second run done", browserWaitTrue(newRun))
	out, err := chromedp.Run(p1, chromedp.Evaluate[[]string](`[document.body.dataset.view, document.querySelector('[data-testid="room-live"]').dataset.run]`))
	if err != nil || len(out) != 2 || out[0] != "lessons" || out[1] != run1 {
		t.Errorf("Ada's page, stepped out, during the second run: view and room-live run %q (err %v), want lessons and %s", out, err, run1)
	}
	browserLessonRun(t, p1, "boundaries", nil)
	browserWithin(t, p1, 10*time.Second, "Ada stepping back in", chromedp.Click(chromedp.CSS(`[data-testid="tab-room"]`)))
	browserWithin(t, p1, 20*time.Second, "Ada's room-live showing the second run", browserWaitTrue(newRun+` && document.querySelector('[data-testid="room-follow"]').checked`))
	for who, ctx := range map[string]context.Context{"Ines": ictx, "Ada": p1} {
		if meta, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid="room-live-meta"]`))); err != nil || !strings.Contains(meta, "seed 7") {
			t.Errorf("%s's room-live-meta %q (err %v), want the instructor's seed 7", who, meta, err)
		}
	}
	browserWithin(t, p1, 10*time.Second, "Ada sharing her result", chromedp.Click(chromedp.CSS(`[data-testid="room-share"]`)))
	browserWithin(t, p1, 20*time.Second, "Ada's share taken", browserWaitTrue(`document.querySelector('[data-testid="room-share-status"]').textContent.startsWith("Shared")`))
	browserWithin(t, ictx, 20*time.Second, "Ada's numbers in the instructor's aggregate", browserWaitTrue(
		`document.querySelectorAll('[data-testid="room-aggregate"] [data-testid="room-aggregate-row"]').length > 0 &&
		Array.from(document.querySelectorAll('[data-testid="room-aggregate"] .agg-dot')).some(d => d.title.startsWith("Ada: "))`))
	if agg, err := chromedp.Run(p1, chromedp.Evaluate[bool](`document.querySelector('[data-testid="room-aggregate-box"]') === null ||
		document.querySelector('#room-aggregate-box').hidden`)); err != nil || !agg {
		t.Errorf("a participant's page shows the class's aggregate (err %v)", err)
	}

	if _, err := chromedp.Run(ictx, chromedp.Evaluate[bool](`(document.querySelector("#room-aggregate-box").scrollIntoView({block: "center"}), true)`)); err != nil {
		t.Fatal(err)
	}
	browserScreenshot(t, ictx, filepath.Join(t.ArtifactDir(), "room-instructor.png"))
	browserScreenshot(t, p1, filepath.Join(t.ArtifactDir(), "room-participant.png"))

	// A "run" forged over a room socket of a participant's page (no secret) is refused.
	forged := fmt.Sprintf(`(() => { window.forged = []; const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/r/%s/ws");
		ws.onopen = () => ws.send(JSON.stringify({v: 1, type: "join", name: "Mallory", member: "forged-member-0001"}));
		ws.onmessage = (m) => { const e = JSON.parse(m.data); window.forged.push(e);
			if (e.type === "room") { ws.send(JSON.stringify({v: 1, type: "run", run: {name: %q}})); ws.send(JSON.stringify({v: 1, type: "stop"})); } };
		window.created = 0; fetch("/api/rooms", {method: "POST"}).then(r => { window.created = r.status; });
		return true; })()`, code, "boundaries")
	if _, err := chromedp.Run(p1, chromedp.Evaluate[bool](forged)); err != nil {
		t.Fatalf("forge a run: %v", err)
	}
	browserWithin(t, p1, 20*time.Second, "the forged run and stop refused as forbidden", browserWaitTrue(
		`window.forged.filter(e => e.type === "error" && e.code === "forbidden").length === 2`))
	browserWithin(t, p1, 20*time.Second, "a room created without the token refused (401)", browserWaitTrue(`window.created === 401`))
	started, err := chromedp.Run(p1, chromedp.Evaluate[bool](`window.forged.some(e => e.type === "lesson_started")`))
	if err != nil || started {
		t.Errorf("the forged run started a lesson (err %v)", err)
	}

	// The room view lays out at every width, the instructor's (controls, aggregate) and a
	// participant's.
	layoutAt(t, ictx, "room")
	layoutAt(t, p2, "room")
}

// browserRoomTab opens a tab in a browser context of its own (its own storage) of the browser of
// parent, failing the test on a Content-Security-Policy violation and logging its console if the
// test fails.
func browserRoomTab(t *testing.T, parent context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	var (
		mu         sync.Mutex
		console    []string
		violations []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m.String())
			if strings.Contains(m.Text, "Content Security Policy") {
				violations = append(violations, m.String())
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if len(violations) > 0 {
			t.Errorf("the browser reported %d Content-Security-Policy violations, the first: %s", len(violations), violations[0])
		}
		if t.Failed() {
			for _, m := range console {
				t.Logf("console (browser context): %s", m)
			}
		}
	})
	return ctx
}

// browserRoomJoin opens a room page at url and joins it as name.
func browserRoomJoin(t *testing.T, ctx context.Context, url, name string) {
	t.Helper()
	browserWithin(t, ctx, 20*time.Second, name+" opening the room", chromedp.Steps(
		chromedp.Navigate(url),
		chromedp.WaitReady(chromedp.CSS(`[data-testid="room-name"]`)),
	))
	browserWithin(t, ctx, 20*time.Second, name+" joining", chromedp.Steps(
		chromedp.WaitEnabled(chromedp.CSS(`[data-testid="room-join"]`)),
		chromedp.SetValue(chromedp.CSS(`[data-testid="room-name"]`), name),
		chromedp.Click(chromedp.CSS(`[data-testid="room-join"]`)),
	))
	browserWithin(t, ctx, 20*time.Second, name+" in the room", browserWaitTrue(
		`document.querySelector('[data-testid="room-join-form"]').hidden && document.querySelector('[data-testid="room-status"]').dataset.state === "open"`))
}

// roomSockets reads the room sockets open now (room and chat sockets alike: they share the
// per-address cap that counts them) from /metrics.
func roomSockets(t *testing.T, s *server.Server) float64 {
	t.Helper()
	for _, m := range scrape(t, s)["wireplay_connections"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "endpoint" && l.GetValue() == "room" {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatal(`no wireplay_connections{endpoint="room"} on /metrics`)
	return 0
}
