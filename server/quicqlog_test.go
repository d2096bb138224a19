package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// QUIC packets in link mode carry their packet numbers and frames from the endpoints' qlog: up
// from the client connection's, down from the link echo's server connection's.
func TestLinkModeQUICPacketNumbers(t *testing.T) {
	s := startServer(t, server.Config{LossTimeout: 700 * time.Millisecond})
	rc, _ := dialRelayWelcome(t, s)
	o := newObserved()
	lossy := &protocol.Impairment{LossPct: 10, DelayMs: 2}
	rc.switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Up: lossy, Down: lossy, Seed: 5}, o)
	const count = 40
	rc.send(protocol.Request{Type: protocol.TypeBurst, ID: 2, Count: count, Size: 1000, Transports: []protocol.Transport{protocol.QUICStream}})
	rc.until(func(e protocol.Event) bool { o.add(t, e); return o.done[protocol.QUICStream] >= count })
	rc.settle(300*time.Millisecond, o)

	pkts := o.packets[protocol.QUICStream]
	if len(pkts) == 0 {
		t.Fatal("no QUIC stream packets")
	}
	withPN := map[string]int{}
	frames := map[string]bool{}
	droppedPN, matched, retx := 0, 0, 0
	for _, p := range pkts {
		if !strings.Contains(p.Summary, " pn=") {
			continue
		}
		matched++
		withPN[p.Dir]++
		for _, f := range []string{"STREAM", "ACK[", "CRYPTO"} {
			if strings.Contains(p.Summary, f) {
				frames[f] = true
			}
		}
		if p.Fate == "dropped" {
			droppedPN++
		}
		if p.Retransmit {
			retx++
		}
		if !strings.HasPrefix(p.Summary, "QUIC ") || !strings.Contains(p.Summary, " len=") {
			t.Errorf("summary %q", p.Summary)
		}
	}
	if withPN["up"] == 0 || withPN["down"] == 0 {
		t.Errorf("packets with a packet number: %v; want both directions", withPN)
	}
	for _, f := range []string{"STREAM", "ACK[", "CRYPTO"} {
		if !frames[f] {
			t.Errorf("no %s frame in any summary", f)
		}
	}
	if droppedPN == 0 {
		t.Error("no dropped packet with a packet number")
	}
	if retx == 0 {
		t.Error("no QUIC packet marked as retransmitting stream data")
	}
	if matched < len(pkts)*9/10 {
		t.Errorf("only %d of %d QUIC packets matched their qlog events", matched, len(pkts))
		for _, p := range pkts {
			if !strings.Contains(p.Summary, " pn=") {
				t.Logf("unmatched: %s %s %s", p.Dir, p.Fate, p.Summary)
			}
		}
	}
	if !strings.Contains(pkts[0].Summary, "Initial pn=0 CRYPTO") {
		t.Errorf("first packet %q, want the client's Initial", pkts[0].Summary)
	}
	t.Logf("%d of %d QUIC packets matched (%v), %d dropped with pn, %d retransmissions", matched, len(pkts), withPN, droppedPN, retx)
	for _, p := range pkts[:min(len(pkts), 12)] {
		t.Logf("%s %s retx=%v %s", p.Dir, p.Fate, p.Retransmit, p.Summary)
	}
}
