package rooms

import (
	"github.com/wireplay/wireplay/internal/wsqueue"
	"golang.org/x/time/rate"
)

// member is one connection of a room member on this instance. Its Writer queues the room's
// encoded events (shared with the other members: one encoding per event); an idle member costs
// its connection and its reading goroutine, and one that falls Writer.Max events behind is
// closed with 1008.
type member struct {
	wsqueue.Writer
	r          *room
	pub        string // public id
	connID     string
	name       string
	instructor bool
	shares     *rate.Limiter
	replaced   bool // r.mu: another connection of the member took its place
}
