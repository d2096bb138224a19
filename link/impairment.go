package link

import (
	"fmt"
	"time"
)

// Direction is one half of the link.
type Direction int

const (
	// ClientToServer carries what the client host sends.
	ClientToServer Direction = iota
	// ServerToClient carries what the server host sends.
	ServerToClient
)

// Directions lists both directions in order.
var Directions = [2]Direction{ClientToServer, ServerToClient}

// String returns "c2s" or "s2c".
func (d Direction) String() string {
	switch d {
	case ClientToServer:
		return "c2s"
	case ServerToClient:
		return "s2c"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

func (d Direction) valid() bool { return d == ClientToServer || d == ServerToClient }

// GilbertElliott is the two-state bursty loss model. Before each packet the state moves Good→Bad
// with probability P and Bad→Good with probability R; the packet is then lost with probability
// LossBad in the bad state and LossGood in the good state. The zero value is off.
type GilbertElliott struct {
	P, R              float64
	LossBad, LossGood float64
}

func (g GilbertElliott) enabled() bool { return g.P > 0 || g.LossGood > 0 }

// Impairment is what one direction of the link does to the packets that cross it. The zero value
// is a clean wire. Rules are applied in this order: blackhole, MTU, DropNth, Gilbert–Elliott burst
// loss, random loss, rate limit with its queue; a packet that survives is delayed (Delay ± Jitter,
// plus its time in the queue) and possibly duplicated.
type Impairment struct {
	// Delay is the one-way propagation delay added to every packet.
	Delay time.Duration
	// Jitter spreads each packet's delay uniformly over [Delay-Jitter, Delay+Jitter]. Unless
	// Reorder is set, packets still leave in the order they entered (a packet is never
	// delivered before the one sent ahead of it).
	Jitter time.Duration
	// Reorder lets jitter reorder packets.
	Reorder bool
	// Loss is the probability in [0,1] that a packet is dropped at random (rule "loss").
	Loss float64
	// Burst is Gilbert–Elliott bursty loss (rule "burst").
	Burst GilbertElliott
	// Duplicate is the probability that a delivered packet is delivered twice.
	Duplicate float64
	// RateBitsPerSec limits the bandwidth; 0 is unlimited. Packets wait in a FIFO queue bounded
	// by QueuePackets and QueueBytes (either or both; if both are 0 the queue holds
	// DefaultQueuePackets) and are tail-dropped when it is full (rule "queue").
	RateBitsPerSec int64
	QueuePackets   int
	QueueBytes     int
	// MTU drops packets larger than this many bytes (IP header included) (rule "mtu"); 0 is no
	// limit beyond the NIC's MTU (Config.MTU).
	MTU int
	// DropNth drops the DropNth packet of this direction counted from when this Impairment was
	// applied (1 is the next packet) (rule "dropnth"). One-shot: 0 is off.
	DropNth uint64
	// Blackhole drops everything (rule "blackhole").
	Blackhole bool
	// BlackholeFor drops everything for this long after the Impairment is applied, then the
	// rest of the Impairment takes over (rule "blackhole").
	BlackholeFor time.Duration
}

// DefaultQueuePackets bounds the rate limiter's queue when neither QueuePackets nor QueueBytes is
// set.
const DefaultQueuePackets = 100

func (imp Impairment) validate() error {
	prob := func(name string, p float64) error {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("link: %s = %v is not a probability", name, p)
		}
		return nil
	}
	for _, c := range []struct {
		name string
		p    float64
	}{{"Loss", imp.Loss}, {"Duplicate", imp.Duplicate}, {"Burst.P", imp.Burst.P}, {"Burst.R", imp.Burst.R},
		{"Burst.LossBad", imp.Burst.LossBad}, {"Burst.LossGood", imp.Burst.LossGood}} {
		if err := prob(c.name, c.p); err != nil {
			return err
		}
	}
	if imp.Delay < 0 || imp.Jitter < 0 || imp.BlackholeFor < 0 {
		return fmt.Errorf("link: negative duration in impairment")
	}
	if imp.RateBitsPerSec < 0 || imp.QueuePackets < 0 || imp.QueueBytes < 0 || imp.MTU < 0 {
		return fmt.Errorf("link: negative rate, queue or MTU in impairment")
	}
	return nil
}

// Settings are the impairments of both directions.
type Settings struct {
	ClientToServer Impairment
	ServerToClient Impairment
}

// Both returns Settings with the same impairment in each direction.
func Both(imp Impairment) Settings { return Settings{ClientToServer: imp, ServerToClient: imp} }

// Get returns the impairment for dir.
func (s Settings) Get(dir Direction) Impairment {
	if dir == ServerToClient {
		return s.ServerToClient
	}
	return s.ClientToServer
}
