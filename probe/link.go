package probe

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// LinkOptions describe the emulated link of a probe with Options.Link.
type LinkOptions struct {
	// Preset names one of link.Presets ("" is clean).
	Preset string
	// Override, when set, is applied on top of the preset to BOTH directions: every field of
	// Override that is not zero replaces the preset's (so --loss 20 keeps a preset's delay).
	Override link.Impairment
	// Seed seeds the link's random choices (0 picks 1).
	Seed int64
	// Pcap, when set, receives a pcapng capture of every packet of the run, whole, dropped ones
	// included (one interface per direction, each packet's fate in its comment).
	Pcap string
}

// LinkSummary is the emulated link of a probe and what it did to the packets.
type LinkSummary struct {
	Preset string              `json:"preset,omitempty"`
	Seed   int64               `json:"seed"`
	Up     protocol.Impairment `json:"up"`   // client → server
	Down   protocol.Impairment `json:"down"` // server → client
	// Counts per direction over the whole run (handshake and close included).
	UpCounts   protocol.LinkCounts `json:"up_counts"`
	DownCounts protocol.LinkCounts `json:"down_counts"`
	Pcap       string              `json:"pcap,omitempty"`
}

// LinkSettings builds the settings of o: the preset, then the override on both directions.
func LinkSettings(o LinkOptions) (link.Settings, error) {
	s, ok := link.Preset(o.Preset)
	if o.Preset == "" {
		s, ok = link.Settings{}, true
	}
	if !ok {
		var names []string
		for _, p := range link.Presets {
			names = append(names, p.Name)
		}
		return s, fmt.Errorf("unknown preset %q (want one of %s)", o.Preset, strings.Join(names, ", "))
	}
	v := o.Override
	if v.Loss < 0 || v.Loss > 1 || v.Delay < 0 || v.Jitter < 0 || v.RateBitsPerSec < 0 {
		return s, fmt.Errorf("loss must be within 0..100%%, delay, jitter and rate not negative")
	}
	for _, im := range []*link.Impairment{&s.ClientToServer, &s.ServerToClient} {
		if v.Loss != 0 {
			im.Loss = v.Loss
		}
		if v.Delay != 0 {
			im.Delay = v.Delay
		}
		if v.Jitter != 0 {
			im.Jitter = v.Jitter
		}
		if v.RateBitsPerSec != 0 {
			im.RateBitsPerSec = v.RateBitsPerSec
		}
		if im.Jitter > im.Delay {
			return s, fmt.Errorf("jitter %v is more than the delay %v", im.Jitter, im.Delay)
		}
	}
	return s, nil
}

func runLink(ctx context.Context, o Options, qlog *transports.QLog, out io.Writer) (Summary, error) {
	settings, err := LinkSettings(*o.Link)
	if err != nil {
		return Summary{}, fmt.Errorf("probe: link: %w", err)
	}
	seed := o.Link.Seed
	if seed == 0 {
		seed = 1
	}
	l, err := link.New(link.Config{Seed: seed, Settings: settings})
	if err != nil {
		return Summary{}, fmt.Errorf("probe: link: %w", err)
	}
	defer l.Close()
	var pcap *os.File
	var stopCapture func() error
	if o.Link.Pcap != "" {
		if pcap, err = os.Create(o.Link.Pcap); err != nil {
			return Summary{}, fmt.Errorf("probe: pcap: %w", err)
		}
		defer pcap.Close()
		if stopCapture, err = l.CapturePcapng(pcap); err != nil {
			return Summary{}, fmt.Errorf("probe: pcap: %w", err)
		}
		defer func() {
			if stopCapture != nil {
				_ = stopCapture()
			}
		}()
	}
	var eo transports.EchoOptions
	if qlog != nil {
		eo.QUICTracer = qlog.Tracer
	}
	echo, err := transports.StartEcho(ctx, l.Server(), l.ServerAddr().String(), eo)
	if err != nil {
		return Summary{}, fmt.Errorf("probe: link: %w", err)
	}
	defer echo.Close()
	tg := echo.Target
	o.Network = l.Client()
	o.Addr = map[protocol.Transport]string{protocol.TCP: tg.TCP, protocol.UDP: tg.UDP,
		protocol.QUICStream: tg.QUIC, protocol.QUICDgram: tg.QUIC, protocol.WS: tg.WS}[o.Transport]
	sum, err := probe(ctx, o, tg, out)
	echo.Close()
	waitQLog(qlog)
	if err != nil {
		return sum, err
	}
	sum.Link = &LinkSummary{
		Preset:     o.Link.Preset,
		Seed:       seed,
		Up:         toProtocol(settings.ClientToServer),
		Down:       toProtocol(settings.ServerToClient),
		UpCounts:   toCounts(l.Counts(link.ClientToServer)),
		DownCounts: toCounts(l.Counts(link.ServerToClient)),
		Pcap:       o.Link.Pcap,
	}
	if stopCapture != nil {
		err := stopCapture()
		stopCapture = nil
		if err != nil {
			return sum, fmt.Errorf("probe: pcap: %w", err)
		}
		if err := pcap.Close(); err != nil {
			return sum, fmt.Errorf("probe: pcap: %w", err)
		}
	}
	return sum, emitSummary(out, o.JSON, sum)
}

func toProtocol(im link.Impairment) protocol.Impairment {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return protocol.Impairment{
		DelayMs: ms(im.Delay), JitterMs: ms(im.Jitter), Reorder: im.Reorder,
		LossPct: im.Loss * 100, DuplicatePct: im.Duplicate * 100, RateKbps: im.RateBitsPerSec / 1000,
		QueuePackets: im.QueuePackets, BlackholeMs: ms(im.BlackholeFor),
	}
}

func toCounts(c link.Counts) protocol.LinkCounts {
	out := protocol.LinkCounts{Sent: c.Sent, Delivered: c.Delivered, Duplicated: c.Duplicated}
	for r, n := range c.Dropped {
		if n > 0 {
			if out.Dropped == nil {
				out.Dropped = map[string]uint64{}
			}
			out.Dropped[string(r)] = n
		}
	}
	return out
}

func (l *LinkSummary) text() string {
	var b strings.Builder
	name := l.Preset
	if name == "" {
		name = "clean"
	}
	fmt.Fprintf(&b, "link: preset %s, seed %d; up %s; down %s\n", name, l.Seed, impText(l.Up), impText(l.Down))
	for _, d := range []struct {
		name string
		c    protocol.LinkCounts
	}{{"up  ", l.UpCounts}, {"down", l.DownCounts}} {
		var dropped uint64
		var rules []string
		for _, r := range slices.Sorted(maps.Keys(d.c.Dropped)) {
			dropped += d.c.Dropped[r]
			rules = append(rules, fmt.Sprintf("%s %d", r, d.c.Dropped[r]))
		}
		fmt.Fprintf(&b, "link %s: %d packets sent, %d delivered, %d dropped", d.name, d.c.Sent, d.c.Delivered, dropped)
		if len(rules) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(rules, ", "))
		}
		fmt.Fprintf(&b, ", %d duplicated\n", d.c.Duplicated)
	}
	if l.Pcap != "" {
		fmt.Fprintf(&b, "pcapng written to %s\n", l.Pcap)
	}
	return b.String()
}

func impText(im protocol.Impairment) string {
	var parts []string
	if im.DelayMs > 0 {
		parts = append(parts, fmt.Sprintf("delay %g ms", im.DelayMs))
	}
	if im.JitterMs > 0 {
		parts = append(parts, fmt.Sprintf("jitter %g ms", im.JitterMs))
	}
	if im.LossPct > 0 {
		parts = append(parts, fmt.Sprintf("loss %g%%", im.LossPct))
	}
	if im.RateKbps > 0 {
		parts = append(parts, fmt.Sprintf("rate %d kbit/s", im.RateKbps))
	}
	if im.BlackholeMs > 0 {
		parts = append(parts, fmt.Sprintf("blackhole %g ms", im.BlackholeMs))
	}
	if len(parts) == 0 {
		return "clean"
	}
	return strings.Join(parts, ", ")
}
