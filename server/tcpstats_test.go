package server_test

import (
	"testing"
	"time"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// TCP's stats name both sides: across a lossy link the client's and the server's retransmission
// counters (each stack's own TCP_INFO) equal the segments the packet stream marks as sent again
// in each direction (read off the wire by the observe path, independently of the stacks).
func TestLinkModeTCPRetransBothSides(t *testing.T) {
	s := startServer(t, server.Config{})
	rc, _ := dialRelayWelcome(t, s)
	o := newObserved()
	lossy := &protocol.Impairment{LossPct: 10, DelayMs: 2}
	rc.switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Up: lossy, Down: lossy, Seed: 5}, o)
	const count = 40
	rc.send(protocol.Request{Type: protocol.TypeBurst, ID: 2, Count: count, Size: 1000, Transports: []protocol.Transport{protocol.TCP}})
	rc.until(func(e protocol.Event) bool { o.add(t, e); return o.done[protocol.TCP] >= count })
	// A clean link from now on (a live change keeps the connection): whatever was still being
	// retransmitted settles, and the last message adds no loss, so its stats are final.
	clean := &protocol.Impairment{DelayMs: 2}
	rc.switchLink(3, protocol.LinkRequest{Mode: protocol.ModeLink, Up: clean, Down: clean, Seed: 5}, o)
	rc.settle(500*time.Millisecond, o)
	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 4, Text: "last", Transports: []protocol.Transport{protocol.TCP}})
	var st *protocol.Stats
	rc.until(func(e protocol.Event) bool {
		o.add(t, e)
		if e.Type == protocol.EventStats && e.Req == 4 {
			st = e.Stats
		}
		return st != nil
	})
	if st == nil || st.TCP == nil || st.TCPServer == nil {
		t.Fatalf("stats %+v, want the client's and the server's TCP", st)
	}
	marked := map[string]uint32{}
	for _, p := range o.packets[protocol.TCP] {
		if p.Retransmit {
			marked[p.Dir]++
		}
	}
	t.Logf("client retrans %d, server retrans %d; marked on the wire %v of %d packets", st.TCP.TotalRetrans, st.TCPServer.TotalRetrans, marked, len(o.packets[protocol.TCP]))
	if st.TCP.TotalRetrans != marked["up"] || st.TCPServer.TotalRetrans != marked["down"] {
		t.Errorf("retransmissions: client %d, server %d; the wire shows %d up and %d down", st.TCP.TotalRetrans, st.TCPServer.TotalRetrans, marked["up"], marked["down"])
	}
	if marked["up"]+marked["down"] == 0 {
		t.Error("no retransmission at 10% loss each way: the check proved nothing")
	}
}
