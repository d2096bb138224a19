package chat

import (
	"context"
	"errors"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/wireplay/wireplay/internal/wsqueue"
	"github.com/wireplay/wireplay/protocol"
)

// Sink is where a member's events go: its own connection's queue (Handler's members), or the
// queue of a socket the chat rides on (a workshop room's, Hub.Join). Send reports whether the
// queue was full, in which case the sink has already closed its connection (1008); Finish closes
// it once what is queued is written. *wsqueue.Writer is one.
type Sink interface {
	Send(msg []byte) (dropped bool)
	Finish(code websocket.StatusCode, reason string)
}

var _ Sink = (*wsqueue.Writer)(nil)

// member is one member of a room on this hub. Its sink queues the room's encoded events (shared
// with the other members: one encoding per event); an idle member costs its connection and its
// reading goroutine, and one that falls its queue's length behind is dropped (1008).
type member struct {
	out       Sink
	conn      *websocket.Conn // Handler's members: the connection serve reads
	inRoom    bool            // events go out wrapped in a room event (protocol.RoomChat)
	owner     string          // the participant it is (Hub.Join), "" for Handler's members
	r         *room
	id        string
	name      string
	moderator bool
	limiter   *rate.Limiter
}

// send queues one encoded event for m, wrapped when its chat rides a room's socket.
func (m *member) send(b []byte) (dropped bool) {
	if m.inRoom {
		b = protocol.ChatInRoom(b)
	}
	return m.out.Send(b)
}

// Member is a member whose chat rides another socket (a workshop room's): Join made it, the
// socket's reader passes it the member's requests, and Leave ends it when the socket ends.
type Member struct{ m *member }

// Join adds a member called name to the room, its events going to out wrapped as
// protocol.RoomChat events, the welcome first. owner names the participant it is, for good: its
// next connection joining as the same owner takes its name back even before this one is seen
// gone (replacing this one), its mute holds, and once the moderator removed it, it cannot join
// again (ChatErrRemoved). A refusal's code is Refusal(err).
func (h *Hub) Join(ctx context.Context, room, name string, moderator bool, owner string, out Sink) (*Member, error) {
	if !ValidRoom(room) {
		return nil, &errJoin{protocol.ChatErrBadRequest, "a room is named by 1 to 64 of A-Z a-z 0-9 _ -"}
	}
	m, err := h.join(ctx, room, name, moderator, func(m *member) { m.out, m.inRoom, m.owner = out, true, owner })
	if err != nil {
		return nil, err
	}
	return &Member{m}, nil
}

// Handle acts on one request of the member; a refusal is sent to its sink as an "error".
func (cm *Member) Handle(ctx context.Context, req protocol.ChatRequest) { cm.m.handle(ctx, req) }

// Leave takes the member out of the room; the others see it leave. It does not close the sink.
func (cm *Member) Leave() { cm.m.r.h.leave(cm.m, protocol.ChatLeftLeft, false) }

// Refusal is the ChatErr code of a refused Join (ChatErrBadRequest when err is not a refusal).
func Refusal(err error) string {
	var ej *errJoin
	if errors.As(err, &ej) {
		return ej.code
	}
	return protocol.ChatErrBadRequest
}

// ErrorEvent encodes a chat "error" event, as Hub.Join's refusals are told to a client.
func ErrorEvent(code, msg string) []byte {
	return encode(protocol.ChatEvent{Type: protocol.ChatError, Code: code, Error: msg})
}
