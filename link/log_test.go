package link

import (
	"context"
	"strings"
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
	_, c := udpPair(t, l)
	// OnPacket runs on the sending goroutine before Write returns: no wait is needed.
	for i := range 120 {
		if _, err := c.Write(numbered(i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if _, err := c.Write(numbered(999, 100)); err != nil {
		t.Fatal(err)
	}

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

// TestDecodeFragments: a UDP datagram over the MTU leaves as IP fragments; only the first carries
// the UDP header, and the others are shown as fragments, not as UDP with ports read from data.
func TestDecodeFragments(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	ctx := context.Background()
	srv, err := l.Server().ListenPacket(ctx, "udp", l.ServerAddr().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := l.Client().Dial(ctx, "udp", srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, 4000)); err != nil {
		t.Fatal(err)
	}
	srv.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound, not a claim
	if n, _, err := srv.ReadFrom(make([]byte, 8000)); err != nil || n != 4000 {
		t.Fatalf("read %d, %v", n, err)
	}
	var first, rest int
	data := 0
	for _, p := range l.Packets() {
		d := p.Decoded
		switch {
		case d.Proto == "udp" && d.FragOffset == 0 && d.MoreFragments:
			first++
			if d.Dst.Port() == 0 || !strings.Contains(d.String(), "first IP fragment") {
				t.Errorf("first fragment %s", d)
			}
			data += d.PayloadLen + 8
		case d.FragOffset > 0:
			rest++
			if d.Src.Port() != 0 || d.Dst.Port() != 0 || !strings.Contains(d.String(), "fragment off=") {
				t.Errorf("later fragment %s", d)
			}
			data += d.PayloadLen
		}
	}
	if first != 1 || rest < 2 || data != 4008 {
		t.Errorf("%d first and %d later fragments carrying %d bytes; want 1, ≥ 2 and 4008 (4000 + the UDP header)", first, rest, data)
	}
}

// TestPacketLogBytes: the log keeps whole packets by default and is bounded in bytes as well as
// in packets, the oldest evicted first.
func TestPacketLogBytes(t *testing.T) {
	const keep = 20
	l := newLink(t, Config{Seed: 1, LogSize: 1000, LogBytes: keep * (packetRecordBytes + 128)})
	_, c := udpPair(t, l)
	for i := range 100 {
		if _, err := c.Write(numbered(i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	pk := l.Packets()
	if len(pk) != keep {
		t.Fatalf("log holds %d packets, want %d (its byte bound)", len(pk), keep)
	}
	for i, p := range pk {
		if want := uint64(100 - keep + 1 + i); p.Index != want {
			t.Fatalf("log[%d] is packet #%d, want #%d", i, p.Index, want)
		}
		if len(p.Data) != p.Size || p.Size != 128 {
			t.Fatalf("log[%d]: %d bytes kept of %d, want the whole 128", i, len(p.Data), p.Size)
		}
	}
	if cfg, _ := (Config{}).withDefaults(); cfg.SnapLen != 65535 || cfg.LogBytes != 16<<20 || cfg.LogSize != 10_000 {
		t.Errorf("defaults: snap %d, log %d packets and %d bytes", cfg.SnapLen, cfg.LogSize, cfg.LogBytes)
	}
}
