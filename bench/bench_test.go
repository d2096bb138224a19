package bench_test

import (
	"testing"

	"github.com/wireplay/wireplay/bench"
	"github.com/wireplay/wireplay/protocol"
)

// BenchmarkEcho: each transport's echo through wireplay's endpoint vs a raw Go echo (goal ratio ≤ 1.15).
func BenchmarkEcho(b *testing.B) {
	for _, t := range protocol.Transports {
		b.Run(string(t), bench.Echo(t))
	}
}

// BenchmarkRelay: one message through the relay vs direct WebSocket + direct transport echo
// (goal ratio ≤ 1.3).
func BenchmarkRelay(b *testing.B) {
	for _, t := range protocol.Transports {
		b.Run(string(t), bench.Relay(t))
	}
}

// BenchmarkIdleConn: memory per idle relay connection (goal ≤ 32 KB) beside a bare coder/websocket
// connection.
func BenchmarkIdleConn(b *testing.B) {
	b.Run("bare-websocket", bench.IdleConnMemory(true, 500))
	b.Run("relay", bench.IdleConnMemory(false, 500))
}

// TestBenchmarksRun runs each benchmark body once so a broken benchmark fails the test suite.
func TestBenchmarksRun(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, tr := range protocol.Transports {
		for name, f := range map[string]func(*testing.B){"echo": bench.Echo(tr), "relay": bench.Relay(tr)} {
			if r := testing.Benchmark(f); r.N == 0 {
				t.Errorf("%s %s: benchmark failed", name, tr)
			}
		}
	}
}
