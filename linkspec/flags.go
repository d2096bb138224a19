package linkspec

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// Flags are the command-line flags of a link, bound the same way by every command that builds
// one (`wireplay probe --link`, `wireplay run`): --preset and --seed, and one flag per field of
// an impairment, which when given replaces that field in both directions of the preset.
type Flags struct {
	fs        *flag.FlagSet
	Preset    string
	Seed      int64
	loss, dup float64
	delay     time.Duration
	jitter    time.Duration
	reorder   bool
	rate      int64
	queue     int
	queueB    int
	mtu       int
	blackhole time.Duration
	burst     string
}

// FlagNames are the flags AddFlags defines, without their dashes.
var FlagNames = []string{"preset", "seed", "loss", "delay", "jitter", "reorder", "duplicate", "rate", "queue", "queue-bytes", "mtu", "blackhole", "burst"}

// AddFlags defines the link's flags on fs. presetHelp says what the preset is when --preset is
// not given; seedHelp what the seed seeds.
func AddFlags(fs *flag.FlagSet, presetHelp, seedHelp string) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.Preset, "preset", "", "link preset ("+PresetNames()+"); "+presetHelp)
	fs.Int64Var(&f.Seed, "seed", 1, seedHelp)
	fs.Float64Var(&f.loss, "loss", 0, "random loss in percent, each direction (replaces the preset's)")
	fs.DurationVar(&f.delay, "delay", 0, "one-way delay, each direction (the RTT is twice it; replaces the preset's)")
	fs.DurationVar(&f.jitter, "jitter", 0, "± variation of the delay, each direction (at most the delay); packets keep their order unless --reorder")
	fs.BoolVar(&f.reorder, "reorder", false, "let jitter reorder packets, each direction")
	fs.Float64Var(&f.dup, "duplicate", 0, "chance in percent that a packet is delivered twice, each direction")
	fs.Int64Var(&f.rate, "rate", 0, "bandwidth in kbit/s, each direction (0 is unlimited)")
	fs.IntVar(&f.queue, "queue", 0, "with --rate: packets the rate limiter may queue, each direction")
	fs.IntVar(&f.queueB, "queue-bytes", 0, "with --rate: bytes the rate limiter may queue, each direction")
	fs.IntVar(&f.mtu, "mtu", 0, "drop packets larger than this many bytes, each direction (0 is no limit)")
	fs.DurationVar(&f.blackhole, "blackhole", 0, "drop everything for this long from the start, each direction")
	fs.StringVar(&f.burst, "burst", "", "Gilbert–Elliott bursty loss P,R,BAD[,GOOD] in percent, each direction: move good→bad with P, bad→good with R, lose BAD in the bad state (GOOD in the good one); \"\" is off")
	return f
}

// Given lists the link flags given on the command line ("--loss"), in FlagNames' order.
func (f *Flags) Given() []string {
	var out []string
	for _, n := range FlagNames {
		if f.set(n) {
			out = append(out, "--"+n)
		}
	}
	return out
}

func (f *Flags) set(name string) bool {
	found := false
	f.fs.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}

// Spec is the link the flags ask for: the preset (def when --preset is not given), with the
// fields of the flags given replaced in both directions. Its errors name the unknown preset or
// the flag at fault and its value ("--loss 150: must be 0..100"), so Resolve accepts what it
// returns.
func (f *Flags) Spec(def string) (Spec, error) {
	s := Spec{Preset: f.Preset, Seed: f.Seed}
	if f.Preset == "" {
		s.Preset = def
	}
	edits := slices.ContainsFunc(FlagNames[2:], f.set)
	if !edits {
		_, _, err := preset(s.Preset, def)
		return s, err
	}
	if err := f.check(); err != nil {
		return s, err
	}
	burst, err := parseBurst(f.burst)
	if err != nil {
		return s, err
	}
	s, err = s.EditBoth(def, f.edit(burst))
	if err != nil {
		return s, err
	}
	return s, f.checkJitter(s)
}

// check checks each flag given against its range, naming it: "--loss 150: must be 0..100".
func (f *Flags) check() error {
	maxDelay := time.Duration(protocol.MaxDelayMs) * time.Millisecond
	maxBlackhole := time.Duration(protocol.MaxBlackholeMs) * time.Millisecond
	for _, c := range []struct {
		name string
		bad  bool
		val  any
		want string
	}{
		{"loss", !(f.loss >= 0 && f.loss <= 100), f.loss, "0..100"},
		{"delay", f.delay < 0 || f.delay > maxDelay, f.delay, "0.." + maxDelay.String()},
		{"jitter", f.jitter < 0 || f.jitter > maxDelay, f.jitter, "0.." + maxDelay.String() + ", at most the delay"},
		{"duplicate", !(f.dup >= 0 && f.dup <= 100), f.dup, "0..100"},
		{"rate", f.rate < 0 || f.rate > protocol.MaxRateKbps, f.rate, fmt.Sprintf("0..%d (kbit/s)", protocol.MaxRateKbps)},
		{"queue", f.queue < 0 || f.queue > protocol.MaxQueuePackets, f.queue, fmt.Sprintf("0..%d (packets)", protocol.MaxQueuePackets)},
		{"queue-bytes", f.queueB < 0 || f.queueB > protocol.MaxQueueBytes, f.queueB, fmt.Sprintf("0..%d", protocol.MaxQueueBytes)},
		{"mtu", f.mtu != 0 && (f.mtu < protocol.MinMTU || f.mtu > protocol.MaxMTU), f.mtu, fmt.Sprintf("%d..%d, or 0 for no limit", protocol.MinMTU, protocol.MaxMTU)},
		{"blackhole", f.blackhole < 0 || f.blackhole > maxBlackhole, f.blackhole, "0.." + maxBlackhole.String()},
	} {
		if c.bad && f.set(c.name) {
			return fmt.Errorf("--%s %v: must be %s", c.name, c.val, c.want)
		}
	}
	return nil
}

// checkJitter checks that s's jitter is at most its delay in each direction, naming the flag
// that made it more.
func (f *Flags) checkJitter(s Spec) error {
	for _, im := range []*protocol.Impairment{s.Up, s.Down} {
		if im.JitterMs <= im.DelayMs {
			continue
		}
		jitter, delay := ms(im.JitterMs), ms(im.DelayMs)
		if f.set("jitter") {
			return fmt.Errorf("--jitter %v: must be at most the delay (%v)", jitter, delay)
		}
		return fmt.Errorf("--delay %v: must be at least the jitter (%v)", delay, jitter)
	}
	return nil
}

// edit is what the flags given change in a direction of the preset.
func (f *Flags) edit(burst protocol.BurstLoss) func(*protocol.Impairment) {
	return func(im *protocol.Impairment) {
		if f.set("loss") {
			im.LossPct = f.loss
		}
		if f.set("delay") {
			im.DelayMs = toMs(f.delay)
		}
		if f.set("jitter") {
			im.JitterMs = toMs(f.jitter)
		}
		if f.set("reorder") {
			im.Reorder = f.reorder
		}
		if f.set("duplicate") {
			im.DuplicatePct = f.dup
		}
		if f.set("rate") {
			im.RateKbps = f.rate
		}
		if f.set("queue") {
			im.QueuePackets = f.queue
		}
		if f.set("queue-bytes") {
			im.QueueBytes = f.queueB
		}
		if f.set("mtu") {
			im.MTU = f.mtu
		}
		if f.set("blackhole") {
			im.BlackholeMs = toMs(f.blackhole)
		}
		if f.set("burst") {
			im.Burst = burst
		}
	}
}

// parseBurst parses --burst's P,R,BAD[,GOOD] ("" is off).
func parseBurst(v string) (protocol.BurstLoss, error) {
	var b protocol.BurstLoss
	if strings.TrimSpace(v) == "" {
		return b, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) < 3 || len(parts) > 4 {
		return b, fmt.Errorf("--burst %q: want P,R,BAD or P,R,BAD,GOOD in percent", v)
	}
	dst := []*float64{&b.PPct, &b.RPct, &b.LossBadPct, &b.LossGoodPct}
	for i, p := range parts {
		n, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return b, fmt.Errorf("--burst %q: %q is not a number", v, p)
		}
		if !(n >= 0 && n <= 100) {
			return b, fmt.Errorf("--burst %q: %s %g must be 0..100", v, []string{"P", "R", "BAD", "GOOD"}[i], n)
		}
		*dst[i] = n
	}
	return b, nil
}
