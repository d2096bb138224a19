//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

const (
	pingEvery  = 2 * time.Second
	minBackoff = 500 * time.Millisecond
	maxBackoff = 10 * time.Second
	outboxSize = 64
)

// app is the page's state. Go's js/wasm runs goroutines on one thread without preemption, but the
// relay reader, timers and DOM callbacks still interleave at blocking points, so state is guarded.
type app struct {
	mu      sync.Mutex
	cols    map[protocol.Transport]*column
	nextID  uint64
	outbox  chan protocol.Request // the live relay connection's, nil while there is none
	notice  int                   // generation of the shown notice, to hide only our own
	link    *linkUI
	chart   *chart
	hol     *holUI
	lessons *lessonsUI
	room    *roomUI // the room mode (/r/CODE), nil on the ordinary page
	view    string  // "messages", "hol", "lessons" or "room"
	dirty   bool    // diagrams wait for a redraw
	// held are messages sent while the relay socket was down, sent when it is back (held.go);
	// heldFor is how long each waited, by request id, until its "write" event marks its card.
	held    []heldReq
	heldFor map[uint64]time.Duration
	// local are the local transports the relay offers in kernel mode (the welcome's Local): a
	// send, burst or reconnect names them with the five while the page is on the kernel.
	local []protocol.Transport

	input, send, burstCount, burstSize, burst, reconnect js.Value
	status, statusText, relayRTT, noticeEl               js.Value
}

// relayReadLimit is the longest message the client takes from the relay.
const relayReadLimit = 4 << 20

func main() {
	// The relay's WebSocket first: the browser connects while the page is being built.
	url := relayURL()
	early := openWS(url, relayReadLimit)
	a := &app{
		cols:       map[protocol.Transport]*column{},
		heldFor:    map[uint64]time.Duration{},
		input:      byID("message"),
		send:       byID("send"),
		burstCount: byID("burst-count"),
		burstSize:  byID("burst-size"),
		burst:      byID("burst"),
		reconnect:  byID("reconnect"),
		status:     byID("status"),
		statusText: byID("status-text"),
		relayRTT:   byID("relay-rtt"),
		noticeEl:   byID("notice"),
	}
	for _, t := range append(slices.Clone(protocol.Transports), protocol.Local...) {
		a.cols[t] = newColumn(t)
	}
	a.relayRTT.Get("parentElement").Set("title", tipRelayRTT)
	a.link = newLinkUI()
	a.link.notify = a.showNotice
	a.chart = newChart()
	a.hol = newHolUI()
	a.lessons = newLessonsUI()
	if a.room = newRoomUI(a); a.room != nil {
		views = append(views, "room")
	}
	a.chart.reset(a.link.cur.Mode)
	a.wire()
	if a.room != nil {
		a.showView("room") // following the instructor, as a room page starts
	} else {
		a.showView(viewFromURL())
	}
	a.redraw()
	go a.run(url, early)
	if a.room != nil {
		go a.room.runLoop()
	}
	select {}
}

// relayURL is the /relay WebSocket of the server that served the page.
func relayURL() string {
	loc := js.Global().Get("location")
	scheme := "ws://"
	if loc.Get("protocol").String() == "https:" {
		scheme = "wss://"
	}
	return scheme + loc.Get("host").String() + "/relay"
}

// wire connects the composer's controls. Callbacks must not block: they only queue requests.
func (a *app) wire() {
	on := func(e js.Value, event string, f func(ev js.Value)) {
		e.Call("addEventListener", event, js.FuncOf(func(this js.Value, args []js.Value) any {
			f(args[0])
			return nil
		}))
	}
	on(a.send, "click", func(js.Value) { a.sendMessage() })
	on(a.input, "keydown", func(ev js.Value) {
		if ev.Get("key").String() == "Enter" && !ev.Get("isComposing").Truthy() {
			ev.Call("preventDefault")
			a.sendMessage()
		}
	})
	on(a.burst, "click", func(js.Value) { a.sendBurst() })
	for _, id := range []string{"link-mode", "link-preset", "link-seed"} {
		on(byID(id), "change", func(js.Value) { a.linkChanged(id) })
	}
	for _, d := range []string{"up", "down"} {
		for _, k := range impKeys {
			id := d + "-" + k
			on(byID(id), "change", func(js.Value) { a.linkChanged(id) })
		}
	}
	on(byID("hol-run"), "click", func(js.Value) { a.runHOL() })
	for _, v := range views {
		on(byID("tab-"+v), "click", func(js.Value) { a.showView(v) })
	}
	on(byID("lesson-list"), "click", func(ev js.Value) {
		b := ev.Get("target").Call("closest", "[data-lesson]")
		if b.Truthy() {
			a.mu.Lock()
			a.lessons.show(b.Get("dataset").Get("lesson").String())
			a.mu.Unlock()
		}
	})
	on(byID("lesson-form"), "change", func(ev js.Value) {
		a.mu.Lock()
		a.lessons.changed(ev.Get("target"))
		a.mu.Unlock()
	})
	on(byID("lesson-link-reset"), "click", func(js.Value) {
		a.mu.Lock()
		a.lessons.resetLink()
		a.mu.Unlock()
	})
	on(byID("lesson-run"), "click", func(js.Value) { a.runLesson() })
	on(js.Global(), "resize", func(js.Value) { a.scheduleRedraw() })
	if a.room != nil {
		a.room.wire(on)
	}
	on(a.reconnect, "click", func(js.Value) {
		if a.request(protocol.Request{Type: protocol.TypeReconnect}) {
			a.mu.Lock()
			for _, c := range a.cols {
				c.reconnecting()
			}
			a.mu.Unlock()
		}
	})
}

func (a *app) sendMessage() {
	text := a.input.Get("value").String()
	if strings.TrimSpace(text) == "" {
		a.input.Call("focus")
		return
	}
	if len(text) > protocol.MaxTextBytes {
		a.showNotice("That message is " + itoa(len(text)) + " bytes; the limit is " + itoa(protocol.MaxTextBytes) + ".")
		return
	}
	if a.request(protocol.Request{Type: protocol.TypeSend, Text: text}) {
		a.input.Set("value", "")
	}
	a.input.Call("focus")
}

func (a *app) sendBurst() {
	count, err1 := strconv.Atoi(strings.TrimSpace(a.burstCount.Get("value").String()))
	size, err2 := strconv.Atoi(strings.TrimSpace(a.burstSize.Get("value").String()))
	if err1 != nil || err2 != nil {
		a.showNotice("Burst needs a whole number of messages and of bytes per message.")
		return
	}
	r := protocol.Request{V: protocol.Version, Type: protocol.TypeBurst, Count: count, Size: size}
	if err := r.Validate(); err != nil {
		a.showError("", err.Error())
		return
	}
	a.request(r)
}

// request queues r for the relay with the next id; it reports whether it was queued.
func (a *app) request(r protocol.Request) bool {
	_, ok := a.requestID(r)
	return ok
}

// requestID is request, also returning the id r was given.
func (a *app) requestID(r protocol.Request) (uint64, bool) {
	a.mu.Lock()
	out := a.outbox
	a.mu.Unlock()
	r = a.numbered(r)
	if out == nil {
		switch {
		case r.Type == protocol.TypeSend && a.hold(r):
			return r.ID, true
		case r.Type == protocol.TypeSend:
			a.showNotice("Not connected to the server, and " + itoa(maxHeld) + " messages already wait for it; retrying…")
		case r.Type != protocol.TypePing:
			a.showNotice("Not connected to the server; retrying…")
		}
		return r.ID, false
	}
	select {
	case out <- r:
		return r.ID, true
	default:
		if r.Type != protocol.TypePing {
			a.showNotice("Too many requests waiting to be sent; try again in a moment.")
		}
		return r.ID, false
	}
}

// numbered is r with the protocol version and the next request id.
func (a *app) numbered(r protocol.Request) protocol.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nextID++
	r.V, r.ID = protocol.Version, a.nextID
	switch r.Type {
	case protocol.TypeSend, protocol.TypeBurst, protocol.TypeReconnect:
		if len(r.Transports) == 0 && len(a.local) > 0 && a.link.cur.Mode != protocol.ModeLink {
			r.Transports = append(slices.Clone(protocol.Transports), a.local...)
		}
	}
	return r
}

// showLocal shows the local transports' columns on the kernel and hides them on the emulated
// link, which cannot carry them.
func (a *app) showLocal() {
	onLink := a.link.cur.Mode == protocol.ModeLink
	for _, t := range protocol.Local {
		if c := a.cols[t]; c != nil {
			c.root.Set("hidden", onLink)
		}
	}
}

// run keeps a relay connection open, reconnecting with exponential backoff; the first session
// uses early, the connection main started opening.
func (a *app) run(url string, early *wsConn) {
	backoff := minBackoff
	for {
		a.setStatus("connecting", "connecting…")
		welcomed, err := a.session(url, early)
		early = nil
		if welcomed {
			backoff = minBackoff
		}
		reason := "connection lost"
		if err != nil {
			reason = describe(err)
		}
		secs := strconv.FormatFloat(backoff.Seconds(), 'f', 1, 64)
		a.setStatus("down", reason+" · retrying in "+secs+" s")
		time.Sleep(backoff)
		backoff = min(backoff*2, maxBackoff)
	}
}

// refusedError is the server's refusal of the relay connection, in its words.
type refusedError string

func (e refusedError) Error() string { return string(e) }

func describe(err error) string {
	var re refusedError
	if errors.As(err, &re) {
		return "refused: " + string(re)
	}
	var ce closeError
	if errors.As(err, &ce) {
		if ce.Reason != "" {
			return "closed by server: " + ce.Reason
		}
		return "closed by server (" + itoa(ce.Code) + ")"
	}
	say, _ := humanError(err.Error())
	return strings.TrimSuffix(say, ".")
}

// session runs one relay connection (early if it is not nil, else a new one to url) until it
// fails; welcomed reports whether the relay greeted us.
func (a *app) session(url string, early *wsConn) (welcomed bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	conn := early
	if conn == nil {
		conn = openWS(url, relayReadLimit)
	}
	err = conn.waitOpen(dctx)
	dcancel()
	if err != nil {
		if why := refusedReason(); why != "" {
			return false, refusedError(why)
		}
		return false, err
	}
	defer conn.CloseNow()

	out := make(chan protocol.Request, outboxSize)
	defer func() {
		a.mu.Lock()
		a.outbox = nil
		if welcomed {
			for _, c := range a.cols {
				c.sessionEnded()
			}
		}
		a.mu.Unlock()
		a.setControls(false)
	}()
	go func() { // writer
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case r := <-out:
				b, err := json.Marshal(r)
				if err != nil {
					continue
				}
				if err := conn.Write(b); err != nil {
					return
				}
			}
		}
	}()
	for {
		data, err := conn.Read(ctx)
		if err != nil {
			return welcomed, err
		}
		evs, err := protocol.DecodeEvents(data)
		if err != nil {
			a.showError("Could not read an event from the server: ", err.Error())
		}
		for _, ev := range evs {
			if ev.Type == protocol.EventWelcome && !welcomed {
				welcomed = true
				a.mu.Lock()
				a.outbox = out
				a.mu.Unlock()
				// The first ping before the page is set up for the session (lesson menu, link
				// controls), so the relay's round trip is measured from the start; the writer
				// goroutine would only run once this one blocks.
				if b, err := json.Marshal(a.numbered(protocol.Request{Type: protocol.TypePing, T0: nowMillis()})); err == nil {
					conn.Write(b)
				}
				a.welcome(ev)
				a.sendHeld(out)
				go a.pinger(ctx)
				continue
			}
			a.apply(ev)
		}
	}
}

// pinger pings the relay every pingEvery (the first ping was sent on the welcome).
func (a *app) pinger(ctx context.Context) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.request(protocol.Request{Type: protocol.TypePing, T0: nowMillis()})
	}
}

func (a *app) welcome(ev protocol.Event) {
	if ev.V != protocol.Version {
		a.showNotice("The server speaks protocol v" + itoa(ev.V) + "; this page expects v" + itoa(protocol.Version) + ". Reload the page.")
	}
	text := "connected"
	if ev.Session != "" {
		text += " · session " + ev.Session
	}
	a.setStatus("open", text)
	a.setControls(true)
	a.mu.Lock()
	restore := a.link.welcome(ev)
	a.lessons.welcome(ev.Scenarios, ev.Presets)
	if a.room != nil {
		a.room.offer(ev.Scenarios)
	}
	a.resetDiagrams()
	a.mu.Unlock()
	if restore != nil {
		a.requestLink(*restore)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	offered := map[protocol.Transport]bool{}
	for _, t := range append(slices.Clone(ev.Transports), ev.Local...) {
		offered[t] = true
	}
	a.local = ev.Local
	a.showLocal()
	for t, c := range a.cols {
		if len(ev.Transports) > 0 && !offered[t] {
			c.unavailable()
		} else {
			c.sessionStarted()
		}
	}
}

// apply routes one event to its column, or to the header for session-wide events.
func (a *app) apply(ev protocol.Event) {
	if a.applyLesson(ev) {
		return
	}
	switch {
	case ev.Type == protocol.EventPong:
		if ev.T0 > 0 {
			setText(a.relayRTT, fmtMillis(nowMillis()-ev.T0))
		}
		return
	case ev.Type == protocol.EventLink && ev.Link != nil:
		a.mu.Lock()
		changed, linkChanged := a.link.applied(*ev.Link, ev.Req)
		if changed {
			a.resetDiagrams()
		}
		a.showLocal()
		if linkChanged {
			for _, c := range a.cols {
				c.resetFigures()
			}
		}
		a.mu.Unlock()
		return
	case ev.Type == protocol.EventPackets && ev.Req != 0:
		return // a lesson's that has ended (its own link): never the Messages tab's
	case ev.Type == protocol.EventPackets:
		a.mu.Lock()
		a.link.skipped += ev.Skipped
		for _, p := range ev.Packets {
			a.link.packet(p)
			if c := a.cols[p.Transport]; c != nil {
				c.seq.add(p)
			}
		}
		a.link.showCounts()
		a.mu.Unlock()
		a.scheduleRedraw()
		return
	case ev.Type == protocol.EventMetrics:
		a.mu.Lock()
		for _, m := range ev.Metrics {
			a.chart.add(m)
		}
		a.mu.Unlock()
		a.scheduleRedraw()
		return
	case ev.Type == protocol.EventScenario:
		return
	case ev.Transport == "":
		switch ev.Type {
		case protocol.EventError:
			a.showError("", ev.Error)
		case protocol.EventClosed:
			a.showError("The server closed the session: ", ev.Error)
		}
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.cols[ev.Transport]; c != nil {
		c.apply(ev)
		if d, ok := a.heldFor[ev.Req]; ok && ev.Type == protocol.EventWrite {
			c.markHeld(ev, d)
		}
	}
	// On the kernel's loopback there are no "metrics" events: chart the stacks' own readings.
	if ev.Stats != nil && a.link.cur.Mode != protocol.ModeLink {
		if m, ok := statsSample(ev.Transport, ev.AtMicros, ev.Stats); ok {
			a.chart.add(m)
			a.dirty = true
			time.AfterFunc(150*time.Millisecond, a.redraw)
		}
	}
}

// linkChanged sends the link the controls now ask for.
func (a *app) linkChanged(id string) {
	a.mu.Lock()
	r := a.link.changed(id)
	a.mu.Unlock()
	a.requestLink(r)
}

// requestLink sends a "link" request, remembering it as the latest.
func (a *app) requestLink(r protocol.LinkRequest) bool {
	id, ok := a.requestID(protocol.Request{Type: protocol.TypeLink, Link: &r})
	if ok {
		a.mu.Lock()
		a.link.lastReq = id
		a.mu.Unlock()
	}
	return ok
}

// applyLesson routes an event of the lesson the Lessons tab or the Head-of-line tab is running
// (by its request id: its packets and other live events, its report or its error); it reports
// whether ev was one.
func (a *app) applyLesson(ev protocol.Event) bool {
	if ev.Req == 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	lesson, hol := ev.Req == a.lessons.pending, ev.Req == a.hol.pending
	switch {
	case !lesson && !hol:
		return false
	case ev.Type == protocol.EventQueued && lesson:
		a.lessons.queuedAt(ev.Place)
	case ev.Type == protocol.EventQueued:
		a.hol.queuedAt(ev.Place)
	case ev.Type == protocol.EventError && lesson:
		a.lessons.finished(&lessonResult{err: ev.Error})
	case ev.Type == protocol.EventError:
		a.hol.failed(ev.Error)
	case ev.Type == protocol.EventScenario && ev.Report != nil && lesson:
		a.lessons.finished(&lessonResult{report: ev.Report})
	case ev.Type == protocol.EventScenario && ev.Report != nil:
		a.hol.done(ev.Report)
	case lesson:
		a.lessons.event(ev) // a live event (its own link, not the session's): counted only
	default:
		a.hol.event(ev)
	}
	return true
}

// runHOL runs the hol lesson from the Head-of-line tab, with the session's link settings (see
// holUI.request); the lesson makes its own link, so the session stays on its network.
func (a *app) runHOL() {
	a.mu.Lock()
	r, ok := a.hol.request(a.link)
	busy := a.hol.pending != 0
	kernel := a.link.cur.Mode != protocol.ModeLink
	a.mu.Unlock()
	if !ok || busy {
		return
	}
	if id, ok := a.requestID(r); ok {
		a.mu.Lock()
		a.hol.started(id, kernel)
		a.mu.Unlock()
	}
}

// runLesson runs the shown lesson with its controls' settings.
func (a *app) runLesson() {
	a.mu.Lock()
	r, ok := a.lessons.request()
	busy := a.lessons.pending != 0
	a.mu.Unlock()
	if !ok || busy {
		return
	}
	id, ok := a.requestID(r)
	if !ok {
		return
	}
	a.mu.Lock()
	a.lessons.begin(id)
	a.mu.Unlock()
	a.tickLesson()
}

// tickLesson refreshes the running lesson's elapsed time a few times a second.
func (a *app) tickLesson() {
	time.AfterFunc(200*time.Millisecond, func() {
		a.mu.Lock()
		more := a.lessons.tick()
		a.mu.Unlock()
		if more {
			a.tickLesson()
		}
	})
}

// resetDiagrams empties the packet diagrams and the chart (a new session or network).
func (a *app) resetDiagrams() {
	for _, c := range a.cols {
		c.seq.reset()
	}
	a.chart.reset(a.link.cur.Mode)
	a.dirty = true
	time.AfterFunc(0, a.redraw)
}

// scheduleRedraw asks for the diagrams to be redrawn soon; many events make one redraw.
func (a *app) scheduleRedraw() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.dirty {
		a.dirty = true
		time.AfterFunc(150*time.Millisecond, a.redraw)
	}
}

// redraw draws the packet diagrams and the chart of the view shown, to their boxes' width.
func (a *app) redraw() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dirty = false
	switch a.view {
	case "hol":
		return // the report's charts scale with their boxes
	case "lessons":
		a.lessons.drawSeq() // the lesson's packets, to the new width
		return
	case "room":
		a.room.drawSeq()
		return
	}
	for _, c := range a.cols {
		c.seq.render(a.link.cur.Mode)
	}
	a.chart.render()
}

// views are the page's tabs: "messages", "hol" (head-of-line) and "lessons", and "room" in room
// mode.
var views = []string{"messages", "hol", "lessons"}

// showView switches to view v. The address holds the view and what it shows: the network (mode,
// preset, seed) for the messages and head-of-line views, the lesson and its controls for lessons.
func (a *app) showView(v string) {
	if !slices.Contains(views, v) {
		v = "messages"
	}
	a.mu.Lock()
	a.view = v
	for _, name := range views {
		byID("view-"+name).Set("hidden", name != v)
		byID("tab-"+name).Call("setAttribute", "aria-selected", strconv.FormatBool(name == v))
	}
	document.Get("body").Get("dataset").Set("view", v)
	rewriteURL(func(q url.Values) {
		if v == "messages" {
			q.Del("view")
		} else {
			q.Set("view", v)
		}
	})
	a.lessons.active = v == "lessons"
	a.link.urlOff = v == "lessons"
	if v == "lessons" {
		a.lessons.saveURL()
	} else {
		rewriteURL(func(q url.Values) {
			for k := range q {
				if isLessonKey(k) {
					q.Del(k)
				}
			}
		})
		a.link.saveURL()
	}
	a.mu.Unlock()
	a.scheduleRedraw()
}

func viewFromURL() string {
	return currentQuery().Get("view")
}

func (a *app) setStatus(state, text string) {
	a.status.Get("dataset").Set("state", state)
	setText(a.statusText, text)
}

func (a *app) setControls(on bool) {
	for _, b := range []js.Value{a.send, a.burst, a.reconnect} {
		b.Set("disabled", !on)
	}
	if on {
		a.input.Set("placeholder", "Type a message and press Enter")
	} else {
		a.input.Set("placeholder", "Offline: press Enter and the message waits until the page reconnects")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.link.enable(on)
	a.hol.enable(on)
	a.lessons.enable(on)
}

// showError shows raw (an error string) as a sentence under the composer, the raw string in the
// notice's tooltip.
func (a *app) showError(prefix, raw string) {
	a.showNotice("")
	setError(a.noticeEl, prefix, raw)
}

// showNotice shows a message under the composer for a few seconds.
func (a *app) showNotice(text string) {
	a.noticeEl.Call("removeAttribute", "title")
	a.mu.Lock()
	a.notice++
	gen := a.notice
	a.mu.Unlock()
	setText(a.noticeEl, text)
	a.noticeEl.Set("hidden", false)
	time.AfterFunc(8*time.Second, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.notice == gen {
			a.noticeEl.Set("hidden", true)
		}
	})
}
