//go:build js && wasm

package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// The page in room mode (/r/CODE, protocol.RoomJoin): the page joins the room's WebSocket
// (/r/CODE/ws) with a name and a member id kept in localStorage, so that a reload resumes the same
// participant, and the room's chat on that same socket (chat.go) once it is in. The room view shows the
// instructor's run live with the Lessons tab's rendering (sequence diagram, charts, conclusion),
// and the instructor's latest message across the room's emulated link (room_message.go).
// "Follow the instructor" is on by default: the page then shows the room's view and switches
// to it when a run starts; a participant who steps out (the box, or another tab) uses the page
// on their own, and stepping back in redraws the room's view from the room's state, which the
// page keeps up to date all along.

// Keys of what the room mode keeps in localStorage.
const (
	roomMemberKey = "wireplay.room.member"
	roomNameKey   = "wireplay.room.name"
)

// roomUI is the room view and the room's connections. Its state is guarded by mu; the app's mu,
// when both are taken, is taken first.
type roomUI struct {
	a      *app
	code   string
	member string // this browser's member id
	secret string // the instructor's secret, from the address's fragment

	mu       sync.Mutex
	name     string // the name to join with (typed, or the last one used)
	joined   bool
	you      protocol.RoomMember
	members  []protocol.RoomMember
	run      *protocol.RoomRunInfo
	done     bool
	report   *protocol.ScenarioReport
	runErr   string
	trace    lessonTrace
	progress int
	agg      []protocol.RoomAggregate
	follow   bool
	lessons  []protocol.ScenarioInfo
	out      chan protocol.RoomRequest // the live room connection's, nil while there is none
	chat     *chatUI
	dirty    bool // the live area waits for a redraw
	msg      roomMessage
	msgUI    messageUI

	joinForm, nameIn, joinBtn, status, link, follower        js.Value
	controls, lessonSel, runBtn, stopBtn, shareRow, shareBtn js.Value
	ownSettings                                              js.Value
	shareStatus, live, liveStatus, seqFig, seqNote           js.Value
	aggBox, aggEl, membersEl                                 js.Value
	seq                                                      *seqDiagram
	rv                                                       reportView
}

// newRoomUI is the room mode of the page whose body names room code, or nil on the ordinary page.
func newRoomUI(a *app) *roomUI {
	code := document.Get("body").Get("dataset").Get("room")
	if code.IsUndefined() || code.String() == "" {
		return nil
	}
	r := &roomUI{a: a, code: code.String(), follow: true,
		joinForm: byID("room-join-form"), nameIn: byID("room-name"), joinBtn: byID("room-join"), status: byID("room-status"),
		link: byID("room-link"), follower: byID("room-follow"), controls: byID("room-controls"), lessonSel: byID("room-lesson"), ownSettings: byID("room-own-settings"),
		runBtn: byID("room-run"), stopBtn: byID("room-stop"), shareRow: byID("room-share-row"), shareBtn: byID("room-share"),
		shareStatus: byID("room-share-status"), live: byID("room-live"), liveStatus: byID("room-live-status"),
		seqFig: byID("room-live-seq"), seqNote: byID("room-seq-note"), aggBox: byID("room-aggregate-box"),
		aggEl: byID("room-aggregate"), membersEl: byID("room-members"),
	}
	r.msgUI = newMessageUI()
	r.seq = newSeqDiagram(r.seqFig)
	r.seq.keep, r.seq.byTransport = maxLessonPkts, true
	r.rv = newReportView("room-live")
	r.member, r.name = roomStored()
	if h := js.Global().Get("location").Get("hash").String(); strings.HasPrefix(h, "#instructor=") {
		r.secret = strings.TrimPrefix(h, "#instructor=")
	}
	r.nameIn.Set("value", r.name)
	loc := js.Global().Get("location")
	setText(r.link, "Participants join at "+loc.Get("origin").String()+"/r/"+r.code)
	r.chat = newChatUI(r)
	return r
}

// roomStored is this browser's member id (made and kept the first time) and the last name it
// joined a room with.
func roomStored() (member, name string) {
	ls, ok := localStorage()
	if ok {
		if v := ls.Call("getItem", roomMemberKey); v.Type() == js.TypeString && protocol.ValidRoomMember(v.String()) {
			member = v.String()
		}
		if v := ls.Call("getItem", roomNameKey); v.Type() == js.TypeString {
			name = v.String()
		}
	}
	if member == "" {
		b := make([]byte, 16)
		u := js.Global().Get("Uint8Array").New(len(b))
		js.Global().Get("crypto").Call("getRandomValues", u)
		js.CopyBytesToGo(b, u)
		member = "m-" + hex.EncodeToString(b)
		if ok {
			ls.Call("setItem", roomMemberKey, member)
		}
	}
	return member, name
}

// wire connects the room view's controls.
func (r *roomUI) wire(on func(e js.Value, event string, f func(ev js.Value))) {
	on(r.joinBtn, "click", func(js.Value) { r.joinClicked() })
	on(r.nameIn, "keydown", func(ev js.Value) {
		if ev.Get("key").String() == "Enter" && !ev.Get("isComposing").Truthy() {
			ev.Call("preventDefault")
			r.joinClicked()
		}
	})
	on(r.follower, "change", func(js.Value) { r.setFollow(r.follower.Get("checked").Bool()) })
	for _, v := range views {
		if v != "room" {
			on(byID("tab-"+v), "click", func(js.Value) { r.setFollow(false) }) // stepping out
		}
	}
	on(byID("tab-room"), "click", func(js.Value) { r.setFollow(true) })
	on(r.runBtn, "click", func(js.Value) { r.runClicked() })
	on(r.stopBtn, "click", func(js.Value) { r.send(protocol.RoomRequest{Type: protocol.RoomStop}) })
	on(r.shareBtn, "click", func(js.Value) { r.shareClicked() })
	r.wireMessage(on)
	on(r.membersEl, "click", func(ev js.Value) {
		b := ev.Get("target").Call("closest", "[data-act]")
		if b.Truthy() {
			r.chat.moderate(b.Call("getAttribute", "data-act").String(), b.Call("getAttribute", "data-name").String())
		}
	})
	r.chat.wire(on)
}

// roomURL is the room's WebSocket (path "ws") on the server of the page.
func (r *roomUI) roomURL(path string) string {
	loc := js.Global().Get("location")
	scheme := "ws://"
	if loc.Get("protocol").String() == "https:" {
		scheme = "wss://"
	}
	return scheme + loc.Get("host").String() + "/r/" + r.code + "/" + path
}

// runLoop keeps the room's WebSocket open, reconnecting with exponential backoff; every
// connection joins again (the same member: the server resumes it) once the page has a name.
func (r *roomUI) runLoop() {
	backoff := minBackoff
	for {
		joined, err := r.session()
		if joined {
			backoff = minBackoff
		}
		why := "connection lost"
		if err != nil {
			why = describe(err)
		}
		r.setStatus("down", "The room's connection: "+why+" · retrying in "+fmtSeconds(backoff))
		time.Sleep(backoff)
		backoff = min(backoff*2, maxBackoff)
	}
}

func fmtSeconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s" }

// session runs one connection to the room until it ends; joined says whether the room took us.
func (r *roomUI) session() (joined bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := openWS(r.roomURL("ws"), protocol.RoomMaxEvent)
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	err = conn.waitOpen(dctx)
	dcancel()
	if err != nil {
		return false, err
	}
	defer conn.CloseNow()
	out := make(chan protocol.RoomRequest, 16)
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case req := <-out:
				req.V = protocol.Version
				b, err := json.Marshal(req)
				if err != nil {
					continue
				}
				if conn.Write(b) != nil {
					return
				}
			}
		}
	}()
	r.mu.Lock()
	r.out = out
	r.joined = false
	name := r.name
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.out = nil
		r.joined = false
		r.mu.Unlock()
		r.chat.down()
		r.enable()
	}()
	if name != "" {
		r.join(name)
	} else {
		r.setStatus("", "Type your name and join the room.")
	}
	r.enable()
	for {
		data, err := conn.Read(ctx)
		if err != nil {
			r.mu.Lock()
			joined = joined || r.joined
			r.mu.Unlock()
			return joined, err
		}
		var ev protocol.RoomEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			r.setStatus("error", "Could not read an event from the room: "+err.Error())
			continue
		}
		if ev.Type == protocol.RoomChat {
			if ev.Chat != nil {
				r.chat.event(*ev.Chat)
			}
			continue
		}
		if ev.Type == protocol.RoomState {
			joined = true
		}
		r.apply(ev)
	}
}

// send queues req for the room; it reports whether it was queued.
func (r *roomUI) send(req protocol.RoomRequest) bool {
	r.mu.Lock()
	out := r.out
	r.mu.Unlock()
	if out == nil {
		r.setStatus("down", "Not connected to the room; retrying…")
		return false
	}
	select {
	case out <- req:
		return true
	default:
		r.setStatus("error", "Too many requests waiting to be sent to the room; try again in a moment.")
		return false
	}
}

func (r *roomUI) joinClicked() {
	name := strings.TrimSpace(r.nameIn.Get("value").String())
	if name == "" {
		r.setStatus("error", "Type the name the room will know you by.")
		r.nameIn.Call("focus")
		return
	}
	r.join(name)
}

func (r *roomUI) join(name string) {
	r.mu.Lock()
	r.name = name
	r.mu.Unlock()
	if r.send(protocol.RoomRequest{Type: protocol.RoomJoin, Name: name, Member: r.member, Secret: r.secret}) {
		r.setStatus("", "joining as "+name+"…")
		r.joinBtn.Set("disabled", true)
	}
}

// offer takes the lessons the relay offers, for the instructor's choice (the first by default).
func (r *roomUI) offer(infos []protocol.ScenarioInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lessons = infos
	cur := r.lessonSel.Get("value").String()
	clear(r.lessonSel)
	for _, in := range infos {
		o := el("option", "", in.Title)
		o.Set("value", in.Name)
		o.Set("title", in.Summary)
		r.lessonSel.Call("append", o)
	}
	if cur != "" {
		r.lessonSel.Set("value", cur)
	}
	if r.lessonSel.Get("value").String() == "" && len(infos) > 0 {
		r.lessonSel.Set("value", infos[0].Name)
	}
	r.enableLocked()
}

func (r *roomUI) runClicked() {
	name := r.lessonSel.Get("value").String()
	if name == "" {
		return
	}
	sr := &protocol.ScenarioRequest{Name: name} // the lesson's defaults
	if r.ownSettings.Get("checked").Bool() {
		r.a.mu.Lock()
		req, ok, err := r.a.lessons.requestFor(name)
		r.a.mu.Unlock()
		if err != nil {
			setError(r.status, "Your Lessons tab settings of that lesson do not make a run: ", err.Error())
			return
		}
		if ok {
			sr = req.Scenario
		}
	}
	if r.send(protocol.RoomRequest{Type: protocol.RoomRun, Run: sr}) {
		r.runBtn.Set("disabled", true)
	}
}

// shareClicked shares the numbers of this page's last lesson run (Lessons tab) with the room.
func (r *roomUI) shareClicked() {
	r.a.mu.Lock()
	name := r.a.lessons.last
	var rep *protocol.ScenarioReport
	if res := r.a.lessons.results[name]; res != nil {
		rep = res.report
	}
	r.a.mu.Unlock()
	if rep == nil || len(rep.Stats) == 0 {
		setText(r.shareStatus, "Nothing to share yet: step out, run a lesson on the Lessons tab, then share it.")
		return
	}
	sh := &protocol.RoomShareData{Lesson: name}
	for _, s := range rep.Stats {
		if len(sh.Metrics) == protocol.RoomMaxShareMetrics {
			break
		}
		sh.Metrics = append(sh.Metrics, protocol.Metric{Transport: s.Transport, Name: s.Name, Unit: s.Unit, Value: s.Mean})
	}
	if r.send(protocol.RoomRequest{Type: protocol.RoomShare, Share: sh}) {
		setText(r.shareStatus, "sharing your “"+rep.Title+"” run…")
	}
}

// setFollow turns following the instructor on or off; on, the room's view is shown and redrawn
// from the room's state.
func (r *roomUI) setFollow(on bool) {
	r.mu.Lock()
	was := r.follow
	r.follow = on
	r.mu.Unlock()
	r.follower.Set("checked", on)
	document.Get("body").Get("dataset").Set("follow", map[bool]string{true: "on", false: "off"}[on])
	if on && !was {
		r.a.showView("room")
	}
	r.render()
}

func (r *roomUI) setStatus(state, text string) {
	setText(r.status, text)
	r.status.Get("dataset").Set("state", state)
}

// enable sets the controls for the connection and the member's role.
func (r *roomUI) enable() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enableLocked()
}

func (r *roomUI) enableLocked() {
	online := r.out != nil
	r.joinForm.Set("hidden", r.joined)
	r.joinBtn.Set("disabled", !online || r.joined)
	inst := r.joined && r.you.Instructor
	r.controls.Set("hidden", !inst)
	r.aggBox.Set("hidden", !inst)
	r.shareRow.Set("hidden", !r.joined || r.you.Instructor)
	running := r.run != nil && !r.done
	r.lessonSel.Set("disabled", !inst || len(r.lessons) == 0)
	r.runBtn.Set("disabled", !online || !inst || running || len(r.lessons) == 0)
	r.stopBtn.Set("disabled", !online || !inst || !running)
	r.shareBtn.Set("disabled", !online || !r.joined)
	r.enableMessageLocked(online, inst)
	r.chat.enableLocked(r.joined)
}

// apply takes one event of the room.
func (r *roomUI) apply(ev protocol.RoomEvent) {
	switchTo := false
	chatAs := "" // join the chat under this name, on this socket (once the room took it)
	r.mu.Lock()
	switch ev.Type {
	case protocol.RoomState:
		if ev.Room == nil {
			break
		}
		st := ev.Room
		first := !r.joined
		r.joined, r.you, r.members = true, st.You, st.Members
		r.run, r.done, r.report, r.runErr = st.Run, st.Run != nil && st.Run.Done, st.Report, st.Error
		r.trace, r.progress = lessonTrace{skipped: uint64(st.EventsSkipped)}, 0
		for _, e := range st.Events {
			r.event(e)
		}
		r.messageFromState(st)
		r.agg = st.Aggregate
		if ls, ok := localStorage(); ok {
			ls.Call("setItem", roomNameKey, st.You.Name)
		}
		r.name = st.You.Name
		role := "participant"
		if st.You.Instructor {
			role = "instructor"
		}
		r.setStatus("open", "In room "+st.Code+" as "+st.You.Name+" ("+role+")")
		if first {
			chatAs = st.You.Name
		}
	case protocol.RoomMemberJoined:
		if ev.Member != nil {
			r.upsert(*ev.Member)
		}
	case protocol.RoomMemberLeft:
		if ev.Member != nil {
			r.members = removeMember(r.members, ev.Member.ID)
		}
	case protocol.RoomLessonStarted:
		if ev.Run != nil {
			r.run, r.done, r.report, r.runErr = ev.Run, false, nil, ""
			r.trace, r.progress = lessonTrace{}, 0
			switchTo = r.follow
		}
	case protocol.RoomLessonEvent:
		if ev.Event != nil && r.run != nil && ev.RunID == r.run.ID {
			r.event(*ev.Event)
		}
	case protocol.RoomLessonDone:
		if r.run != nil && ev.RunID == r.run.ID {
			r.done, r.report, r.runErr = true, ev.Report, ev.Error
		}
	case protocol.RoomShared:
		if ev.Share != nil && ev.Share.Member == r.you.ID {
			setText(r.shareStatus, "Shared your “"+ev.Share.Lesson+"” numbers with the room.")
		}
	case protocol.RoomAggregateType:
		r.mergeAggregate(ev.Aggregate)
	case protocol.RoomMessageStarted, protocol.RoomMessageEvent, protocol.RoomMessageDone:
		r.applyMessageLocked(ev)
		switchTo = ev.Type == protocol.RoomMessageStarted && r.follow
	case protocol.RoomError:
		r.refused(ev)
	}
	r.enableLocked()
	r.mu.Unlock()
	if chatAs != "" {
		r.chat.join(chatAs)
	}
	if switchTo {
		r.a.showView("room")
	}
	r.render()
}

// event takes one live event of the room's run: its packets join the sequence diagram.
func (r *roomUI) event(ev protocol.Event) {
	r.progress++
	if ev.Type != protocol.EventPackets {
		return
	}
	r.trace.skipped += ev.Skipped
	for _, p := range ev.Packets {
		r.trace.pkts = append(r.trace.pkts, p)
		r.trace.seen++
	}
	if n := len(r.trace.pkts); n > maxLessonPkts {
		r.trace.pkts = append(r.trace.pkts[:0], r.trace.pkts[n-maxLessonPkts:]...)
	}
}

// refused shows a refusal of the room in words; a refused join lets the page try again.
func (r *roomUI) refused(ev protocol.RoomEvent) {
	say := ev.Error
	switch ev.Code {
	case protocol.RoomErrNameTaken:
		say = "Someone in the room already has that name; choose another."
	case protocol.RoomErrBadName:
		say = "That name cannot be used: " + ev.Error
	case protocol.RoomErrRateLimited:
		say = "Too fast: " + ev.Error
	case protocol.RoomErrBusy:
		say = "Busy: " + ev.Error
	}
	if !r.joined {
		r.name = ""
		r.nameIn.Call("focus")
	}
	r.setStatus("error", say)
	r.status.Get("dataset").Set("code", ev.Code)
}

func (r *roomUI) upsert(m protocol.RoomMember) {
	for i := range r.members {
		if r.members[i].ID == m.ID {
			r.members[i] = m
			return
		}
	}
	r.members = append(r.members, m)
}

func removeMember(ms []protocol.RoomMember, id string) []protocol.RoomMember {
	out := ms[:0]
	for _, m := range ms {
		if m.ID != id {
			out = append(out, m)
		}
	}
	return out
}

// mergeAggregate replaces the entries of the lessons in agg.
func (r *roomUI) mergeAggregate(agg []protocol.RoomAggregate) {
	lessons := map[string]bool{}
	for _, a := range agg {
		lessons[a.Lesson] = true
	}
	kept := r.agg[:0]
	for _, a := range r.agg {
		if !lessons[a.Lesson] {
			kept = append(kept, a)
		}
	}
	r.agg = append(kept, agg...)
}
