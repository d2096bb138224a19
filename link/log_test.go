package link

import (
	"sync"
	"testing"
	"time"
)

func TestPacketLogRingAndOnPacket(t *testing.T) {
	l := newLink(t, Config{Seed: 1, LogSize: 50, SnapLen: 40})
	var mu sync.Mutex
	var seen []Packet
	cancel := l.OnPacket(func(p Packet) {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
	})
	pc, c := udpPair(t, l)
	for i := range 120 {
		if _, err := c.Write(numbered(i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	drain(pc, 100*time.Millisecond)
	cancel()
	if _, err := c.Write(numbered(999, 100)); err != nil {
		t.Fatal(err)
	}
	drain(pc, 50*time.Millisecond)

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 120 {
		t.Fatalf("OnPacket saw %d packets, want 120 (and none after cancel)", len(seen))
	}
	pk := l.Packets()
	if len(pk) != 50 {
		t.Fatalf("ring holds %d packets, want 50", len(pk))
	}
	for i, p := range pk {
		if p.Index != uint64(72+i) {
			t.Fatalf("ring[%d] is packet #%d, want #%d (oldest first)", i, p.Index, 72+i)
		}
		if len(p.Data) != 40 || p.Size != 128 {
			t.Fatalf("ring[%d]: %d bytes kept of %d, want 40 of 128", i, len(p.Data), p.Size)
		}
		if p.Decoded.Proto != "udp" || p.Decoded.PayloadLen != 100 {
			t.Fatalf("ring[%d] decoded %+v", i, p.Decoded)
		}
	}
	cnt := l.Counts(ClientToServer)
	if cnt.Sent != 121 || cnt.Delivered != 121 || cnt.DroppedTotal() != 0 || cnt.SentBytes != 121*128 {
		t.Fatalf("counts %+v", cnt)
	}
}
