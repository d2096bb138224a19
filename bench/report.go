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
	RelayGoal = 1.3  // relay / (direct ws + direct transport)
	// IdleGoal is the 32 KB per idle relay connection, set where a bare coder/websocket
	// connection measured about 23 KB: so the relay may add at most 9 KB over bare.
	IdleGoal     = 32000
	IdleOverBare = IdleGoal - 23000
)

// Report runs every benchmark once through testing.Benchmark and prints a table of the figures
// beside their goals (the `wireplay bench` command).
func Report(w io.Writer) {
	verdict := func(ok bool) string {
		if ok {
			return "meets goal"
		}
		return "MISSES goal"
	}
	fmt.Fprintf(w, "%-26s %12s %12s %8s  %s\n", "echo round trip (64 B)", "wireplay", "raw", "ratio", "goal ≤ 1.15")
	for _, t := range protocol.Transports {
		r := testing.Benchmark(Echo(t))
		ratio := r.Extra["ratio"]
		fmt.Fprintf(w, "%-26s %10.1fµs %10.1fµs %8.3f  %s\n", t, r.Extra["wireplay-ns"]/1e3, r.Extra["raw-ns"]/1e3, ratio, verdict(ratio <= EchoGoal))
	}
	fmt.Fprintf(w, "\n%-26s %12s %12s %8s  %s\n", "relay round trip (64 B)", "relay", "ws+direct", "ratio", "goal ≤ 1.3")
	for _, t := range protocol.Transports {
		r := testing.Benchmark(Relay(t))
		ratio := r.Extra["ratio"]
		fmt.Fprintf(w, "%-26s %10.1fµs %10.1fµs %8.3f  %s\n", t, r.Extra["relay-ns"]/1e3, r.Extra["direct-sum-ns"]/1e3, ratio, verdict(ratio <= RelayGoal))
	}
	bare := testing.Benchmark(IdleConnMemory(true, 500)).Extra["bytes/conn"]
	relay := testing.Benchmark(IdleConnMemory(false, 500)).Extra["bytes/conn"]
	fmt.Fprintf(w, "\nidle connection memory (client and server side, 500 at once)\n")
	fmt.Fprintf(w, "%-26s %10.1f KB\n", "bare coder/websocket", bare/1e3)
	fmt.Fprintf(w, "%-26s %10.1f KB\n", "relay, no experiment", relay/1e3)
	fmt.Fprintf(w, "%-26s %10.1f KB  %s (relay may add ≤ 9 KB over bare)\n", "relay − bare", (relay-bare)/1e3, verdict(relay-bare <= IdleOverBare))
}
