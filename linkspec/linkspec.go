// Package linkspec resolves the emulated link a user asks for — a preset, per-direction
// overrides and a seed — into the link's settings, with one meaning for the page, the lessons,
// `wireplay probe` and `wireplay run`.
//
// The meaning: a Spec names a preset (or takes a default one); Up and Down, when set, are a whole
// direction in the wire form (protocol.Impairment), replacing the preset's; Seed 0 is 1. The wire
// form carries every field of link.Impairment, so a direction built by editing one field of a
// preset's (the page's advanced panel, a command-line flag) keeps all the others. Command-line
// flags are bound by AddFlags, the same way for every command: each flag given changes its field
// in both directions of the preset.
package linkspec

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
)

// DefaultPreset is the preset of a Spec that names none and has no default of its own.
const DefaultPreset = "clean"

// Spec is a link as asked for, in the wire form.
type Spec struct {
	// Preset names one of link.Presets; "" is the default given to Resolve.
	Preset string
	// Up and Down, when set, replace the preset's client→server and server→client direction.
	Up, Down *protocol.Impairment
	// Seed seeds the link's random choices; 0 is 1.
	Seed int64
}

// Link is a resolved Spec: what to build the link with.
type Link struct {
	// Preset is the preset's name.
	Preset string
	// Edited says Up or Down differ from the preset's.
	Edited   bool
	Settings link.Settings
	Seed     int64
}

// Name is the preset's name, with " (edited)" when a direction differs from it.
func (l Link) Name() string {
	if l.Edited {
		return l.Preset + " (edited)"
	}
	return l.Preset
}

// Resolve turns s into the link's settings; def is the preset when s names none ("" is
// DefaultPreset). Its errors name the preset, or the direction, field and value at fault.
func Resolve(s Spec, def string) (Link, error) {
	name, set, err := preset(s.Preset, def)
	if err != nil {
		return Link{}, err
	}
	out := Link{Preset: name, Settings: set, Seed: s.Seed}
	if out.Seed == 0 {
		out.Seed = 1
	}
	for _, d := range []struct {
		name string
		wire *protocol.Impairment
		imp  *link.Impairment
	}{{"up", s.Up, &out.Settings.ClientToServer}, {"down", s.Down, &out.Settings.ServerToClient}} {
		if d.wire == nil {
			continue
		}
		if err := d.wire.Validate(); err != nil {
			return Link{}, fmt.Errorf("link %s: %w", d.name, err)
		}
		if im := FromWire(*d.wire); im != *d.imp {
			*d.imp = im
			out.Edited = true
		}
	}
	return out, nil
}

// preset looks a preset up by name (def, then DefaultPreset, when name is "").
func preset(name, def string) (string, link.Settings, error) {
	if name == "" {
		name = def
	}
	if name == "" {
		name = DefaultPreset
	}
	set, ok := link.Preset(name)
	if !ok {
		return "", set, fmt.Errorf("unknown preset %q (want one of %s)", name, PresetNames())
	}
	return name, set, nil
}

// PresetNames lists link.Presets' names, comma-separated.
func PresetNames() string {
	names := make([]string, 0, len(link.Presets))
	for _, p := range link.Presets {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

// EditBoth returns s with edit applied to both its directions, each starting from s's own (if
// set) or else the preset's (def when s names none).
func (s Spec) EditBoth(def string, edit func(*protocol.Impairment)) (Spec, error) {
	_, set, err := preset(s.Preset, def)
	if err != nil {
		return s, err
	}
	up, down := ToWire(set.ClientToServer), ToWire(set.ServerToClient)
	if s.Up != nil {
		up = *s.Up
	}
	if s.Down != nil {
		down = *s.Down
	}
	edit(&up)
	edit(&down)
	s.Up, s.Down = &up, &down
	return s, nil
}

func ms(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Millisecond))) }

func toMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// FromWire is the link's form of a wire impairment (percentages become probabilities, kbit/s
// bit/s, milliseconds durations).
func FromWire(im protocol.Impairment) link.Impairment {
	return link.Impairment{
		Delay:     ms(im.DelayMs),
		Jitter:    ms(im.JitterMs),
		Reorder:   im.Reorder,
		Loss:      im.LossPct / 100,
		Duplicate: im.DuplicatePct / 100,
		Burst: link.GilbertElliott{P: im.Burst.PPct / 100, R: im.Burst.RPct / 100,
			LossBad: im.Burst.LossBadPct / 100, LossGood: im.Burst.LossGoodPct / 100},
		RateBitsPerSec: im.RateKbps * 1000,
		QueuePackets:   im.QueuePackets,
		QueueBytes:     im.QueueBytes,
		MTU:            im.MTU,
		DropNth:        im.DropNth,
		Blackhole:      im.Blackhole,
		BlackholeFor:   ms(im.BlackholeMs),
	}
}

// ToWire is the wire form of a link impairment; FromWire(ToWire(im)) is im for every preset
// (rates are whole kbit/s on the wire).
func ToWire(im link.Impairment) protocol.Impairment {
	return protocol.Impairment{
		DelayMs:      toMs(im.Delay),
		JitterMs:     toMs(im.Jitter),
		Reorder:      im.Reorder,
		LossPct:      im.Loss * 100,
		DuplicatePct: im.Duplicate * 100,
		Burst: protocol.BurstLoss{PPct: im.Burst.P * 100, RPct: im.Burst.R * 100,
			LossBadPct: im.Burst.LossBad * 100, LossGoodPct: im.Burst.LossGood * 100},
		RateKbps:     im.RateBitsPerSec / 1000,
		QueuePackets: im.QueuePackets,
		QueueBytes:   im.QueueBytes,
		MTU:          im.MTU,
		DropNth:      im.DropNth,
		Blackhole:    im.Blackhole,
		BlackholeMs:  toMs(im.BlackholeFor),
	}
}

// WireCounts is the wire form of one direction's packet counters (rules that dropped nothing
// are left out).
func WireCounts(c link.Counts) protocol.LinkCounts {
	out := protocol.LinkCounts{Sent: c.Sent, Delivered: c.Delivered, Duplicated: c.Duplicated}
	for r, n := range c.Dropped {
		if n == 0 {
			continue
		}
		if out.Dropped == nil {
			out.Dropped = map[string]uint64{}
		}
		out.Dropped[string(r)] = n
	}
	return out
}

// Presets lists link.Presets in the wire form, for the page.
func Presets() []protocol.PresetInfo {
	out := make([]protocol.PresetInfo, 0, len(link.Presets))
	for _, p := range link.Presets {
		out = append(out, protocol.PresetInfo{Name: p.Name, Description: p.Description,
			Up: ToWire(p.Settings.ClientToServer), Down: ToWire(p.Settings.ServerToClient)})
	}
	return out
}
