package link

import (
	"math"
	"slices"
	"testing"
	"time"
)

// sendNumbered writes datagrams numbered first … first+n-1 of size bytes. The wire logs each one
// before Write returns (netstack writes on the caller's goroutine), so the log is complete when it
// returns; the tests check that it is.
func sendNumbered(t *testing.T, l *Link, c interface{ Write([]byte) (int, error) }, first, n, size int) {
	t.Helper()
	before := l.Counts(ClientToServer).Sent
	for i := range n {
		if _, err := c.Write(numbered(first+i, size)); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Counts(ClientToServer).Sent - before; got != uint64(n) {
		t.Fatalf("wrote %d datagrams, the wire has seen %d", n, got)
	}
}

// dropRun sends n datagrams client→server over a fresh link and returns the indexes the link
// dropped, read from its log.
func dropRun(t *testing.T, seed int64, imp Impairment, n int) []uint64 {
	l := newLink(t, Config{Seed: seed, Settings: Settings{ClientToServer: imp}})
	_, c := udpPair(t, l)
	sendNumbered(t, l, c, 0, n, 100)
	var dropped []uint64
	for _, p := range dirPackets(l, ClientToServer) {
		if p.Fate == Dropped {
			dropped = append(dropped, p.Index)
		}
	}
	return dropped
}

func TestSeedDeterminism(t *testing.T) {
	imp := Impairment{Loss: 0.2, Burst: GilbertElliott{P: 0.05, R: 0.3, LossBad: 0.8}}
	a := dropRun(t, 42, imp, 500)
	b := dropRun(t, 42, imp, 500)
	if len(a) == 0 {
		t.Fatal("no drops at 20% loss")
	}
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different drops:\n%v\n%v", a, b)
	}
	// Jitter and delay do not disturb the drop sequence: fates depend on seed and index only.
	imp2 := imp
	imp2.Delay, imp2.Jitter = 2*time.Millisecond, time.Millisecond
	if c := dropRun(t, 42, imp2, 500); !slices.Equal(a, c) {
		t.Fatalf("adding delay changed the drops:\n%v\n%v", a, c)
	}
	if d := dropRun(t, 43, imp, 500); slices.Equal(a, d) {
		t.Fatal("different seeds dropped the same packets")
	}
	// The link's drops are the fate decider's, packet for packet.
	want, _ := dropped(decideAll(42, imp, t0, 500, 128))
	if !slices.Equal(a, want) {
		t.Fatalf("the link dropped %v, the decider with the same seed %v", a, want)
	}
}

func TestRandomLossBinomial(t *testing.T) {
	const n, p = 4000, 0.05
	l := newLink(t, Config{Seed: 7, Settings: Settings{ClientToServer: Impairment{Loss: p}}})
	pc, c := udpPair(t, l)
	sendNumbered(t, l, c, 0, n, 200)
	cnt := l.Counts(ClientToServer)
	got := readN(t, pc, int(cnt.Delivered))
	lost := n - len(got)
	// Binomial 99% interval: mean ± 2.576 sd. (TestFatesLossBinomial checks the spread over
	// many seeds; this is the link end to end for one.)
	mean, sd := n*p, math.Sqrt(n*p*(1-p))
	lo, hi := mean-2.576*sd, mean+2.576*sd
	t.Logf("lost %d of %d (%.2f%%); 99%% interval [%.0f, %.0f]", lost, n, 100*float64(lost)/n, lo, hi)
	if float64(lost) < lo || float64(lost) > hi {
		t.Errorf("lost %d of %d datagrams, outside the binomial 99%% interval [%.0f, %.0f]", lost, n, lo, hi)
	}
	if cnt.Sent != n || int(cnt.Dropped[RuleLoss]) != lost || cnt.DroppedTotal() != uint64(lost) {
		t.Errorf("counts %+v disagree with the receiver: sent %d, received %d", cnt, n, len(got))
	}
	// The receiver got exactly the datagrams the log says were delivered, in order.
	var want []int
	for _, p := range dirPackets(l, ClientToServer) {
		if p.Fate == Delivered {
			want = append(want, udpNumber(p))
		}
	}
	if !slices.Equal(numbers(got), want) {
		t.Error("the datagrams received are not the ones the log delivered")
	}
	if s := l.Server().Counters(); s.UDPReceiveBufferFull != 0 || s.UDPReceived != uint64(len(got)) {
		t.Errorf("server stack counters %+v, want %d received and no buffer drops", s, len(got))
	}
}

func TestDropNth(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	pc, c := udpPair(t, l)
	sendNumbered(t, l, c, 0, 1, 10) // index 1, before the rule
	if err := l.SetImpairment(ClientToServer, Impairment{DropNth: 3}); err != nil {
		t.Fatal(err)
	}
	sendNumbered(t, l, c, 1, 6, 10)
	// Datagram 3 is the third packet after the rule was set (index 4).
	if got, want := numbers(readN(t, pc, 6)), []int{0, 1, 2, 4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	pk := dirPackets(l, ClientToServer)
	if len(pk) != 7 || pk[3].Fate != Dropped || pk[3].Rule != RuleDropNth || pk[3].Index != 4 {
		t.Fatalf("log: %v", pk)
	}
	if cnt := l.Counts(ClientToServer); cnt.Dropped[RuleDropNth] != 1 || cnt.Delivered != 6 {
		t.Fatalf("counts %+v, want 6 delivered and one dropnth drop (one-shot)", cnt)
	}
}

// TestLiveSetImpairment: impairments change from the next packet. Timing is read from the log
// (each packet's Time, Fate, Rule and Latency); TestWireLiveImpairment checks the same on a fake
// clock, exactly.
func TestLiveSetImpairment(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	pc, c := udpPair(t, l)
	sendNumbered(t, l, c, 0, 10, 50)
	if got := numbers(readN(t, pc, 10)); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("clean: received %v", got)
	}
	if err := l.SetImpairment(ClientToServer, Impairment{Blackhole: true}); err != nil {
		t.Fatal(err)
	}
	if !l.Impairment(ClientToServer).Blackhole {
		t.Fatal("Impairment does not report the blackhole")
	}
	sendNumbered(t, l, c, 100, 10, 50)
	if cnt := l.Counts(ClientToServer); cnt.Dropped[RuleBlackhole] != 10 || cnt.Delivered != 10 {
		t.Fatalf("blackhole: counts %+v, want 10 blackhole drops and nothing more delivered", cnt)
	}
	// A delay applies from the next packet; the first datagram to arrive is that one, so none
	// of the blackholed ones arrived.
	if err := l.SetImpairment(ClientToServer, Impairment{Delay: 40 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sendNumbered(t, l, c, 200, 1, 50)
	if got := numbers(readN(t, pc, 1)); got[0] != 200 {
		t.Fatalf("after the blackhole the first datagram received is %d, want 200", got[0])
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("a 40 ms delay delivered after %v", d) // a lower bound: the wire is never early
	}
	pk := dirPackets(l, ClientToServer)
	if last := pk[len(pk)-1]; last.Latency != 40*time.Millisecond || pk[len(pk)-2].Latency != 0 {
		t.Fatalf("latencies %v then %v, want 0 (blackholed) then 40ms", pk[len(pk)-2].Latency, last.Latency)
	}
	// A timed blackhole ends by itself: what enters inside its window is dropped, what enters
	// after it is delivered.
	before := time.Now()
	if err := l.SetImpairment(ClientToServer, Impairment{BlackholeFor: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	sendNumbered(t, l, c, 300, 5, 50)
	time.Sleep(time.Until(after.Add(150 * time.Millisecond)))
	sendNumbered(t, l, c, 400, 5, 50)
	var delivered []int
	for _, p := range dirPackets(l, ClientToServer) {
		n := udpNumber(p)
		if n < 300 {
			continue
		}
		switch {
		case p.Time.Before(before.Add(150*time.Millisecond)) && p.Rule != RuleBlackhole:
			t.Errorf("datagram %d entered %v into the blackhole and was %s", n, p.Time.Sub(before), p.Fate)
		case !p.Time.Before(after.Add(150*time.Millisecond)) && p.Fate != Delivered:
			t.Errorf("datagram %d entered %v after the blackhole and was %s by %s", n, p.Time.Sub(after), p.Fate, p.Rule)
		case n >= 400 && p.Fate != Delivered:
			t.Errorf("datagram %d sent after the blackhole ended was %s", n, p.Fate)
		}
		if p.Fate == Delivered {
			delivered = append(delivered, n)
		}
	}
	if got := numbers(readN(t, pc, len(delivered))); !slices.Equal(got, delivered) {
		t.Fatalf("after the timed blackhole received %v, the log delivered %v", got, delivered)
	}
}

// TestRateLimitQueueDrops: a burst into a 10-packet queue at 1 Mbit/s. The log is replayed
// through a FIFO at the rate (written here, from the packets' Time and Size): every packet's fate
// and time queued must be what that FIFO gives, however fast the sender managed to write.
func TestRateLimitQueueDrops(t *testing.T) {
	const rate, size, queue = 1_000_000, 1000, 10
	l := newLink(t, Config{Seed: 1, Settings: Settings{ClientToServer: Impairment{RateBitsPerSec: rate, QueuePackets: queue}}})
	pc, c := udpPair(t, l)
	sendNumbered(t, l, c, 0, 50, size)
	cnt := l.Counts(ClientToServer)
	if cnt.Dropped[RuleQueue] == 0 {
		t.Fatalf("no queue drops: %+v", cnt)
	}
	if cnt.Delivered+cnt.Dropped[RuleQueue] != 50 || cnt.Delivered < queue {
		t.Fatalf("counts %+v", cnt)
	}
	got := readN(t, pc, int(cnt.Delivered))
	var (
		busy      time.Time   // when the FIFO's last packet has left
		inQueue   []time.Time // departure times of the packets in the FIFO
		delivered []int
		maxQueued time.Duration
	)
	for _, p := range dirPackets(l, ClientToServer) {
		for len(inQueue) > 0 && !inQueue[0].After(p.Time) {
			inQueue = inQueue[1:]
		}
		if len(inQueue) >= queue {
			if p.Rule != RuleQueue {
				t.Errorf("packet %d met a full queue and was %s %s", p.Index, p.Fate, p.Rule)
			}
			continue
		}
		start := p.Time
		if busy.After(start) {
			start = busy
		}
		busy = start.Add(time.Duration(p.Size) * 8 * time.Second / rate)
		inQueue = append(inQueue, busy)
		if p.Fate != Delivered || p.Queued != start.Sub(p.Time) || p.Latency != busy.Sub(p.Time) {
			t.Errorf("packet %d: %s, queued %v, latency %v; the FIFO says delivered, %v, %v", p.Index, p.Fate, p.Queued, p.Latency, start.Sub(p.Time), busy.Sub(p.Time))
		}
		delivered = append(delivered, udpNumber(p))
		maxQueued = max(maxQueued, p.Queued)
	}
	if !slices.Equal(numbers(got), delivered) {
		t.Errorf("received %v, the log delivered %v", numbers(got), delivered)
	}
	// Nothing waits longer than a full queue ahead of it takes to serialize.
	tx := time.Duration(size+28) * 8 * time.Second / rate
	if maxQueued > time.Duration(queue)*tx {
		t.Errorf("longest queueing %v, more than %d packets' serialization (%v)", maxQueued, queue, time.Duration(queue)*tx)
	}
}

func TestJitterKeepsOrderUnlessReorder(t *testing.T) {
	order := func(reorder bool) (received []int, dueSorted bool) {
		l := newLink(t, Config{Seed: 3, Settings: Settings{ClientToServer: Impairment{
			Delay: 10 * time.Millisecond, Jitter: 8 * time.Millisecond, Reorder: reorder}}})
		pc, c := udpPair(t, l)
		sendNumbered(t, l, c, 0, 100, 20)
		var due []time.Time
		for _, p := range dirPackets(l, ClientToServer) {
			due = append(due, p.Time.Add(p.Latency))
		}
		return numbers(readN(t, pc, 100)), slices.IsSortedFunc(due, func(a, b time.Time) int { return a.Compare(b) })
	}
	if got, due := order(false); !slices.IsSorted(got) || !due {
		t.Errorf("jitter without reorder reordered: due times sorted %v, received %v", due, got)
	}
	if got, due := order(true); slices.IsSorted(got) || due {
		t.Errorf("jitter with reorder kept order: due times sorted %v, received sorted", due)
	}
}

func TestDuplicateAndMTU(t *testing.T) {
	l := newLink(t, Config{Seed: 1, Settings: Settings{ClientToServer: Impairment{Duplicate: 1, MTU: 600}}})
	pc, c := udpPair(t, l)
	sendNumbered(t, l, c, 0, 5, 100)
	sendNumbered(t, l, c, 9, 1, 1000) // over the MTU rule
	cnt := l.Counts(ClientToServer)
	if cnt.Duplicated != 5 || cnt.Dropped[RuleMTU] != 1 {
		t.Fatalf("counts %+v", cnt)
	}
	// 5 duplicated, 1 over MTU: each of 0…4 twice.
	if got := numbers(readN(t, pc, 10)); !slices.Equal(got, []int{0, 0, 1, 1, 2, 2, 3, 3, 4, 4}) {
		t.Fatalf("received %v, want each of 0…4 twice", got)
	}
	if s := l.Server().Counters(); s.UDPReceived != 10 {
		t.Fatalf("the server's stack received %d datagrams, want 10", s.UDPReceived)
	}
}

func TestGilbertElliottBursts(t *testing.T) {
	ge := GilbertElliott{P: 0.05, R: 0.25, LossBad: 1}
	drops := dropRun(t, 11, Impairment{Burst: ge}, 3000)
	// Mean burst length 1/R = 4; loss rate P/(P+R) ≈ 16.7%.
	bursts, run := 0, 0
	for i := range drops {
		if i == 0 || drops[i] != drops[i-1]+1 {
			bursts++
		}
		run++
	}
	mean := float64(run) / float64(bursts)
	rate := float64(len(drops)) / 3000
	t.Logf("GE: %d drops in %d bursts, mean burst %.2f, loss %.1f%%", len(drops), bursts, mean, 100*rate)
	if mean < 3 || mean > 5.5 || rate < 0.11 || rate > 0.23 {
		t.Errorf("mean burst %.2f (want ≈4), loss %.3f (want ≈0.167)", mean, rate)
	}
}

func TestPresets(t *testing.T) {
	want := []string{"clean", "lab-25ms", "wifi", "3g", "long-fat", "satellite", "handshake-loss", "blackhole-2s"}
	var names []string
	for _, p := range Presets {
		names = append(names, p.Name)
		if p.Description == "" {
			t.Errorf("preset %s has no description", p.Name)
		}
		for _, dir := range Directions {
			if err := p.Settings.Get(dir).validate(); err != nil {
				t.Errorf("preset %s: %v", p.Name, err)
			}
		}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("presets %v, want %v", names, want)
	}
	s, ok := Preset("blackhole-2s")
	if !ok || s.ClientToServer.BlackholeFor != 2*time.Second || s.ServerToClient.BlackholeFor != 2*time.Second {
		t.Fatalf("blackhole-2s = %+v, %v", s, ok)
	}
	if s, _ := Preset("wifi"); s.ClientToServer.Loss != 0.02 || s.ClientToServer.Delay != 20*time.Millisecond {
		t.Fatalf("wifi = %+v", s)
	}
	if _, ok := Preset("nope"); ok {
		t.Fatal("unknown preset found")
	}
	l := newLink(t, Config{})
	s3g, _ := Preset("3g")
	if err := l.Apply(s3g); err != nil {
		t.Fatal(err)
	}
	if l.Impairment(ServerToClient).RateBitsPerSec != 1_000_000 {
		t.Fatal("Apply did not set the preset")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{CongestionControl: "bbr"},
		{MTU: 100},
		{Settings: Both(Impairment{Loss: 1.5})},
		{Settings: Both(Impairment{Delay: -1})},
	} {
		if l, err := New(cfg); err == nil {
			l.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	l := newLink(t, Config{})
	if err := l.SetImpairment(ClientToServer, Impairment{Duplicate: -0.1}); err == nil {
		t.Error("SetImpairment accepted a negative probability")
	}
}
