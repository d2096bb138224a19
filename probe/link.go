package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/observe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// LinkOptions describe the emulated link of a probe with Options.Link.
type LinkOptions struct {
	// Spec is the link: a preset ("" is clean), per-direction impairments replacing the preset's,
	// and the seed of its random choices (0 picks 1); see package linkspec. Spec.EditBoth
	// changes fields of both directions on top of the preset (what the command line's --loss,
	// --delay, … do).
	linkspec.Spec
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

func runLink(ctx context.Context, o Options, tracer transports.Tracer, rec *observe.QUIC, qlog *transports.QLog, out io.Writer) (Summary, error) {
	ls, err := linkspec.Resolve(o.Link.Spec, "")
	if err != nil {
		return Summary{}, err
	}
	settings, seed := ls.Settings, ls.Seed
	l, err := link.New(link.Config{Seed: seed, Settings: settings})
	if err != nil {
		return Summary{}, fmt.Errorf("link: %w", err)
	}
	defer l.Close()
	stopCapture, err := capture(l, o.Link.Pcap)
	if err != nil {
		return Summary{}, err
	}
	defer stopCapture()
	eo := transports.EchoOptions{QUICTracer: tracer}
	// The echo endpoints live for the run, not for ctx: a probe that times out still closes
	// its connection and reports what the link did.
	echo, err := transports.StartEcho(context.WithoutCancel(ctx), l.Server(), l.ServerAddr().String(), eo)
	if err != nil {
		return Summary{}, fmt.Errorf("link: %w", err)
	}
	defer echo.Close()
	tg := echo.Target
	o.Network = l.Client()
	o.Addr = map[protocol.Transport]string{protocol.TCP: tg.TCP, protocol.UDP: tg.UDP,
		protocol.QUICStream: tg.QUIC, protocol.QUICDgram: tg.QUIC, protocol.WS: tg.WS}[o.Transport]
	sum, err := probe(ctx, o, tg, rec, out)
	echo.Close()
	waitQLog(qlog)
	sum.addRecovery(rec)
	if err != nil && !sum.stopped() {
		return sum, err
	}
	sum.Link = &LinkSummary{
		Preset:     o.Link.Preset,
		Seed:       seed,
		Up:         linkspec.ToWire(settings.ClientToServer),
		Down:       linkspec.ToWire(settings.ServerToClient),
		UpCounts:   linkspec.WireCounts(l.Counts(link.ClientToServer)),
		DownCounts: linkspec.WireCounts(l.Counts(link.ServerToClient)),
		Pcap:       o.Link.Pcap,
	}
	if cerr := stopCapture(); cerr != nil {
		return sum, errors.Join(err, cerr)
	}
	return sum, errors.Join(err, emitSummary(out, o.JSON, sum))
}

// capture starts writing a pcapng capture of l to the file path ("" is none) and returns what
// stops it and closes the file; every call after the first returns the first one's error.
func capture(l *link.Link, path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	stopCapture, err := l.CapturePcapng(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pcap: %w", err)
	}
	var once sync.Once
	return func() error {
		once.Do(func() {
			if e := errors.Join(stopCapture(), f.Close()); e != nil {
				err = fmt.Errorf("pcap: %w", e)
			}
		})
		return err
	}, nil
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
	if im.QueuePackets > 0 {
		parts = append(parts, fmt.Sprintf("queue %d packets", im.QueuePackets))
	}
	if im.QueueBytes > 0 {
		parts = append(parts, fmt.Sprintf("queue %d bytes", im.QueueBytes))
	}
	if im.Reorder {
		parts = append(parts, "reordering")
	}
	if im.DuplicatePct > 0 {
		parts = append(parts, fmt.Sprintf("duplicate %g%%", im.DuplicatePct))
	}
	if im.Burst != (protocol.BurstLoss{}) {
		b := im.Burst
		parts = append(parts, fmt.Sprintf("bursty loss (p %g%%, r %g%%, bad %g%%, good %g%%)", b.PPct, b.RPct, b.LossBadPct, b.LossGoodPct))
	}
	if im.MTU > 0 {
		parts = append(parts, fmt.Sprintf("mtu %d", im.MTU))
	}
	if im.Blackhole {
		parts = append(parts, "blackhole")
	}
	if im.BlackholeMs > 0 {
		parts = append(parts, fmt.Sprintf("blackhole %g ms", im.BlackholeMs))
	}
	if len(parts) == 0 {
		return "clean"
	}
	return strings.Join(parts, ", ")
}
