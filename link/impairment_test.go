package link

import (
	"math"
	"slices"
	"testing"
	"time"
)

// dropRun sends n datagrams client→server over a fresh link and returns the indexes the link
// dropped.
func dropRun(t *testing.T, seed int64, imp Impairment, n int) []uint64 {
	l := newLink(t, Config{Seed: seed, Settings: Settings{ClientToServer: imp}})
	pc, c := udpPair(t, l)
	for i := range n {
		if _, err := c.Write(numbered(i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	drain(pc, 100*time.Millisecond)
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
}

func TestRandomLossBinomial(t *testing.T) {
	const n, p = 4000, 0.05
	l := newLink(t, Config{Seed: 7, Settings: Settings{ClientToServer: Impairment{Loss: p}}})
	pc, c := udpPair(t, l)
	got := make(chan int)
	go func() { got <- len(drain(pc, 300*time.Millisecond)) }()
	for i := range n {
		if _, err := c.Write(numbered(i, 200)); err != nil {
			t.Fatal(err)
		}
		if i%200 == 0 {
			time.Sleep(time.Millisecond) // let the reader keep up
		}
	}
	received := <-got
	lost := n - received
	// Binomial 99% interval: mean ± 2.576 sd.
	mean, sd := n*p, math.Sqrt(n*p*(1-p))
	lo, hi := mean-2.576*sd, mean+2.576*sd
	t.Logf("lost %d of %d (%.2f%%); 99%% interval [%.0f, %.0f]", lost, n, 100*float64(lost)/n, lo, hi)
	if float64(lost) < lo || float64(lost) > hi {
		t.Errorf("lost %d of %d datagrams, outside the binomial 99%% interval [%.0f, %.0f]", lost, n, lo, hi)
	}
	cnt := l.Counts(ClientToServer)
	if cnt.Sent != n || int(cnt.Dropped[RuleLoss]) != lost || int(cnt.Delivered) != received {
		t.Errorf("counts %+v disagree with the receiver: sent %d, received %d", cnt, n, received)
	}
}

func TestDropNth(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	pc, c := udpPair(t, l)
	if _, err := c.Write(numbered(0, 10)); err != nil { // index 1, before the rule
		t.Fatal(err)
	}
	if err := l.SetImpairment(ClientToServer, Impairment{DropNth: 3}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		if _, err := c.Write(numbered(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	for _, d := range drain(pc, 100*time.Millisecond) {
		got = append(got, numberOf(d))
	}
	// Datagram 3 is the third packet after the rule was set (index 4).
	if want := []int{0, 1, 2, 4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	pk := dirPackets(l, ClientToServer)
	if len(pk) != 7 || pk[3].Fate != Dropped || pk[3].Rule != RuleDropNth || pk[3].Index != 4 {
		t.Fatalf("log: %v", pk)
	}
	if n := l.Counts(ClientToServer).Dropped[RuleDropNth]; n != 1 {
		t.Fatalf("dropnth count %d, want 1 (one-shot)", n)
	}
}

func TestLiveSetImpairment(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	pc, c := udpPair(t, l)
	send := func(k int) int {
		for i := range k {
			if _, err := c.Write(numbered(i, 50)); err != nil {
				t.Fatal(err)
			}
		}
		return len(drain(pc, 100*time.Millisecond))
	}
	if got := send(10); got != 10 {
		t.Fatalf("clean: %d of 10 arrived", got)
	}
	if err := l.SetImpairment(ClientToServer, Impairment{Blackhole: true}); err != nil {
		t.Fatal(err)
	}
	if !l.Impairment(ClientToServer).Blackhole {
		t.Fatal("Impairment does not report the blackhole")
	}
	if got := send(10); got != 0 {
		t.Fatalf("blackhole: %d of 10 arrived", got)
	}
	if n := l.Counts(ClientToServer).Dropped[RuleBlackhole]; n != 10 {
		t.Fatalf("blackhole drops %d, want 10", n)
	}
	// A delay applies from the next packet.
	if err := l.SetImpairment(ClientToServer, Impairment{Delay: 40 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Write(numbered(1, 50)); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := pc.ReadFrom(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 80*time.Millisecond {
		t.Fatalf("40 ms delay took %v", d)
	}
	// A timed blackhole ends by itself.
	if err := l.SetImpairment(ClientToServer, Impairment{BlackholeFor: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if got := send(5); got != 0 {
		t.Fatalf("timed blackhole: %d of 5 arrived", got)
	}
	time.Sleep(100 * time.Millisecond)
	if got := send(5); got != 5 {
		t.Fatalf("after the timed blackhole: %d of 5 arrived", got)
	}
}

func TestRateLimitQueueDrops(t *testing.T) {
	const rate, size, queue = 1_000_000, 1000, 10
	l := newLink(t, Config{Seed: 1, Settings: Settings{ClientToServer: Impairment{RateBitsPerSec: rate, QueuePackets: queue}}})
	pc, c := udpPair(t, l)
	for i := range 50 {
		if _, err := c.Write(numbered(i, size)); err != nil {
			t.Fatal(err)
		}
	}
	got := drain(pc, 200*time.Millisecond)
	cnt := l.Counts(ClientToServer)
	if cnt.Dropped[RuleQueue] == 0 {
		t.Fatalf("no queue drops: %+v", cnt)
	}
	if len(got) != int(cnt.Delivered) || cnt.Delivered+cnt.Dropped[RuleQueue] != 50 {
		t.Fatalf("received %d, counts %+v", len(got), cnt)
	}
	if cnt.Delivered < queue || cnt.Delivered > 2*queue {
		t.Fatalf("delivered %d of 50; a %d-packet queue filled in a burst should pass about %d", cnt.Delivered, queue, queue)
	}
	// The last delivered packet waited behind the others: ~ (queue-1) × serialization time.
	tx := time.Duration(size+28) * 8 * time.Second / rate
	var maxQueued time.Duration
	for _, p := range dirPackets(l, ClientToServer) {
		maxQueued = max(maxQueued, p.Queued)
	}
	if maxQueued < time.Duration(queue-2)*tx || maxQueued > time.Duration(queue)*tx {
		t.Errorf("longest queueing %v, want about %v", maxQueued, time.Duration(queue-1)*tx)
	}
}

func TestJitterKeepsOrderUnlessReorder(t *testing.T) {
	order := func(reorder bool) []int {
		l := newLink(t, Config{Seed: 3, Settings: Settings{ClientToServer: Impairment{
			Delay: 10 * time.Millisecond, Jitter: 8 * time.Millisecond, Reorder: reorder}}})
		pc, c := udpPair(t, l)
		for i := range 100 {
			if _, err := c.Write(numbered(i, 20)); err != nil {
				t.Fatal(err)
			}
		}
		var got []int
		for _, d := range drain(pc, 100*time.Millisecond) {
			got = append(got, numberOf(d))
		}
		if len(got) != 100 {
			t.Fatalf("received %d of 100", len(got))
		}
		return got
	}
	if got := order(false); !slices.IsSorted(got) {
		t.Errorf("jitter without reorder reordered: %v", got)
	}
	if got := order(true); slices.IsSorted(got) {
		t.Errorf("jitter with reorder kept order")
	}
}

func TestDuplicateAndMTU(t *testing.T) {
	l := newLink(t, Config{Seed: 1, Settings: Settings{ClientToServer: Impairment{Duplicate: 1, MTU: 600}}})
	pc, c := udpPair(t, l)
	for i := range 5 {
		if _, err := c.Write(numbered(i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(numbered(9, 1000)); err != nil { // over the MTU rule
		t.Fatal(err)
	}
	got := drain(pc, 100*time.Millisecond)
	if len(got) != 10 {
		t.Fatalf("received %d datagrams, want 10 (5 duplicated, 1 over MTU)", len(got))
	}
	cnt := l.Counts(ClientToServer)
	if cnt.Duplicated != 5 || cnt.Dropped[RuleMTU] != 1 {
		t.Fatalf("counts %+v", cnt)
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
