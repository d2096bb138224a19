package link

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// t0 is the clock the fate tests start from; any value will do, the deciders read no clock.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// exampleFlow is the flow of the package Example's datagrams: UDP to the first port the server
// host gives a listener, the first flow to it.
var exampleFlow = flowID{proto: 17, server: endpointOf([]byte{127, 0, 1, 2}, firstListenPort)}

// decideAll decides n packets of size bytes of exampleFlow, all entering at clock now, in
// direction c2s.
func decideAll(seed int64, imp Impairment, now time.Time, n, size int) []verdict {
	f := newFates(seed, ClientToServer)
	f.apply(imp, now)
	out := make([]verdict, n)
	for i := range out {
		out[i] = f.decide(now, size, exampleFlow)
	}
	return out
}

// dropped lists the indices of the verdicts that drop their packet, and the rules that did.
func dropped(vs []verdict) (idx []uint64, rules []Rule) {
	for _, v := range vs {
		if v.Rule != "" {
			idx = append(idx, v.Index)
			rules = append(rules, v.Rule)
		}
	}
	return idx, rules
}

// TestFatesDrops: which packet indices each rule drops, exactly, for given seeds and settings.
func TestFatesDrops(t *testing.T) {
	for _, c := range []struct {
		name string
		seed int64
		imp  Impairment
		n    int
		size int
		want []uint64
		rule Rule
	}{
		// The package Example: seed 1, 20% loss on c2s, 20 datagrams.
		{"loss seed 1", 1, Impairment{Loss: 0.2, Delay: 10 * time.Millisecond}, 20, 40, []uint64{3, 14, 16}, RuleLoss},
		{"no loss", 1, Impairment{}, 50, 40, nil, ""},
		{"certain loss", 1, Impairment{Loss: 1}, 4, 40, []uint64{1, 2, 3, 4}, RuleLoss},
		{"dropnth 3", 5, Impairment{DropNth: 3}, 100, 40, []uint64{3}, RuleDropNth},
		{"mtu", 1, Impairment{MTU: 600}, 3, 601, []uint64{1, 2, 3}, RuleMTU},
		{"mtu exactly", 1, Impairment{MTU: 600}, 3, 600, nil, ""},
		{"blackhole", 1, Impairment{Blackhole: true, Loss: 1, MTU: 10}, 5, 40, []uint64{1, 2, 3, 4, 5}, RuleBlackhole},
		{"mtu before dropnth and loss", 1, Impairment{MTU: 10, DropNth: 1, Loss: 1}, 2, 40, []uint64{1, 2}, RuleMTU},
		{"dropnth before loss", 1, Impairment{DropNth: 1, Loss: 1}, 1, 40, []uint64{1}, RuleDropNth},
		// Gilbert–Elliott with certain transitions: Good→Bad on packet 1, Bad→Good on 2, ...
		{"burst alternating", 1, Impairment{Burst: GilbertElliott{P: 1, R: 1, LossBad: 1}}, 8, 40, []uint64{1, 3, 5, 7}, RuleBurst},
		{"burst stays bad", 1, Impairment{Burst: GilbertElliott{P: 1, R: 0, LossBad: 1}}, 4, 40, []uint64{1, 2, 3, 4}, RuleBurst},
		{"burst before loss", 1, Impairment{Burst: GilbertElliott{P: 1, LossBad: 1}, Loss: 1}, 2, 40, []uint64{1, 2}, RuleBurst},
		{"burst good-state loss", 1, Impairment{Burst: GilbertElliott{LossGood: 1}}, 3, 40, []uint64{1, 2, 3}, RuleBurst},
	} {
		t.Run(c.name, func(t *testing.T) {
			idx, rules := dropped(decideAll(c.seed, c.imp, t0, c.n, c.size))
			if !slices.Equal(idx, c.want) {
				t.Errorf("dropped %v, want %v", idx, c.want)
			}
			for _, r := range rules {
				if r != c.rule {
					t.Errorf("dropped by %q, want %q", r, c.rule)
				}
			}
		})
	}
}

// TestFatesDrawLayout: the k-th packet of a flow uses draws 5(k-1) … 5(k-1)+4 of the flow's PCG
// stream (loss, burst move, burst loss, duplicate, jitter), whatever rules are on, so adding a
// delay or a queue never moves which packets the seed drops.
func TestFatesDrawLayout(t *testing.T) {
	const seed, n = 42, 500
	for _, dir := range Directions {
		ref := rand.New(rand.NewPCG(uint64(seed), streamKey(dir, exampleFlow)))
		f := newFates(seed, dir)
		imp := Impairment{Loss: 0.3, Duplicate: 0.4, Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Reorder: true}
		f.apply(imp, t0)
		for k := range n {
			var u [5]float64
			for i := range u {
				u[i] = ref.Float64()
			}
			v := f.decide(t0, 100, exampleFlow)
			if wantDrop := u[0] < imp.Loss; wantDrop != (v.Rule == RuleLoss) {
				t.Fatalf("%v packet %d: rule %q, draw %.3f against loss %.1f", dir, k+1, v.Rule, u[0], imp.Loss)
			}
			if v.Rule != "" {
				continue
			}
			wantLat := imp.Delay + time.Duration((u[4]*2-1)*float64(imp.Jitter))
			if v.Latency != wantLat || v.Duplicate != (u[3] < imp.Duplicate) {
				t.Fatalf("%v packet %d: latency %v dup %v, want %v %v", dir, k+1, v.Latency, v.Duplicate, wantLat, u[3] < imp.Duplicate)
			}
		}
	}
	a, _ := dropped(decideAll(seed, Impairment{Loss: 0.2, Burst: GilbertElliott{P: 0.05, R: 0.3, LossBad: 0.8}}, t0, n, 100))
	b, _ := dropped(decideAll(seed, Impairment{Loss: 0.2, Burst: GilbertElliott{P: 0.05, R: 0.3, LossBad: 0.8},
		Delay: 2 * time.Millisecond, Jitter: time.Millisecond, Duplicate: 0.5}, t0, n, 100))
	c, _ := dropped(decideAll(seed+1, Impairment{Loss: 0.2, Burst: GilbertElliott{P: 0.05, R: 0.3, LossBad: 0.8}}, t0, n, 100))
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Errorf("delay, jitter and duplication changed the drops:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Error("seeds 42 and 43 dropped the same packets")
	}
}

// TestFatesGilbertElliottStates: the chain's state persists across packets, a settings change
// keeps it, and turning the model off returns it to the good state.
func TestFatesGilbertElliottStates(t *testing.T) {
	f := newFates(1, ClientToServer)
	f.apply(Impairment{Burst: GilbertElliott{P: 1, R: 0, LossBad: 1}}, t0)
	if v := f.decide(t0, 40, exampleFlow); v.Rule != RuleBurst || !f.flow(exampleFlow).geBad {
		t.Fatalf("P=1: packet 1 %q, bad %v; want dropped in the bad state", v.Rule, f.flow(exampleFlow).geBad)
	}
	// Still bad with R = 0 and P = 0: only LossBad applies.
	f.apply(Impairment{Burst: GilbertElliott{P: 0, R: 0, LossBad: 1, LossGood: 0.0001}}, t0)
	if v := f.decide(t0, 40, exampleFlow); v.Rule != RuleBurst || !f.flow(exampleFlow).geBad {
		t.Fatalf("after a settings change: %q, bad %v; want the bad state kept", v.Rule, f.flow(exampleFlow).geBad)
	}
	f.apply(Impairment{}, t0)
	if v := f.decide(t0, 40, exampleFlow); v.Rule != "" || f.flow(exampleFlow).geBad {
		t.Fatalf("model off: %q, bad %v; want delivered, good state", v.Rule, f.flow(exampleFlow).geBad)
	}
	f.apply(Impairment{Burst: GilbertElliott{LossBad: 1, LossGood: 0.0001}}, t0)
	for range 100 {
		if v := f.decide(t0, 40, exampleFlow); f.flow(exampleFlow).geBad || v.Rule != "" && v.Rule != RuleBurst {
			t.Fatalf("model back on with P = 0 left the good state: %+v", v)
		}
	}
}

// TestFatesGilbertElliottDistribution: over many seeds, the mean burst length is 1/R and the loss
// rate P/(P+R) (P = 0.05, R = 0.25: 4 packets, 16.7%).
func TestFatesGilbertElliottDistribution(t *testing.T) {
	ge := GilbertElliott{P: 0.05, R: 0.25, LossBad: 1}
	var drops, bursts, total int
	for seed := range int64(20) {
		idx, _ := dropped(decideAll(seed, Impairment{Burst: ge}, t0, 5000, 100))
		for i := range idx {
			if i == 0 || idx[i] != idx[i-1]+1 {
				bursts++
			}
		}
		drops += len(idx)
		total += 5000
	}
	mean, rate := float64(drops)/float64(bursts), float64(drops)/float64(total)
	t.Logf("%d drops in %d bursts: mean burst %.3f, loss %.4f", drops, bursts, mean, rate)
	if math.Abs(mean-4) > 0.2 || math.Abs(rate-0.05/0.3) > 0.01 {
		t.Errorf("mean burst %.3f (want 4 ± 0.2), loss %.4f (want 0.1667 ± 0.01)", mean, rate)
	}
}

// TestFatesLossBinomial: random loss over many seeds has the binomial mean and spread.
func TestFatesLossBinomial(t *testing.T) {
	const n, p, seeds = 4000, 0.05, 50
	mean, sd := n*p, math.Sqrt(n*p*(1-p))
	outside := 0
	for seed := range int64(seeds) {
		idx, _ := dropped(decideAll(seed, Impairment{Loss: p}, t0, n, 100))
		if math.Abs(float64(len(idx))-mean) > 2.576*sd {
			outside++
		}
	}
	// Each seed falls outside the 99% interval with probability 1%: more than 4 of 50 is
	// 0.2% likely for a fair model.
	if outside > 4 {
		t.Errorf("%d of %d seeds lost a count outside the binomial 99%% interval", outside, seeds)
	}
}

// TestFatesBlackholeWindow: BlackholeFor drops everything from the clock it is applied at for its
// length, and nothing from its end on.
func TestFatesBlackholeWindow(t *testing.T) {
	f := newFates(1, ClientToServer)
	f.apply(Impairment{}, t0)
	start := t0.Add(time.Second)
	f.apply(Impairment{BlackholeFor: 150 * time.Millisecond, Delay: 5 * time.Millisecond}, start)
	for _, c := range []struct {
		at   time.Duration
		rule Rule
	}{{0, RuleBlackhole}, {time.Millisecond, RuleBlackhole}, {150*time.Millisecond - 1, RuleBlackhole},
		{150 * time.Millisecond, ""}, {time.Hour, ""}} {
		v := f.decide(start.Add(c.at), 40, exampleFlow)
		if v.Rule != c.rule {
			t.Errorf("%v after the blackhole was applied: rule %q, want %q", c.at, v.Rule, c.rule)
		}
		if v.Rule == "" && v.Latency != 5*time.Millisecond {
			t.Errorf("%v: latency %v, want the 5 ms delay", c.at, v.Latency)
		}
	}
	// A new impairment ends the window.
	f.apply(Impairment{BlackholeFor: time.Hour}, start)
	f.apply(Impairment{}, start)
	if v := f.decide(start, 40, exampleFlow); v.Rule != "" {
		t.Errorf("after replacing the blackhole: %q", v.Rule)
	}
}

// TestFatesDropNthOneShot: DropNth counts from the packet after it is applied, drops once, and
// re-applying it counts again.
func TestFatesDropNthOneShot(t *testing.T) {
	f := newFates(1, ClientToServer)
	f.apply(Impairment{}, t0)
	f.decide(t0, 40, exampleFlow) // index 1, before the rule
	f.apply(Impairment{DropNth: 3}, t0)
	var got []uint64
	for range 20 {
		if v := f.decide(t0, 40, exampleFlow); v.Rule == RuleDropNth {
			got = append(got, v.Index)
		}
	}
	f.apply(Impairment{DropNth: 1}, t0)
	if v := f.decide(t0, 40, exampleFlow); v.Rule == RuleDropNth {
		got = append(got, v.Index)
	}
	if want := []uint64{4, 22}; !slices.Equal(got, want) {
		t.Errorf("dropnth dropped %v, want %v", got, want)
	}
}

// TestFatesRateQueue: packets are serialized at the rate one after another; each waits for the
// bytes queued ahead of it (queue delay = queued bytes × 8 / rate) and the queue tail-drops at its
// bound in packets or bytes.
func TestFatesRateQueue(t *testing.T) {
	const rate, size = 1_000_000, 1028
	tx := serialization(size, rate) // 8.224 ms
	if tx != 8224*time.Microsecond {
		t.Fatalf("serialization of %d bytes at %d bit/s = %v", size, rate, tx)
	}
	delay := 20 * time.Millisecond
	for _, c := range []struct {
		name      string
		imp       Impairment
		delivered int
	}{
		{"10 packets", Impairment{RateBitsPerSec: rate, QueuePackets: 10, Delay: delay}, 10},
		{"5000 bytes", Impairment{RateBitsPerSec: rate, QueueBytes: 5000, Delay: delay}, 4},
		{"both, packets bind", Impairment{RateBitsPerSec: rate, QueuePackets: 3, QueueBytes: 5000, Delay: delay}, 3},
		{"default bound", Impairment{RateBitsPerSec: rate, Delay: delay}, DefaultQueuePackets},
	} {
		t.Run(c.name, func(t *testing.T) {
			vs := decideAll(1, c.imp, t0, 150, size)
			for i, v := range vs {
				if i >= c.delivered {
					if v.Rule != RuleQueue || v.Latency != 0 || v.Queued != 0 {
						t.Fatalf("packet %d: %+v, want a queue drop", v.Index, v)
					}
					continue
				}
				queued := time.Duration(i) * tx // i packets of size bytes ahead
				if v.Rule != "" || v.Queued != queued || v.Latency != queued+tx+delay {
					t.Fatalf("packet %d: %+v, want queued %v, latency %v", v.Index, v, queued, queued+tx+delay)
				}
			}
		})
	}

	// As the clock moves on, packets leave and make room; a packet's wait is what remains of
	// the serialization of those ahead of it.
	f := newFates(1, ClientToServer)
	f.apply(Impairment{RateBitsPerSec: rate, QueuePackets: 2}, t0)
	for _, c := range []struct {
		at     time.Duration
		rule   Rule
		queued time.Duration
	}{
		{0, "", 0},                  // leaves at tx
		{0, "", tx},                 // leaves at 2tx
		{tx - 1, RuleQueue, 0},      // both still queued
		{tx, "", tx},                // the first has left; waits for the second
		{5 * tx, "", 0},             // the queue has emptied
		{5*tx + tx/2, "", tx / 2},   // half of the one ahead remains
		{5*tx + tx/2, RuleQueue, 0}, // full again
	} {
		v := f.decide(t0.Add(c.at), size, exampleFlow)
		if v.Rule != c.rule || v.Queued != c.queued {
			t.Errorf("packet %d at %v: rule %q queued %v, want %q %v", v.Index, c.at, v.Rule, v.Queued, c.rule, c.queued)
		}
	}
	// Setting the rate to 0 empties the queue.
	f.apply(Impairment{}, t0.Add(5*tx))
	f.apply(Impairment{RateBitsPerSec: rate, QueuePackets: 1}, t0.Add(5*tx))
	if v := f.decide(t0.Add(5*tx), size, exampleFlow); v.Rule != "" || v.Queued != 0 {
		t.Errorf("after the rate was turned off and on: %+v", v)
	}
}

// TestFatesDuplicate: a delivered packet is duplicated with the Duplicate probability; a dropped
// one never is.
func TestFatesDuplicate(t *testing.T) {
	for _, c := range []struct {
		imp  Impairment
		want int
	}{{Impairment{Duplicate: 1}, 10}, {Impairment{}, 0}, {Impairment{Duplicate: 1, Loss: 1}, 0}} {
		n := 0
		for _, v := range decideAll(1, c.imp, t0, 10, 40) {
			if v.Duplicate {
				n++
			}
		}
		if n != c.want {
			t.Errorf("%+v: %d of 10 duplicated, want %d", c.imp, n, c.want)
		}
	}
}

// TestFatesJitterOrder: jitter spreads latencies over Delay ± Jitter; without Reorder no packet is
// due before the one ahead of it, with Reorder some are.
func TestFatesJitterOrder(t *testing.T) {
	imp := Impairment{Delay: 10 * time.Millisecond, Jitter: 8 * time.Millisecond}
	for _, reorder := range []bool{false, true} {
		imp.Reorder = reorder
		f := newFates(3, ClientToServer)
		f.apply(imp, t0)
		var due []time.Time
		for k := range 100 {
			now := t0.Add(time.Duration(k) * 100 * time.Microsecond)
			v := f.decide(now, 40, exampleFlow)
			if v.Latency < 2*time.Millisecond || (reorder && v.Latency > 18*time.Millisecond) {
				t.Fatalf("reorder %v: packet %d latency %v outside 10 ms ± 8 ms", reorder, v.Index, v.Latency)
			}
			due = append(due, now.Add(v.Latency))
		}
		sorted := slices.IsSortedFunc(due, func(a, b time.Time) int { return a.Compare(b) })
		if sorted == reorder {
			t.Errorf("reorder %v: delivery times sorted %v", reorder, sorted)
		}
	}
}

// TestFatesRateQueueReference: over a long run of packets of random sizes arriving at random
// times around the rate, every verdict matches a plain FIFO written out here (departure times in
// a slice), through many fills, drains and compactions of the queue's storage.
func TestFatesRateQueueReference(t *testing.T) {
	const rate = 10_000_000
	for _, imp := range []Impairment{
		{RateBitsPerSec: rate, QueuePackets: 300},
		{RateBitsPerSec: rate, QueueBytes: 200_000},
		{RateBitsPerSec: rate, QueuePackets: 5},
	} {
		f := newFates(1, ClientToServer)
		f.apply(imp, t0)
		src := rand.New(rand.NewPCG(7, 7))
		var (
			departures []time.Time
			sizes      []int
			busy       time.Time
			now        = t0
			drops      int
		)
		for i := range 20_000 {
			size := 40 + src.IntN(1461)
			// Mean gap ~ the serialization of a 750-byte packet, in bursts and lulls.
			now = now.Add(time.Duration(src.ExpFloat64() * float64(600*time.Microsecond) * (0.5 + float64(i/2000%2))))
			for len(departures) > 0 && !departures[0].After(now) {
				departures, sizes = departures[1:], sizes[1:]
			}
			queuedBytes := 0
			for _, s := range sizes {
				queuedBytes += s
			}
			full := (imp.QueuePackets > 0 && len(departures) >= imp.QueuePackets) ||
				(imp.QueueBytes > 0 && queuedBytes+size > imp.QueueBytes)
			v := f.decide(now, size, exampleFlow)
			if full {
				drops++
				if v.Rule != RuleQueue {
					t.Fatalf("%+v packet %d: %+v, want a queue drop", imp, v.Index, v)
				}
				continue
			}
			start := now
			if busy.After(now) {
				start = busy
			}
			busy = start.Add(time.Duration(size) * 8 * time.Second / rate)
			departures, sizes = append(departures, busy), append(sizes, size)
			if v.Rule != "" || v.Queued != start.Sub(now) || v.Latency != busy.Sub(now) {
				t.Fatalf("%+v packet %d: %+v, want queued %v, latency %v", imp, v.Index, v, start.Sub(now), busy.Sub(now))
			}
		}
		if drops == 0 || drops > 10_000 {
			t.Errorf("%+v: %d queue drops of 20,000: the run did not exercise the bound", imp, drops)
		}
	}
}
