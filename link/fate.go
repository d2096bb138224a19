package link

import (
	"math/rand/v2"
	"time"
)

// The fate of a packet: which rule drops it, or how long it waits in the rate queue and on the
// wire and whether it is duplicated. A fates value decides one direction's packets in the order
// they enter, from the Impairment in force, the direction's seeded random source and the clock
// value it is handed. It reads no clock, takes no lock and starts no goroutine: the wire calls it
// under the link's lock, and tests call it with made-up clocks.

// verdict is the fate of one packet.
type verdict struct {
	Index     uint64        // the packet's index within its direction, from 1
	Rule      Rule          // the rule that drops it; "" when it is delivered
	Queued    time.Duration // time waiting behind earlier packets in the rate queue
	Latency   time.Duration // entering the wire to delivery: queue, serialization, delay, jitter
	Duplicate bool          // delivered twice
}

// fates is one direction's fate decider and the state its rules keep between packets.
type fates struct {
	rng *rand.Rand
	imp Impairment

	index          uint64    // packets decided so far
	dropAt         uint64    // index DropNth drops; 0 is none
	blackholeUntil time.Time // end of a BlackholeFor window
	geBad          bool      // Gilbert–Elliott state
	queue          rateQueue
	lastDeliver    time.Time // latest delivery time scheduled, for FIFO order without Reorder
}

// newFates seeds a direction's decider: the same seed gives the same draws on every run, and the
// two directions of one seed draw different streams.
func newFates(seed int64, dir Direction) fates {
	return fates{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15*uint64(dir+1)))}
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

// decide is the fate of the next packet, size bytes (IP header included), entering the wire at
// now. Clocks must not go backwards between calls.
func (f *fates) decide(now time.Time, size int) verdict {
	f.index++
	// Draw the same number of random numbers for every packet, whatever the settings, so
	// packet k's fate depends only on the seed, k and the settings that apply to it.
	var u [5]float64
	for i := range u {
		u[i] = f.rng.Float64()
	}
	v := verdict{Index: f.index}
	burst := f.burstLoss(u[1], u[2])
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

// burstLoss steps the Gilbert–Elliott chain with draw move and says whether the packet is lost
// in the state it lands in (draw loss). With the model off the chain rests in the good state.
func (f *fates) burstLoss(move, loss float64) bool {
	ge := f.imp.Burst
	if !ge.enabled() {
		f.geBad = false
		return false
	}
	if f.geBad {
		if move < ge.R {
			f.geBad = false
		}
	} else if move < ge.P {
		f.geBad = true
	}
	p := ge.LossGood
	if f.geBad {
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
