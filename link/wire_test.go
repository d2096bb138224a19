package link

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// The wire's delivery is tested under testing/synctest, on the bubble's fake clock, with each
// NIC attached to a recorder instead of a netstack: netstack's TCP processor goroutines park in
// gVisor's sleep package, which synctest does not count as durably blocked, so a bubble holding
// a real host never sees its clock advance.

// recorder is a NIC's dispatcher that notes when each packet arrives.
type recorder struct {
	mu   sync.Mutex
	at   []time.Time
	data [][]byte
}

func (r *recorder) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	v := pkt.ToView()
	defer v.Release()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, time.Now())
	r.data = append(r.data, append([]byte(nil), v.AsSlice()...))
}

func (*recorder) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}

func (r *recorder) arrivals() ([]time.Time, [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.at), slices.Clone(r.data)
}

// wireOnly is a started link with no hosts: what enters with put arrives at the recorders.
func wireOnly(t testing.TB, cfg Config) (*Link, [2]*recorder) {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	l := newWires(cfg)
	var recs [2]*recorder
	for _, dir := range Directions {
		recs[1-dir] = &recorder{}
		l.nics[1-dir].Attach(recs[1-dir]) // what dir carries arrives at the other NIC
	}
	l.start()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l, recs
}

// put sends a size-byte packet numbered i onto dir. It is not IPv4 (its first byte is 0): the
// log decodes nothing from it, and these tests need nothing decoded.
func put(l *Link, dir Direction, i, size int) {
	l.send(dir, buffer.NewViewWithData(numbered(i, size)))
}

// checkArrivals asserts that dir's recorder got exactly the delivered packets of the log, each
// at its Time + Latency on the bubble's clock (twice if duplicated), in order of that time.
func checkArrivals(t *testing.T, l *Link, rec *recorder, dir Direction) {
	t.Helper()
	type arrival struct {
		at time.Time
		n  int
	}
	var want []arrival
	for _, p := range dirPackets(l, dir) {
		if p.Fate != Delivered {
			continue
		}
		a := arrival{p.Time.Add(p.Latency), numberOf(p.Data)}
		want = append(want, a)
		if p.Duplicated {
			want = append(want, a)
		}
	}
	slices.SortStableFunc(want, func(a, b arrival) int { return a.at.Compare(b.at) })
	at, data := rec.arrivals()
	var got []arrival
	for i := range at {
		got = append(got, arrival{at[i], numberOf(data[i])})
	}
	if !slices.Equal(got, want) {
		t.Errorf("arrivals (time, packet):\n got %v\nwant %v", got, want)
	}
}

// TestWireDeliversOnTime: each packet arrives exactly at the time the log says it was due, for
// plain delay, jitter with and without reordering, a rate queue and duplication.
func TestWireDeliversOnTime(t *testing.T) {
	for _, c := range []struct {
		name string
		imp  Impairment
	}{
		{"delay", Impairment{Delay: 40 * time.Millisecond}},
		{"jitter in order", Impairment{Delay: 10 * time.Millisecond, Jitter: 8 * time.Millisecond}},
		{"jitter reorder", Impairment{Delay: 10 * time.Millisecond, Jitter: 8 * time.Millisecond, Reorder: true}},
		{"rate queue", Impairment{RateBitsPerSec: 1_000_000, QueuePackets: 10, Delay: 5 * time.Millisecond}},
		{"duplicate and loss", Impairment{Delay: time.Millisecond, Duplicate: 0.3, Loss: 0.2}},
		{"no delay", Impairment{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l, recs := wireOnly(t, Config{Seed: 3, Settings: Settings{ClientToServer: c.imp}})
				for i := range 50 {
					put(l, ClientToServer, i, 1000)
					time.Sleep(500 * time.Microsecond)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				checkArrivals(t, l, recs[ServerToClient], ClientToServer)
				cnt := l.Counts(ClientToServer)
				at, _ := recs[ServerToClient].arrivals()
				if uint64(len(at)) != cnt.Delivered+cnt.Duplicated || cnt.Sent != 50 {
					t.Errorf("%d arrivals, counts %+v", len(at), cnt)
				}
			})
		})
	}
}

// TestWireQueueDropsOnClock: a burst into a 10-packet queue at 1 Mbit/s passes exactly 10
// packets, each leaving one serialization time after the one ahead of it.
func TestWireQueueDropsOnClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, size = 1_000_000, 1000
		l, recs := wireOnly(t, Config{Seed: 1, Settings: Settings{ClientToServer: Impairment{RateBitsPerSec: rate, QueuePackets: 10}}})
		start := time.Now()
		for i := range 50 {
			put(l, ClientToServer, i, size)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		cnt := l.Counts(ClientToServer)
		if cnt.Delivered != 10 || cnt.Dropped[RuleQueue] != 40 {
			t.Fatalf("counts %+v, want 10 delivered and 40 queue drops", cnt)
		}
		at, data := recs[ServerToClient].arrivals()
		tx := serialization(size, rate)
		for i := range at {
			if numberOf(data[i]) != i || at[i].Sub(start) != time.Duration(i+1)*tx {
				t.Errorf("arrival %d: packet %d at +%v, want packet %d at +%v", i, numberOf(data[i]), at[i].Sub(start), i, time.Duration(i+1)*tx)
			}
		}
	})
}

// TestWireLiveImpairment: SetImpairment takes effect from the next packet on the bubble's clock:
// a blackhole for 150 ms drops exactly what enters in that window, and a delay applies to the
// packets sent after it was set, not to those already on the wire.
func TestWireLiveImpairment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, recs := wireOnly(t, Config{Seed: 1, Settings: Settings{ClientToServer: Impairment{Delay: 100 * time.Millisecond}}})
		put(l, ClientToServer, 0, 100) // due at +100 ms
		if err := l.SetImpairment(ClientToServer, Impairment{BlackholeFor: 150 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		put(l, ClientToServer, 1, 100)
		time.Sleep(150*time.Millisecond - time.Nanosecond)
		put(l, ClientToServer, 2, 100)
		time.Sleep(time.Nanosecond)
		put(l, ClientToServer, 3, 100)
		if err := l.SetImpairment(ClientToServer, Impairment{Delay: 40 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		put(l, ClientToServer, 4, 100)
		time.Sleep(time.Second)
		synctest.Wait()
		var fates []string
		for _, p := range dirPackets(l, ClientToServer) {
			fates = append(fates, string(p.Fate)+"/"+string(p.Rule)+"/"+p.Latency.String())
		}
		want := []string{"delivered//100ms", "dropped/blackhole/0s", "dropped/blackhole/0s", "delivered//0s", "delivered//40ms"}
		if !slices.Equal(fates, want) {
			t.Errorf("fates %v, want %v", fates, want)
		}
		checkArrivals(t, l, recs[ServerToClient], ClientToServer)
	})
}
