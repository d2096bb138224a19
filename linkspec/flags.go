package linkspec

import (
	"flag"
	"slices"
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
}

// FlagNames are the flags AddFlags defines, without their dashes.
var FlagNames = []string{"preset", "seed", "loss", "delay", "jitter", "reorder", "duplicate", "rate", "queue", "queue-bytes", "mtu", "blackhole"}

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
// fields of the flags given replaced in both directions.
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
	return s.EditBoth(def, func(im *protocol.Impairment) {
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
	})
}
