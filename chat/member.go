package chat

import (
	"github.com/wireplay/wireplay/internal/wsqueue"
	"golang.org/x/time/rate"
)

// member is one connection in a room on this hub. Its Writer queues the room's encoded events
// (shared with the other members: one encoding per event); an idle member costs its connection
// and its reading goroutine, and one that falls Writer.Max events behind is dropped (1008).
type member struct {
	wsqueue.Writer
	r         *room
	id        string
	name      string
	moderator bool
	limiter   *rate.Limiter
}
