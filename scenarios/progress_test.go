package scenarios

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wireplay/wireplay/observe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
	"go.uber.org/goleak"
)

// collector gathers the events Progress gets, checking they come one at a time.
type collector struct {
	mu      sync.Mutex
	busy    bool
	evs     []protocol.Event
	overlap bool
	delay   time.Duration
}

func (c *collector) progress(e protocol.Event) {
	c.mu.Lock()
	if c.busy {
		c.overlap = true
	}
	c.busy = true
	c.mu.Unlock()
	time.Sleep(c.delay)
	c.mu.Lock()
	c.busy = false
	c.evs = append(c.evs, e)
	c.mu.Unlock()
}

func (c *collector) events() []protocol.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]protocol.Event(nil), c.evs...)
}

func TestRunProgressPackets(t *testing.T) {
	defer goleak.VerifyNone(t)
	var c collector
	rep, err := Run(context.Background(), udpRTT, Options{Seed: 3, Repeat: 2, Params: map[string]string{"count": "8"}, Progress: c.progress})
	if err != nil {
		t.Fatal(err)
	}
	evs := c.events()
	dirs := map[string]int{}
	n := 0
	var last int64
	for _, e := range evs {
		if e.Type != protocol.EventPackets {
			t.Fatalf("event %+v, want packets", e)
		}
		if len(e.Packets) > observe.MaxBatch {
			t.Errorf("event of %d packets, over %d", len(e.Packets), observe.MaxBatch)
		}
		if e.Skipped != 0 {
			t.Errorf("skipped %d of a small run", e.Skipped)
		}
		for _, p := range e.Packets {
			n++
			dirs[p.Dir]++
			if p.Transport != protocol.UDP || p.Summary != "UDP len=4" || p.Fate != "delivered" || p.Size == 0 {
				t.Errorf("packet %+v", p)
			}
			if p.AtMicros < last {
				t.Errorf("packet at %d µs after one at %d", p.AtMicros, last)
			}
			last = p.AtMicros
		}
	}
	// 8 round trips per run, 2 runs: every packet, both ways, delivered before Run returned.
	if n != 32 || dirs["up"] != 16 || dirs["down"] != 16 {
		t.Errorf("%d packets %v, want 16 up and 16 down", n, dirs)
	}
	if c.overlap {
		t.Error("Progress called concurrently")
	}
	if len(rep.Runs) != 2 {
		t.Errorf("%d runs", len(rep.Runs))
	}
	time.Sleep(2 * ProgressEvery)
	if len(c.events()) != len(evs) {
		t.Error("events after Run returned")
	}
}

// flood sends count datagrams up as fast as it can; the server only counts them.
var flood = &Scenario{
	Name: "test-flood", Title: "UDP flood (engine test)", Summary: "engine test", Preset: "clean",
	Params: []Param{{Name: "count", Label: "datagrams", Kind: KindInt, Default: "3000", Help: "datagrams"}},
	Run: func(ctx context.Context, env *Env) (*Result, error) {
		srv, err := env.Link.Server().ListenPacket(ctx, "udp", env.Link.ServerAddr().String()+":0")
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		c, err := env.Link.Client().Dial(ctx, "udp", srv.LocalAddr().String())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		for range env.Int("count") {
			if _, err := c.Write([]byte("x")); err != nil {
				return nil, err
			}
		}
		return &Result{Conclusion: "sent"}, nil
	},
}

func TestRunProgressBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := collector{delay: 20 * time.Millisecond} // a consumer that falls behind
	start := time.Now()
	if _, err := Run(context.Background(), flood, Options{Params: map[string]string{"count": "5000"}, Progress: c.progress}); err != nil {
		t.Fatal(err)
	}
	evs := c.events()
	var shown, skipped uint64
	for _, e := range evs {
		if len(e.Packets) > observe.MaxBatch {
			t.Errorf("event of %d packets", len(e.Packets))
		}
		shown += uint64(len(e.Packets))
		skipped += e.Skipped
	}
	t.Logf("%d events, %d packets shown, %d skipped, %v", len(evs), shown, skipped, time.Since(start))
	if shown+skipped != 5000 {
		t.Errorf("shown %d + skipped %d, want all 5000 packets accounted for", shown, skipped)
	}
	if shown > ProgressPerRun || shown == 0 || skipped < 5000-ProgressPerRun {
		t.Errorf("shown %d, skipped %d: want at most %d shown", shown, skipped, ProgressPerRun)
	}
	if c.overlap {
		t.Error("Progress called concurrently")
	}
}

// quicEcho echoes a few messages over one QUIC stream, set up as lessons do (Env.QUICConfig).
var quicEcho = &Scenario{
	Name: "test-quic", Title: "QUIC echo (engine test)", Summary: "engine test", Preset: "clean",
	Run: func(ctx context.Context, env *Env) (*Result, error) {
		stls, err := transports.ServerTLSConfig("", "")
		if err != nil {
			return nil, err
		}
		var grp transports.Group
		defer grp.Close()
		ln, err := transports.ListenQUIC(ctx, env.Link.Server(), env.Link.ServerAddr().String()+":0", transports.QUICOptions{TLS: stls, Config: env.QUICConfig()})
		if err != nil {
			return nil, err
		}
		grp.Add(ln.Close)
		grp.Go(func() {
			if c, err := ln.Accept(ctx); err == nil {
				if st, err := c.AcceptStream(ctx); err == nil {
					io.Copy(st, st)
					st.Close()
				}
			}
		})
		c, err := transports.DialQUIC(ctx, env.Link.Client(), ln.Addr().String(), transports.QUICOptions{TLS: transports.ClientTLSConfig(stls), Config: env.QUICConfig()})
		if err != nil {
			return nil, err
		}
		grp.Add(c.Close)
		st, err := c.OpenStreamSync(ctx)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 100)
		for range 5 {
			if _, err := st.Write(buf); err != nil {
				return nil, err
			}
			if _, err := io.ReadFull(st, buf); err != nil {
				return nil, err
			}
		}
		return &Result{Conclusion: "echoed"}, nil
	},
}

// A lesson's QUIC packets reach the page as the Messages view's do: with packet numbers and
// frames from the endpoints' qlog, counted from the caller's epoch.
func TestRunProgressQUICPacketNumbers(t *testing.T) {
	var c collector
	epoch := time.Now().Add(-time.Hour)
	if _, err := Run(context.Background(), quicEcho, Options{Progress: c.progress, Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	total, matched := 0, 0
	for _, e := range c.events() {
		for _, p := range e.Packets {
			total++
			if p.Transport == "quic" && strings.Contains(p.Summary, " pn=") {
				matched++
			}
			if p.AtMicros < time.Hour.Microseconds() {
				t.Errorf("packet at %d µs: not counted from the given epoch", p.AtMicros)
			}
		}
	}
	if total == 0 || matched < total*9/10 {
		t.Errorf("%d of %d packets carry a QUIC packet number", matched, total)
	}
}
