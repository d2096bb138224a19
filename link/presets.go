package link

import "time"

// NamedPreset is a ready-made impairment for both directions.
type NamedPreset struct {
	Name        string
	Description string
	Settings    Settings
}

// Presets are the named link conditions, in display order. Every delay is one-way and applies
// in each direction, so a preset's round-trip time is twice its delay; rates apply to each
// direction separately.
var Presets = []NamedPreset{
	{"clean", "no impairment: as fast as the two netstacks go", Settings{}},
	{"lab-25ms", "lab wire: 25 ms each way (50 ms RTT), no loss: timings read cleanly in round trips",
		Both(Impairment{Delay: 25 * time.Millisecond})},
	{"wifi", "busy Wi-Fi: 20 ms each way (40 ms RTT), 2% random loss each way",
		Both(Impairment{Delay: 20 * time.Millisecond, Loss: 0.02})},
	{"3g", "3G mobile: 150 ms each way (300 ms RTT), 1 Mbit/s each way, 64 KB queue",
		Both(Impairment{Delay: 150 * time.Millisecond, RateBitsPerSec: 1_000_000, QueueBytes: 64 << 10})},
	{"long-fat", "long fat pipe: 100 ms each way (200 ms RTT), 100 Mbit/s each way, 1 BDP (2.5 MB) queue",
		Both(Impairment{Delay: 100 * time.Millisecond, RateBitsPerSec: 100_000_000, QueueBytes: 2_500_000})},
	{"satellite", "geostationary satellite: 300 ms each way (600 ms RTT)",
		Both(Impairment{Delay: 300 * time.Millisecond})},
	{"handshake-loss", "30% random loss each way: handshakes and retransmission timers under stress",
		Both(Impairment{Loss: 0.30})},
	{"blackhole-2s", "the link is dead in both directions for 2 s after it is applied, then clean",
		Both(Impairment{BlackholeFor: 2 * time.Second})},
}

// Preset returns the settings of the named preset.
func Preset(name string) (Settings, bool) {
	for _, p := range Presets {
		if p.Name == name {
			return p.Settings, true
		}
	}
	return Settings{}, false
}
