package scenarios

import (
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
)

// TestWireRoundTrips: a server packet counts as an answer only when sent at least the up-link's
// least delay after the client packet it would answer; a server flight the client acknowledges
// midway is one round trip, not two.
func TestWireRoundTrips(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int, d link.Direction) link.Packet {
		return link.Packet{Time: t0.Add(time.Duration(ms) * time.Millisecond), Dir: d}
	}
	c, s := link.ClientToServer, link.ServerToClient
	const up = 25 * time.Millisecond
	for _, tt := range []struct {
		name string
		pkts []link.Packet
		want int
	}{
		{"tcp: SYN, SYN-ACK, data, echo", []link.Packet{at(0, c), at(25, s), at(50, c), at(75, s)}, 2},
		// QUIC on a busy machine: the server's Handshake packet leaves 3 ms after the client has
		// acknowledged its Initial; then Finished and data, then the echo.
		{"quic: flight split by an ACK", []link.Packet{at(0, c), at(25, s), at(50, c), at(53, s), at(53, c), at(103, s)}, 2},
		{"alternation alone is not an answer", []link.Packet{at(0, c), at(1, s), at(2, c), at(3, s)}, 0},
		{"a server packet before any client packet", []link.Packet{at(0, s), at(10, c), at(35, s)}, 1},
		{"nothing after until", []link.Packet{at(0, c), at(25, s), at(50, c), at(200, s)}, 1},
	} {
		if got := wireRoundTrips(tt.pkts, t0.Add(120*time.Millisecond), up); got != tt.want {
			t.Errorf("%s: %d round trips, want %d", tt.name, got, tt.want)
		}
	}
}
