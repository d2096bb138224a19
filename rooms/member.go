package rooms

import (
	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/internal/wsqueue"
	"golang.org/x/time/rate"
)

// member is one connection of a room member on this instance. Its Writer queues the room's
// encoded events (shared with the other members: one encoding per event); an idle member costs
// its connection and its reading goroutine, and one that falls Writer.Max events behind is
// closed with 1008.
type member struct {
	wsqueue.Writer
	conn       *websocket.Conn // what serve reads (Writer.Conn writes to it)
	r          *room
	pub        string // public id
	connID     string
	name       string
	instructor bool
	shares     *rate.Limiter
	replaced   bool // r.mu: another connection of the member took its place
	// chat is the member's chat on this socket once it joined it (r.mu; serve sets it).
	chat *chat.Member
}

// chatSink is the member's queue as the chat's sink: a member the chat finds too slow is
// dropped from the room as well.
type chatSink struct{ m *member }

func (s chatSink) Send(msg []byte) bool {
	if s.m.Send(msg) {
		go s.m.r.drop(s.m) // the chat holds its room's lock; the room takes its own
		return true
	}
	return false
}

func (s chatSink) Finish(code websocket.StatusCode, reason string) { s.m.Finish(code, reason) }
