package rooms_test

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/rooms"
)

// chatReq sends a chat request on the room's socket.
func chatReq(t *testing.T, c *websocket.Conn, req protocol.ChatRequest) {
	t.Helper()
	req.V = protocol.Version
	send(t, c, protocol.RoomRequest{Type: protocol.RoomChat, Chat: &req})
}

// readChat reads the room's events until a chat event of type typ, and returns it; the room's
// own events (member_joined, …) between are skipped, and so are other chat events.
func readChat(t *testing.T, c *websocket.Conn, typ string) protocol.ChatEvent {
	t.Helper()
	for range 100 {
		e := readEvent(t, c)
		if e.Type != protocol.RoomChat {
			continue
		}
		if e.Chat == nil || e.V != protocol.Version || e.Chat.V != protocol.Version {
			t.Fatalf("a chat event on the room's socket: %+v", e)
		}
		if e.Chat.Type == typ {
			return *e.Chat
		}
	}
	t.Fatalf("no chat %q in 100 events", typ)
	return protocol.ChatEvent{}
}

// TestChatOnRoomSocket: the room's chat rides the room's WebSocket (one socket per page): a
// member joins it under its room name, the instructor as moderator; messages reach everyone in
// the order sent; a participant cannot moderate; the instructor's mute holds, across the
// participant's reconnecting too; a removal takes it out of the chat for good, not out of the room.
func TestChatOnRoomSocket(t *testing.T) {
	rs, base := serve(t, rooms.Options{Token: "t"})
	room, err := rs.Create(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	inst := join(t, base, room.Code, "Teacher", "member-teacher", room.Secret)
	ada := join(t, base, room.Code, "Ada", "member-ada-01", "")

	// Before its chat "join", a chat request is refused as a chat error, not a room one.
	chatReq(t, ada, protocol.ChatRequest{Type: protocol.ChatSay, Text: "too early"})
	if e := readChat(t, ada, protocol.ChatError); e.Code != protocol.ChatErrNotJoined {
		t.Fatalf("say before joining the chat: %+v", e)
	}
	chatReq(t, inst, protocol.ChatRequest{Type: protocol.ChatJoin})
	w := readChat(t, inst, protocol.ChatWelcome)
	if w.Name != "Teacher" || len(w.Members) != 1 || !w.Members[0].Moderator || w.Limits == nil {
		t.Fatalf("instructor's welcome: %+v", w)
	}
	// The chat name is the room name, whatever the chat join says.
	chatReq(t, ada, protocol.ChatRequest{Type: protocol.ChatJoin, Name: "Someone Else"})
	w = readChat(t, ada, protocol.ChatWelcome)
	if w.Name != "Ada" || len(w.Members) != 2 {
		t.Fatalf("participant's welcome: %+v", w)
	}
	if e := readChat(t, inst, protocol.ChatJoined); e.Name != "Ada" {
		t.Fatalf("instructor sees %+v", e)
	}

	const n = 5 // the chat's burst
	for i := range n {
		chatReq(t, ada, protocol.ChatRequest{Type: protocol.ChatSay, Text: "m" + string(rune('0'+i))})
	}
	for _, c := range []*websocket.Conn{ada, inst} {
		for i := range n {
			if e := readChat(t, c, protocol.ChatMessage); e.From != "Ada" || e.Text != "m"+string(rune('0'+i)) {
				t.Fatalf("message %d: %+v", i, e)
			}
		}
	}

	chatReq(t, ada, protocol.ChatRequest{Type: protocol.ChatMute, Name: "Teacher"})
	if e := readChat(t, ada, protocol.ChatError); e.Code != protocol.ChatErrForbidden {
		t.Fatalf("a participant's mute: %+v", e)
	}
	chatReq(t, inst, protocol.ChatRequest{Type: protocol.ChatMute, Name: "ada"})
	if e := readChat(t, ada, protocol.ChatMuted); e.Name != "Ada" || e.By != "Teacher" {
		t.Fatalf("muted: %+v", e)
	}
	chatReq(t, ada, protocol.ChatRequest{Type: protocol.ChatSay, Text: "still here"})
	if e := readChat(t, ada, protocol.ChatError); e.Code != protocol.ChatErrMuted {
		t.Fatalf("a muted member's say: %+v", e)
	}

	// The mute is the participant's, not its connection's: Ada reconnects (a reload), muted still.
	ada.CloseNow()
	ada = join(t, base, room.Code, "Ada", "member-ada-01", "")
	chatReq(t, ada, protocol.ChatRequest{Type: protocol.ChatJoin})
	if w := readChat(t, ada, protocol.ChatWelcome); len(w.Members) != 2 || !muted(w.Members, "Ada") {
		t.Fatalf("Ada's welcome again: %+v", w)
	}
	chatReq(t, ada, protocol.ChatRequest{Type: protocol.ChatSay, Text: "back"})
	if e := readChat(t, ada, protocol.ChatError); e.Code != protocol.ChatErrMuted {
		t.Fatalf("a muted member's say after reconnecting: %+v", e)
	}

	// A removal takes the participant out of the chat for good, not out of the room.
	chatReq(t, inst, protocol.ChatRequest{Type: protocol.ChatRemove, Name: "Ada"})
	e := readChat(t, inst, protocol.ChatLeft)
	if e.Reason == protocol.ChatLeftLeft { // Ada's last connection, first
		e = readChat(t, inst, protocol.ChatLeft)
	}
	if e.Name != "Ada" || e.Reason != protocol.ChatLeftRemoved || e.By != "Teacher" {
		t.Fatalf("removed, as the instructor sees it: %+v", e)
	}
	if e := readChat(t, ada, protocol.ChatLeft); e.Name != "Ada" || e.Reason != protocol.ChatLeftRemoved {
		t.Fatalf("removed, as Ada sees it: %+v", e)
	}
	chatReq(t, ada, protocol.ChatRequest{Type: protocol.ChatSay, Text: "hello?"})
	if e := readChat(t, ada, protocol.ChatError); e.Code != protocol.ChatErrNotJoined {
		t.Fatalf("a removed member's say: %+v", e)
	}
	ada.CloseNow()
	ada = join(t, base, room.Code, "Ada", "member-ada-01", "")
	chatReq(t, ada, protocol.ChatRequest{Type: protocol.ChatJoin})
	if e := readChat(t, ada, protocol.ChatError); e.Code != protocol.ChatErrRemoved {
		t.Fatalf("a removed member joining the chat again: %+v", e)
	}
	// Still in the room: the instructor's next share reaches Ada.
	send(t, inst, protocol.RoomRequest{Type: protocol.RoomShare, Share: &protocol.RoomShareData{Lesson: "handshake",
		Metrics: []protocol.Metric{{Transport: "tcp", Name: "first_byte_ms", Unit: "ms", Value: 1}}}})
	for {
		if e := readEvent(t, ada); e.Type == protocol.RoomShared {
			break
		}
	}
}

func muted(ms []protocol.ChatMember, name string) bool {
	for _, m := range ms {
		if m.Name == name {
			return m.Muted
		}
	}
	return false
}
