package server_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// messageEvents is what one member saw of the instructor's message.
type messageEvents struct {
	started protocol.RoomSendData
	events  []protocol.Event
	done    protocol.RoomEvent
}

func collectMessage(rc *roomClient) messageEvents {
	rc.t.Helper()
	var out messageEvents
	for _, e := range rc.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMessageDone }) {
		switch e.Type {
		case protocol.RoomMessageStarted:
			out.started = *e.Send
		case protocol.RoomMessageEvent:
			if e.SendID != out.started.ID {
				rc.t.Errorf("message_event of %q during message %q", e.SendID, out.started.ID)
			}
			out.events = append(out.events, *e.Event)
		case protocol.RoomMessageDone:
			out.done = e
		}
	}
	return out
}

// TestRoomMessage: the instructor's message crosses the room's emulated link once, over every
// transport, and every member gets the same events of it: each transport's write, echo and stats,
// and the packets the link carried.
func TestRoomMessage(t *testing.T) {
	s := startServer(t, server.Config{InstructorToken: testToken})
	room := mustCreateRoom(t, s)
	inst, _ := joinRoom(t, s, room.Code, "Teacher", "member-teacher", room.Secret)
	ada, _ := joinRoom(t, s, room.Code, "Ada", "member-ada-01", "")
	bo, _ := joinRoom(t, s, room.Code, "Bo", "member-bo-001", "")
	inst.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMemberJoined && e.Member.Name == "Bo" })
	ada.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMemberJoined && e.Member.Name == "Bo" })

	msg := protocol.RoomSendData{Text: "hello, room", Link: &protocol.LinkRequest{Preset: "lab-25ms", Seed: 7}}
	bo.send(protocol.RoomRequest{Type: protocol.RoomSend, Send: &msg})
	if e := bo.reply(); e.Type != protocol.RoomError || e.Code != protocol.RoomErrForbidden {
		t.Errorf("participant's send: %+v, want forbidden", e)
	}
	inst.send(protocol.RoomRequest{Type: protocol.RoomSend, Send: &protocol.RoomSendData{Text: ""}})
	if e := inst.reply(); e.Type != protocol.RoomError || e.Code != protocol.RoomErrBadRequest {
		t.Errorf("empty send: %+v, want bad_request", e)
	}
	inst.send(protocol.RoomRequest{Type: protocol.RoomSend, Send: &protocol.RoomSendData{Text: "x", Link: &protocol.LinkRequest{Preset: "no-such"}}})
	if e := inst.reply(); e.Type != protocol.RoomError || e.Code != protocol.RoomErrBadLesson {
		t.Errorf("send over an unknown preset: %+v, want bad_lesson", e)
	}

	inst.send(protocol.RoomRequest{Type: protocol.RoomSend, Send: &msg})
	got := map[string]messageEvents{}
	for name, rc := range map[string]*roomClient{"instructor": inst, "ada": ada, "bo": bo} {
		got[name] = collectMessage(rc)
	}
	a := got["ada"]
	if a.started.ID == "" || a.started.By != "Teacher" || a.started.Text != msg.Text || a.started.Link == nil || a.started.Link.Preset != "lab-25ms" {
		t.Errorf("message_started %+v", a.started)
	}
	if a.done.Error != "" {
		t.Errorf("message_done: %s", a.done.Error)
	}
	for _, name := range []string{"bo", "instructor"} {
		if o := got[name]; !reflect.DeepEqual(o, a) {
			t.Errorf("%s saw another message than ada: %d events vs %d", name, len(o.events), len(a.events))
		}
	}

	type seen struct{ writes, echoes, stats, packets int }
	per := map[protocol.Transport]*seen{}
	for _, tr := range protocol.Transports {
		per[tr] = &seen{}
	}
	links := 0
	for _, e := range a.events {
		switch e.Type {
		case protocol.EventLink:
			links++
			if e.Link == nil || e.Link.Mode != protocol.ModeLink || e.Link.Preset != "lab-25ms" || e.Link.Seed != 7 {
				t.Errorf("link event %+v", e.Link)
			}
		case protocol.EventWrite:
			per[e.Transport].writes++
		case protocol.EventComplete:
			per[e.Transport].echoes++
			if e.Text != msg.Text {
				t.Errorf("%s echoed %q, want %q", e.Transport, e.Text, msg.Text)
			}
		case protocol.EventStats:
			per[e.Transport].stats++
			if e.Stats == nil || e.Stats.Link == nil || e.Stats.Link.UpSent == 0 || e.Stats.Link.DownSent == 0 {
				t.Errorf("%s stats without the link's counts: %+v", e.Transport, e.Stats)
			}
		case protocol.EventPackets:
			for _, p := range e.Packets {
				if s := per[p.Transport]; s != nil {
					s.packets++
				}
			}
		case protocol.EventError:
			t.Errorf("%s: %s", e.Transport, e.Error)
		}
	}
	if links != 1 {
		t.Errorf("%d link events, want 1", links)
	}
	for _, tr := range protocol.Transports {
		if s := per[tr]; s.writes != 1 || s.echoes != 1 || s.stats != 1 || s.packets == 0 {
			t.Errorf("%s: %d writes, %d echoes, %d stats, %d packets; want 1, 1, 1 and some packets", tr, s.writes, s.echoes, s.stats, s.packets)
		}
	}
	// A member who joins later finds the message, with the same events, in the room's state.
	_, st := joinRoom(t, s, room.Code, "Cy", "member-cy-001", "")
	if st.Message == nil || !reflect.DeepEqual(*st.Message, a.started) || !st.MessageDone || st.MessageError != "" ||
		!reflect.DeepEqual(st.MessageEvents, a.events) || st.MessageSkipped != 0 {
		t.Errorf("the late joiner's state: message %+v, done %v, %d events (want %d)", st.Message, st.MessageDone, len(st.MessageEvents), len(a.events))
	}
	// The link went back: the server's count of emulated links in use is 0 again.
	if n := value(t, scrape(t, s), "wireplay_link_pages"); n != 0 {
		t.Errorf("wireplay_link_pages = %v after the message, want 0", n)
	}
}

// TestRoomMessageBusy: a room message takes one of the server's emulated links; with every one
// held by pages, the instructor is told the server is busy, and once one is free the message goes.
func TestRoomMessageBusy(t *testing.T) {
	s := startServer(t, server.Config{InstructorToken: testToken, MaxLinks: 1})
	room := mustCreateRoom(t, s)
	inst, _ := joinRoom(t, s, room.Code, "Teacher", "member-teacher", room.Secret)
	page, _ := dialRelayWelcome(t, s)
	page.switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "wifi"}, nil)

	msg := protocol.RoomSendData{Text: "busy?", Link: &protocol.LinkRequest{Preset: "lab-25ms"}}
	inst.send(protocol.RoomRequest{Type: protocol.RoomSend, Send: &msg})
	if e := inst.reply(); e.Type != protocol.RoomError || e.Code != protocol.RoomErrBusy || !strings.Contains(e.Error, "too many emulated links") {
		t.Errorf("send with every link taken: %+v, want busy", e)
	}
	// The page goes back to the kernel's loopback: its link is free for the room.
	page.send(protocol.Request{Type: protocol.TypeLink, ID: 2, Link: &protocol.LinkRequest{Mode: protocol.ModeKernel}})
	page.until(func(e protocol.Event) bool { return e.Type == protocol.EventLink && e.Req == 2 })
	inst.send(protocol.RoomRequest{Type: protocol.RoomSend, Send: &msg})
	if m := collectMessage(inst); m.done.Error != "" || m.started.Text != "busy?" {
		t.Errorf("send once a link is free: started %+v, done %+v", m.started, m.done)
	}
}
