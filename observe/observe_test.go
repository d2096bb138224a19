package observe_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/observe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// events collects what a Stream emits, checking it is called one at a time.
type events struct {
	mu      sync.Mutex
	busy    bool
	overlap bool
	evs     []protocol.Event
}

func (e *events) emit(ev protocol.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.busy {
		e.overlap = true
	}
	e.busy = true
	e.evs = append(e.evs, ev)
	e.busy = false
}

func (e *events) packets() (pkts []protocol.PacketInfo, skipped uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.evs {
		if ev.Type == protocol.EventPackets {
			pkts = append(pkts, ev.Packets...)
			skipped += ev.Skipped
		}
	}
	return pkts, skipped
}

func newLink(t *testing.T, set link.Settings) *link.Link {
	t.Helper()
	l, err := link.New(link.Config{Settings: set, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// A QUIC connection across the link, both ends traced into one registry, its 8th client packet
// dropped: every QUIC packet the stream describes carries its packet number and frames, from
// the sender's qlog, in both directions, and the retransmitted data is marked.
func TestStreamQUICPacketNumbers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := newLink(t, link.Settings{
		ClientToServer: link.Impairment{Delay: 2 * time.Millisecond, DropNth: 8},
		ServerToClient: link.Impairment{Delay: 2 * time.Millisecond},
	})
	q := observe.NewQUIC()
	var got events
	s := observe.New(observe.Config{Epoch: time.Now(), Emit: got.emit, QUIC: q})
	unsub := l.OnPacket(s.Add)

	stls, err := transports.ServerTLSConfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	var grp transports.Group
	defer grp.Close()
	ln, err := transports.ListenQUIC(ctx, l.Server(), l.ServerAddr().String()+":0", transports.QUICOptions{TLS: stls, Tracer: q.Tracer})
	if err != nil {
		t.Fatal(err)
	}
	grp.Add(ln.Close)
	grp.Go(func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		st, err := c.AcceptStream(ctx)
		if err == nil {
			io.Copy(st, st)
			st.Close()
		}
	})
	c, err := transports.DialQUIC(ctx, l.Client(), ln.Addr().String(), transports.QUICOptions{TLS: transports.ClientTLSConfig(stls), Tracer: q.Tracer})
	if err != nil {
		t.Fatal(err)
	}
	grp.Add(c.Close)
	st, err := c.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(strings.Repeat("x", 1000))
	buf := make([]byte, len(msg))
	for range 20 {
		if _, err := st.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(st, buf); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	c.CloseWithError(0, "")
	unsub()
	s.Stop()

	pkts, skipped := got.packets()
	if skipped != 0 {
		t.Errorf("%d packets skipped", skipped)
	}
	dirs := map[string]int{}
	matched, dropped, retx := 0, 0, 0
	droppedData := false // the dropped packet carried stream data, which must then be sent again
	for _, p := range pkts {
		if p.Transport != "quic" || !strings.Contains(p.Summary, " pn=") {
			continue
		}
		matched++
		dirs[p.Dir]++
		if p.Fate == "dropped" {
			dropped++
			droppedData = strings.Contains(p.Summary, "STREAM")
		}
		if p.Retransmit {
			retx++
		}
	}
	t.Logf("%d of %d packets matched %v, %d dropped, %d retransmitting", matched, len(pkts), dirs, dropped, retx)
	if len(pkts) == 0 || matched < len(pkts)*9/10 {
		t.Errorf("%d of %d QUIC packets carry a packet number", matched, len(pkts))
	}
	if dirs["up"] == 0 || dirs["down"] == 0 {
		t.Errorf("packets with a packet number by direction: %v", dirs)
	}
	// Which packet is the 8th depends on when acknowledgements go out (a busy machine sends
	// them apart): the re-sent data is looked for when the dropped packet carried some.
	if dropped != 1 || (droppedData && retx == 0) {
		t.Errorf("%d dropped packets with a packet number (want the one dropped, which carried stream data: %v), %d marked retransmitting", dropped, droppedData, retx)
	}
	if len(pkts) > 0 && !strings.HasPrefix(pkts[0].Summary, "QUIC Initial pn=0 CRYPTO") {
		t.Errorf("first packet %q, want the client's Initial", pkts[0].Summary)
	}
	if got.overlap {
		t.Error("Emit called concurrently")
	}
}

// sendUDP sends n datagrams up the link and waits until the server has read them all.
func sendUDP(t *testing.T, l *link.Link, n int) {
	t.Helper()
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
	buf := make([]byte, 64)
	for range n {
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		srv.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := srv.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
	}
}

// Every packet is either shown or counted as skipped, whichever bound skips it: the buffer
// (with a batch never due before Stop), the stream's limit, a busy reader. Stop reports them.
func TestStreamSkipCounts(t *testing.T) {
	const n = 30
	for _, tc := range []struct {
		name        string
		cfg         observe.Config
		busy        bool
		wantShown   int
		wantSkipped uint64
	}{
		{"all shown", observe.Config{}, false, n, 0},
		{"buffer", observe.Config{Buffer: 5, Delay: time.Hour}, false, 5, n - 5},
		{"limit", observe.Config{Limit: 12}, false, 12, n - 12},
		{"busy reader", observe.Config{}, true, 0, n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLink(t, link.Settings{})
			var got events
			cfg := tc.cfg
			cfg.Epoch, cfg.Emit = time.Now(), got.emit
			cfg.Busy = func() bool { return tc.busy }
			s := observe.New(cfg)
			unsub := l.OnPacket(s.Add)
			sendUDP(t, l, n)
			unsub()
			s.Stop()
			pkts, skipped := got.packets()
			if len(pkts) != tc.wantShown || skipped != tc.wantSkipped {
				t.Errorf("shown %d, skipped %d; want %d and %d", len(pkts), skipped, tc.wantShown, tc.wantSkipped)
			}
			for _, p := range pkts {
				if p.Transport != protocol.UDP || p.Summary != "UDP len=4" || p.Dir != "up" {
					t.Errorf("packet %+v", p)
				}
			}
			if got.overlap {
				t.Error("Emit called concurrently")
			}
			before := len(got.evs)
			s.Add(link.Packet{})
			s.AddSample(protocol.MetricSample{Transport: protocol.TCP}, true)
			time.Sleep(2 * observe.DefaultDelay)
			if len(got.evs) != before {
				t.Error("events after Stop")
			}
		})
	}
}
