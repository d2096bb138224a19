package link

import (
	"math/rand/v2"
	"time"
)

// The fate of a packet: which rule drops it, or how long it waits in the rate queue and on the
// wire and whether it is duplicated. A fates value decides one direction's packets in the order
// they enter, from the Impairment in force, a seeded random stream per flow (see flow.go) and
// the clock value it is handed. It reads no clock, takes no lock and starts no goroutine: the
// wire calls it under the link's lock, and tests call it with made-up clocks.
//
// What belongs to the direction and what to the flow: the packet index (which DropNth counts),
// the blackhole window, the rate queue (one wire: a packet waits behind every flow's packets) and
// the order of deliveries without Reorder are the direction's. The random draws — loss, the
// Gilbert–Elliott chain and its state, duplication, jitter — come from the packet's flow's stream,
// five per packet, so the k-th packet of a flow meets the same draws whatever other flows send.

// verdict is the fate of one packet.
type verdict struct {
	Index     uint64        // the packet's index within its direction, from 1
	FlowIndex uint64        // the packet's index within its flow and direction, from 1
	Rule      Rule          // the rule that drops it; "" when it is delivered
	Queued    time.Duration // time waiting behind earlier packets in the rate queue
	Latency   time.Duration // entering the wire to delivery: queue, serialization, delay, jitter
	Duplicate bool          // delivered twice
}

// fates is one direction's fate decider and the state its rules keep between packets.
type fates struct {
	seed int64
	dir  Direction
	imp  Impairment

	index          uint64    // packets decided so far
	dropAt         uint64    // index DropNth drops; 0 is none
	blackholeUntil time.Time // end of a BlackholeFor window
	queue          rateQueue
	lastDeliver    time.Time // latest delivery time scheduled, for FIFO order without Reorder
	flows          boundedMap[flowID, *flowFates]
}

// flowFates is one flow's random stream in one direction and the state drawn from it.
type flowFates struct {
	rng   *rand.Rand
	index uint64 // the flow's packets decided so far
	geBad bool   // Gilbert–Elliott state
}

// newFates makes a direction's decider. A flow's stream depends only on the seed, the direction
// and the flow's identity: the same seed gives each flow the same draws on every run, and the
// two directions of a flow draw different streams.
func newFates(seed int64, dir Direction) fates {
	return fates{seed: seed, dir: dir, flows: boundedMap[flowID, *flowFates]{max: maxFlows}}
}

// flow returns id's state, starting its stream on its first packet.
func (f *fates) flow(id flowID) *flowFates {
	if fl, ok := f.flows.get(id); ok {
		return fl
	}
	fl := &flowFates{rng: rand.New(rand.NewPCG(uint64(f.seed), streamKey(f.dir, id)))}
	f.flows.put(id, fl)
	return fl
}

// streamKey is the second word of the PCG seed of id's stream in direction dir.
func streamKey(dir Direction, id flowID) uint64 {
	h := 0x9e3779b97f4a7c15 * uint64(dir+1)
	for _, x := range [...]uint64{uint64(id.proto), uint64(id.server), uint64(id.conn)} {
		h = mix64(h ^ x)
	}
	return h
}

// mix64 is SplitMix64's finalizer: a bijection that spreads every bit of z over the result.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// apply installs an impairment at clock now: DropNth counts from the next packet, BlackholeFor
// starts now, and a rate of 0 empties the rate queue.
func (f *fates) apply(imp Impairment, now time.Time) {
	f.imp = imp
	f.dropAt = 0
	if imp.DropNth > 0 {
		f.dropAt = f.index + imp.DropNth
	}
	f.blackholeUntil = time.Time{}
	if imp.BlackholeFor > 0 {
		f.blackholeUntil = now.Add(imp.BlackholeFor)
	}
	if imp.RateBitsPerSec == 0 {
		f.queue.reset()
	}
}

// decide is the fate of the next packet, size bytes (IP header included) of flow id, entering
// the wire at now. Clocks must not go backwards between calls.
func (f *fates) decide(now time.Time, size int, id flowID) verdict {
	f.index++
	fl := f.flow(id)
	fl.index++
	// Draw the same number of random numbers for every packet, whatever the settings, so the
	// k-th packet of a flow meets draws that depend only on the seed, the flow and k.
	var u [5]float64
	for i := range u {
		u[i] = fl.rng.Float64()
	}
	v := verdict{Index: f.index, FlowIndex: fl.index}
	burst := f.burstLoss(fl, u[1], u[2])
	v.Rule = f.dropRule(now, size, burst, u[0])
	at := now
	if v.Rule == "" && f.imp.RateBitsPerSec > 0 {
		start, done, ok := f.queue.admit(now, size, f.imp)
		if !ok {
			v.Rule = RuleQueue
		} else {
			v.Queued, at = start.Sub(now), done
		}
	}
	if v.Rule != "" {
		return v
	}
	v.Latency = f.delay(at, u[4]).Sub(now)
	v.Duplicate = u[3] < f.imp.Duplicate
	return v
}

// burstLoss steps flow fl's Gilbert–Elliott chain with draw move and says whether the packet is
// lost in the state it lands in (draw loss). With the model off the chain rests in the good
// state.
func (f *fates) burstLoss(fl *flowFates, move, loss float64) bool {
	ge := f.imp.Burst
	if !ge.enabled() {
		fl.geBad = false
		return false
	}
	if fl.geBad {
		if move < ge.R {
			fl.geBad = false
		}
	} else if move < ge.P {
		fl.geBad = true
	}
	p := ge.LossGood
	if fl.geBad {
		p = ge.LossBad
	}
	return loss < p
}

// dropRule applies the drop rules before the queue, in order: blackhole, MTU, DropNth,
// Gilbert–Elliott, random loss (draw loss).
func (f *fates) dropRule(now time.Time, size int, burst bool, loss float64) Rule {
	imp := f.imp
	switch {
	case imp.Blackhole || now.Before(f.blackholeUntil):
		return RuleBlackhole
	case imp.MTU > 0 && size > imp.MTU:
		return RuleMTU
	case f.dropAt != 0 && f.index == f.dropAt:
		return RuleDropNth
	case burst:
		return RuleBurst
	case loss < imp.Loss:
		return RuleLoss
	}
	return ""
}

// delay adds Delay ± Jitter (draw jitter) to at, the time the packet leaves the queue, and keeps
// deliveries in order unless Reorder is set.
func (f *fates) delay(at time.Time, jitter float64) time.Time {
	d := f.imp.Delay
	if f.imp.Jitter > 0 {
		d += time.Duration((jitter*2 - 1) * float64(f.imp.Jitter))
		if d < 0 {
			d = 0
		}
	}
	at = at.Add(d)
	if !f.imp.Reorder && at.Before(f.lastDeliver) {
		at = f.lastDeliver
	}
	if at.After(f.lastDeliver) {
		f.lastDeliver = at
	}
	return at
}
