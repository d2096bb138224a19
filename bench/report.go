package bench

import (
	"fmt"
	"io"
	"testing"

	"github.com/wireplay/wireplay/protocol"
)

// Goals the issue set for each figure.
const (
	EchoGoal  = 1.15 // wireplay endpoint / raw echo
	RelayGoal = 1.2  // relay / (direct ws + direct transport)
	// IdleGoal is the 32 KB per idle relay connection, set where a bare coder/websocket
	// connection measured about 23 KB: so the relay may add at most 9 KB over bare.
	IdleGoal     = 32000
	IdleOverBare = IdleGoal - 23000
)

// Pair is one transport's figure: wireplay's time against the reference's, in ns.
type Pair struct {
	Transport           protocol.Transport
	Wireplay, Reference float64
}

// Ratio is Wireplay / Reference (0 with no reference).
func (p Pair) Ratio() float64 {
	if p.Reference == 0 {
		return 0
	}
	return p.Wireplay / p.Reference
}

// Figures are what `wireplay bench` measures.
type Figures struct {
	Echo []Pair // wireplay's endpoint vs a raw echo
	// Process is the echo with server and client in processes of their own, pinned to one core:
	// `wireplay serve`'s server vs a minimal echo on the library's bare API (median round).
	Process []Pair
	Relay   []Pair // the relay vs a direct WebSocket echo plus a direct transport echo
	// IdleBare and IdleRelay are the bytes one idle connection costs, bare and through the relay.
	IdleBare, IdleRelay float64
}

// Measure runs every benchmark once through testing.Benchmark, saying on progress (which may be
// io.Discard) which one is running.
func Measure(progress io.Writer) Figures {
	var f Figures
	run := func(what string, t protocol.Transport, b func(*testing.B)) testing.BenchmarkResult {
		fmt.Fprintf(progress, "wireplay bench: %s %s…\n", what, t)
		return testing.Benchmark(b)
	}
	for _, t := range protocol.Transports {
		r := run("echo", t, Echo(t))
		f.Echo = append(f.Echo, Pair{t, r.Extra["wireplay-ns"], r.Extra["raw-ns"]})
	}
	for _, t := range protocol.Transports {
		fmt.Fprintf(progress, "wireplay bench: echo in separate processes %s…\n", t)
		p, _, err := ProcessEcho(t, ProcessRounds, ProcessCount)
		if err != nil {
			fmt.Fprintf(progress, "wireplay bench: echo in separate processes %s: %v\n", t, err)
		}
		f.Process = append(f.Process, p)
	}
	for _, t := range protocol.Transports {
		r := run("relay", t, Relay(t))
		f.Relay = append(f.Relay, Pair{t, r.Extra["relay-ns"], r.Extra["direct-sum-ns"]})
	}
	fmt.Fprintf(progress, "wireplay bench: idle connection memory…\n")
	f.IdleBare = testing.Benchmark(IdleConnMemory(true, 500)).Extra["bytes/conn"]
	f.IdleRelay = testing.Benchmark(IdleConnMemory(false, 500)).Extra["bytes/conn"]
	return f
}

// Write prints a table of the figures beside their goals and returns the figures that miss
// theirs ("relay tcp ratio 1.40 > 1.2").
func (f Figures) Write(w io.Writer) (missed []string) {
	verdict := func(ok bool, miss string, args ...any) string {
		if ok {
			return "meets goal"
		}
		missed = append(missed, fmt.Sprintf(miss, args...))
		return "MISSES goal"
	}
	fmt.Fprintf(w, "%-26s %12s %12s %8s  %s\n", "echo round trip (64 B)", "wireplay", "raw", "ratio", "goal ≤ 1.15")
	for _, p := range f.Echo {
		ratio := p.Ratio()
		fmt.Fprintf(w, "%-26s %10.1fµs %10.1fµs %8.3f  %s\n", p.Transport, p.Wireplay/1e3, p.Reference/1e3, ratio,
			verdict(ratio <= EchoGoal, "echo %s ratio %.3f > %g", p.Transport, ratio, EchoGoal))
	}
	fmt.Fprintf(w, "\n%-26s %12s %12s %8s  %s\n", "echo, 3 processes, 1 core", "serve", "minimal", "ratio", "goal ≤ 1.15 (median of 9 rounds)")
	for _, p := range f.Process {
		ratio := p.Ratio()
		fmt.Fprintf(w, "%-26s %10.1fµs %10.1fµs %8.3f  %s\n", p.Transport, p.Wireplay/1e3, p.Reference/1e3, ratio,
			verdict(ratio > 0 && ratio <= EchoGoal, "echo in processes %s ratio %.3f > %g", p.Transport, ratio, EchoGoal))
	}
	fmt.Fprintf(w, "\n%-26s %12s %12s %8s  goal ≤ %g\n", "relay round trip (64 B)", "relay", "ws+direct", "ratio", RelayGoal)
	for _, p := range f.Relay {
		ratio := p.Ratio()
		fmt.Fprintf(w, "%-26s %10.1fµs %10.1fµs %8.3f  %s\n", p.Transport, p.Wireplay/1e3, p.Reference/1e3, ratio,
			verdict(ratio <= RelayGoal, "relay %s ratio %.3f > %g", p.Transport, ratio, RelayGoal))
	}
	over := f.IdleRelay - f.IdleBare
	fmt.Fprintf(w, "\nidle connection memory (client and server side, 500 at once)\n")
	fmt.Fprintf(w, "%-26s %10.1f KB\n", "bare coder/websocket", f.IdleBare/1e3)
	fmt.Fprintf(w, "%-26s %10.1f KB\n", "relay, no experiment", f.IdleRelay/1e3)
	fmt.Fprintf(w, "%-26s %10.1f KB  %s (relay may add ≤ 9 KB over bare)\n", "relay − bare", over/1e3,
		verdict(over <= IdleOverBare, "idle relay connection %.1f KB over bare > %.0f KB", over/1e3, IdleOverBare/1e3))
	return missed
}

// Report measures every figure (Measure) and prints them beside their goals (Write), returning
// the figures that miss theirs: the `wireplay bench` command.
func Report(w, progress io.Writer) (missed []string) {
	return Measure(progress).Write(w)
}
