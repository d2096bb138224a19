package scenarios

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/observe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// Options say how to run a scenario.
type Options struct {
	// Preset names the link preset; "" takes the scenario's own. Settings, when set, replace it.
	Preset   string
	Settings *link.Settings
	// Seed seeds the link of the first run; run i uses Seed+i, so repeats see different drops
	// and the whole series is reproducible. 0 is 1.
	Seed int64
	// Repeat is how many runs; default 1.
	Repeat int
	// Params override the scenario's parameters by name.
	Params map[string]string
	// OutDir, when set, receives each run's pcapng capture — every packet of every link the run
	// built, one section per link — and a qlog of each of its QUIC connections (both ends).
	// Both are recorded off the measurement's path and written out after the run.
	OutDir string
	// Progress receives live events of the runs (see Env.Progress), from goroutines of the
	// runner's own, one at a time: each run's packets through an observe.Stream, as "packets"
	// events of at most observe.MaxBatch packets every ProgressEvery (QUIC packets with their
	// packet numbers and frames). A run forwards at most ProgressPerRun packets and never
	// waits for Progress: what it cannot take in time, or while Busy says so, is counted in
	// the next event's Skipped. All events are delivered before Run returns.
	Progress func(protocol.Event)
	// Busy, when set, tells the packet stream that Progress's reader is behind.
	Busy func() bool
	// Epoch is the time base of every event (Run's start when zero): the relay passes its
	// session's, so a lesson's packets and the Messages view's count from the same origin.
	Epoch time.Time
	// RunDone, when set, is called after each run with how many are done and how many there
	// are in all (the command line shows it on a terminal).
	RunDone func(done, total int)

	// captured, when set, hears of each run's pcapng and how many packets its links sent (tests).
	captured func(path string, sent uint64)
}

// Live packets of a run (Options.Progress).
const (
	ProgressEvery  = 50 * time.Millisecond // how often a batch is sent
	ProgressBuffer = 1024                  // packets waiting for the next batch; more are skipped
	ProgressPerRun = 2000                  // packets one run forwards at most; the rest are skipped
)

// Run runs scenario s opt.Repeat times, each on a fresh link, and summarizes the metrics.
func Run(ctx context.Context, s *Scenario, opt Options) (*Report, error) {
	if opt.Repeat == 0 {
		opt.Repeat = 1
	}
	if opt.Repeat < 0 || opt.Repeat > 1000 {
		return nil, fmt.Errorf("run %s: --repeat %d is outside 1..1000", s.Name, opt.Repeat)
	}
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	params, values, err := s.params(opt.Params) // its errors name the parameter and the value
	if err != nil {
		return nil, err
	}
	preset := opt.Preset
	if preset == "" {
		preset = s.Preset
	}
	var settings link.Settings
	if opt.Settings != nil {
		settings = *opt.Settings
		if opt.Preset == "" {
			preset = "custom"
		}
	} else {
		var ok bool
		if settings, ok = link.Preset(preset); !ok {
			return nil, fmt.Errorf("run %s: unknown preset %q", s.Name, preset)
		}
	}
	if opt.OutDir != "" {
		if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("run %s: %w", s.Name, err)
		}
	}
	rep := &Report{Scenario: s.Name, Title: s.Title, Explain: s.Explain, Preset: preset,
		Up: Describe(settings.ClientToServer), Down: Describe(settings.ServerToClient),
		Seed: opt.Seed, Repeat: opt.Repeat, Params: params, ParamLabels: map[string]string{}}
	for _, p := range s.Params {
		rep.ParamLabels[p.Name] = p.Label
	}
	start := time.Now()
	if opt.Epoch.IsZero() {
		opt.Epoch = start
	}
	for i := range opt.Repeat {
		res, files, err := runOnce(ctx, s, settings, opt.Seed+int64(i), params, values, opt, i)
		rep.Files = append(rep.Files, files...)
		if err != nil {
			return rep, fmt.Errorf("run %s (repeat %d, seed %d): %w", s.Name, i+1, opt.Seed+int64(i), err)
		}
		rep.Runs = append(rep.Runs, res)
		if opt.RunDone != nil {
			opt.RunDone(i+1, opt.Repeat)
		}
	}
	rep.WallMillis = float64(time.Since(start).Microseconds()) / 1000
	rep.Stats = Summarize(rep.Runs)
	rep.Conclusion = rep.Runs[0].Conclusion
	if opt.Repeat > 1 {
		rep.Conclusion += fmt.Sprintf(" (Run 1 of %d; the table gives each figure's mean and 95%% confidence interval over all runs.)", opt.Repeat)
	}
	return rep, nil
}

func runOnce(ctx context.Context, s *Scenario, settings link.Settings, seed int64, params map[string]string, values map[string]any, opt Options, i int) (*Result, []string, error) {
	env := &Env{Settings: settings, Seed: seed, Params: params, values: values, Epoch: opt.Epoch, Progress: opt.Progress,
		quic: observe.NewQUIC(), flows: &observe.Flows{}}
	var pcapng, qlogDir string
	if opt.OutDir != "" {
		pcapng = filepath.Join(opt.OutDir, fmt.Sprintf("%s-run%d.pcapng", s.Name, i+1))
		qlogDir = filepath.Join(opt.OutDir, fmt.Sprintf("%s-run%d-qlog", s.Name, i+1))
		env.capture = newRunCapture(pcapng)
		env.QLog = &transports.QLog{} // in memory; written below, after the run
	}
	l, err := env.NewLink(link.Config{Settings: settings, Seed: seed})
	if err != nil {
		return nil, nil, err
	}
	env.Link = l
	res, runErr := runOn(ctx, s, env, opt)
	var files []string
	if opt.OutDir != "" {
		sent, err := env.capture.finish()
		if opt.captured != nil {
			opt.captured(pcapng, sent)
		}
		if err == nil {
			err = env.QLog.WriteDir(qlogDir)
		}
		if err != nil {
			return res, files, err
		}
		files = append(files, pcapng, qlogDir)
	}
	if runErr == nil && res == nil {
		runErr = errors.New("scenario returned no result")
	}
	return res, files, runErr
}

// runOn runs s on env and closes env.Link.
func runOn(ctx context.Context, s *Scenario, env *Env, opt Options) (*Result, error) {
	l := env.Link
	defer l.Close()
	defer l.OnPacket(func(p link.Packet) {
		t, port, _ := observe.ByProtocol(&p)
		env.flows.Add(t, port, &p)
	})()
	if opt.Progress != nil {
		ps := observe.New(observe.Config{Epoch: opt.Epoch, Emit: opt.Progress, Busy: opt.Busy, QUIC: env.quic,
			Delay: ProgressEvery, Buffer: ProgressBuffer, Limit: ProgressPerRun})
		defer ps.Stop()            // after unsubscribing, before the link closes: every packet of the run is passed on
		defer l.OnPacket(ps.Add)() // unsubscribes
	}
	return s.Run(ctx, env)
}

// QUICConfig is the quic-go configuration scenarios use: wireplay's, with QUICTracer.
func (e *Env) QUICConfig() *quic.Config {
	c := transports.QUICEchoConfig{}.QUICConfig()
	c.Tracer = e.QUICTracer()
	return c
}

// QUICTracer is the tracer of every QUIC connection of the run: its qlog when the run writes
// one, and the run's QUIC registry (packet numbers and frames for the live packet stream, each
// connection's loss recovery for QUICRecovery).
func (e *Env) QUICTracer() transports.Tracer {
	var q, o transports.Tracer
	if e.QLog != nil {
		q = e.QLog.Tracer
	}
	if e.quic != nil {
		o = e.quic.Tracer
	}
	return transports.JoinTracers(q, o)
}

// quiet waits until no packet has entered the link for one rtt (plus 20 ms), at most 20 rounds:
// the packets that close connections have then been counted.
func (e *Env) quiet(rtt time.Duration) {
	sent := func() uint64 {
		return e.Link.Counts(link.ClientToServer).Sent + e.Link.Counts(link.ServerToClient).Sent
	}
	last := sent()
	for range 20 {
		time.Sleep(rtt + 20*time.Millisecond)
		n := sent()
		if n == last {
			return
		}
		last = n
	}
}

// QUICRecovery is the loss recovery of the run's QUIC connection whose client uses UDP port
// clientPort, each endpoint's from its qlog events (see observe.QUIC.Recovery); its endpoints
// must have used QUICTracer.
func (e *Env) QUICRecovery(clientPort uint16) (protocol.QUICRecoveryStats, bool) {
	if e.quic == nil {
		return protocol.QUICRecoveryStats{}, false
	}
	return e.quic.Recovery(clientPort)
}

// Flow is what the link did, per direction, to the packets of the run's connection whose client
// side is clientPort: proto is "tcp" or "udp".
func (e *Env) Flow(proto string, clientPort uint16) (protocol.FlowCounts, bool) {
	if e.flows == nil {
		return protocol.FlowCounts{}, false
	}
	f, ok := e.flows.Get(protocol.Transport(proto), clientPort)
	if proto == "udp" { // ByProtocol names the packets it recognises as QUIC's "quic"
		q, qok := e.flows.Get("quic", clientPort)
		f.UpSent, f.UpDropped = f.UpSent+q.UpSent, f.UpDropped+q.UpDropped
		f.DownSent, f.DownDropped = f.DownSent+q.DownSent, f.DownDropped+q.DownDropped
		ok = ok || qok
	}
	return f, ok
}

// Summarize groups the runs' metrics by transport, name and unit, in first-seen order.
func Summarize(runs []*Result) []Stat {
	type key struct{ t, n, u string }
	var keys []key
	vals := map[key][]float64{}
	for _, r := range runs {
		for _, m := range r.Metrics {
			k := key{m.Transport, m.Name, m.Unit}
			if _, ok := vals[k]; !ok {
				keys = append(keys, k)
			}
			vals[k] = append(vals[k], m.Value)
		}
	}
	out := make([]Stat, 0, len(keys))
	for _, k := range keys {
		v := vals[k]
		st := Stat{Transport: k.t, Name: k.n, Unit: k.u, N: len(v), Min: slices.Min(v), Max: slices.Max(v)}
		for _, x := range v {
			st.Mean += x
		}
		st.Mean /= float64(len(v))
		if len(v) > 1 {
			var ss float64
			for _, x := range v {
				ss += (x - st.Mean) * (x - st.Mean)
			}
			sd := math.Sqrt(ss / float64(len(v)-1))
			st.CI95 = tQuantile975(len(v)-1) * sd / math.Sqrt(float64(len(v)))
		}
		out = append(out, st)
	}
	return out
}

// tQuantile975 is Student's t 97.5% quantile for df degrees of freedom.
func tQuantile975(df int) float64 {
	table := []float64{0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}
	switch {
	case df <= 0:
		return 0
	case df < len(table):
		return table[df]
	case df < 60:
		return 2.01
	case df < 120:
		return 1.99
	}
	return 1.96
}

// Describe puts an impairment in words: "25 ms, 2% loss".
func Describe(im link.Impairment) string {
	var parts []string
	if im.Delay > 0 {
		parts = append(parts, fmt.Sprintf("%v delay", im.Delay))
	}
	if im.Jitter > 0 {
		j := fmt.Sprintf("±%v jitter", im.Jitter)
		if im.Reorder {
			j += " (reordering)"
		}
		parts = append(parts, j)
	}
	if im.Loss > 0 {
		parts = append(parts, fmt.Sprintf("%g%% loss", im.Loss*100))
	}
	if im.Burst.P > 0 {
		parts = append(parts, "bursty loss")
	}
	if im.Duplicate > 0 {
		parts = append(parts, fmt.Sprintf("%g%% duplicated", im.Duplicate*100))
	}
	if im.RateBitsPerSec > 0 {
		parts = append(parts, fmt.Sprintf("%g Mbit/s", float64(im.RateBitsPerSec)/1e6))
	}
	if im.QueuePackets > 0 {
		parts = append(parts, fmt.Sprintf("%d-packet queue", im.QueuePackets))
	}
	if im.QueueBytes > 0 {
		parts = append(parts, fmt.Sprintf("%d-byte queue", im.QueueBytes))
	}
	if im.MTU > 0 {
		parts = append(parts, fmt.Sprintf("MTU %d", im.MTU))
	}
	if im.DropNth > 0 {
		parts = append(parts, fmt.Sprintf("drop packet #%d", im.DropNth))
	}
	if im.Blackhole {
		parts = append(parts, "blackhole")
	}
	if im.BlackholeFor > 0 {
		parts = append(parts, fmt.Sprintf("blackhole for %v", im.BlackholeFor))
	}
	if len(parts) == 0 {
		return "clean"
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out += ", " + p
	}
	return out
}
