package rooms_test

import (
	"context"
	"testing"
	"time"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/rooms"
)

// TestChurnSameMember: a member that joins the room and its chat and drops its socket, again
// and again, gets in every time: its last connection, not yet noticed gone, is replaced, and its
// name is its own in the chat too.
func TestChurnSameMember(t *testing.T) {
	rs, base := serve(t, rooms.Options{Token: "t"})
	room, err := rs.Create(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// An instructor reading all along: the room's events wait their turn behind its.
	inst := join(t, base, room.Code, "Teacher", "member-teacher", room.Secret)
	go func() {
		for {
			if _, _, err := inst.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	for i := range 300 {
		c := join(t, base, room.Code, "Churner", "member-churner", "")
		chatReq(t, c, protocol.ChatRequest{Type: protocol.ChatJoin})
		for {
			e := readEvent(t, c)
			if e.Type == protocol.RoomChat && e.Chat.Type == protocol.ChatWelcome {
				break
			}
			if e.Type == protocol.RoomChat && e.Chat.Type == protocol.ChatError {
				t.Fatalf("join %d: %+v", i, e.Chat)
			}
		}
		c.CloseNow()
	}
}
