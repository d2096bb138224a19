package bench_test

import (
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wireplay/wireplay/bench"
	"github.com/wireplay/wireplay/protocol"
)

func TestMain(m *testing.M) {
	bench.RunChild() // the two-process echo's servers and client are this test binary
	os.Exit(m.Run())
}

// TestProcessEchoRuns runs the two-process echo briefly for every transport: both servers and the
// client start as processes of their own and every round measures both (no figure is judged).
func TestProcessEchoRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, tr := range protocol.Transports {
		p, ratios, err := bench.ProcessEcho(tr, 2, 50)
		if err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
		if p.Wireplay <= 0 || p.Reference <= 0 || len(ratios) != 2 {
			t.Errorf("%s: %+v, ratios %v: want both servers measured in both rounds", tr, p, ratios)
		}
		t.Logf("%s: serve %.1f µs, minimal %.1f µs, ratios %.3f", tr, p.Wireplay/1e3, p.Reference/1e3, ratios)
	}
}

// BenchmarkEcho: each transport's echo through wireplay's endpoint vs a raw Go echo (goal ratio ≤ 1.15).
func BenchmarkEcho(b *testing.B) {
	for _, t := range protocol.Transports {
		b.Run(string(t), bench.Echo(t))
	}
}

// BenchmarkRelay: one message through the relay vs direct WebSocket + direct transport echo
// (goal ratio ≤ 1.2).
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

// TestWriteMisses: a figure over its goal is printed as missing it and returned, so `wireplay
// bench` can exit non-zero; figures within their goals are not.
func TestWriteMisses(t *testing.T) {
	f := bench.Figures{
		Echo:     []bench.Pair{{Transport: protocol.TCP, Wireplay: 110, Reference: 100}, {Transport: protocol.UDP, Wireplay: 120, Reference: 100}},
		Process:  []bench.Pair{{Transport: protocol.QUICStream, Wireplay: 116, Reference: 100}},
		Relay:    []bench.Pair{{Transport: protocol.TCP, Wireplay: 140, Reference: 100}, {Transport: protocol.WS, Wireplay: 119, Reference: 100}},
		IdleBare: 23000, IdleRelay: 33000,
	}
	var out strings.Builder
	missed := f.Write(&out)
	want := []string{"echo udp ratio 1.200 > 1.15", "echo in processes quic-stream ratio 1.160 > 1.15", "relay tcp ratio 1.400 > 1.2", "idle relay connection 10.0 KB over bare > 9 KB"}
	if !slices.Equal(missed, want) {
		t.Errorf("missed %q, want %q", missed, want)
	}
	if n := strings.Count(out.String(), "MISSES goal"); n != 4 {
		t.Errorf("%d MISSES in:\n%s", n, out.String())
	}
	if n := strings.Count(out.String(), "meets goal"); n != 2 {
		t.Errorf("%d meets in:\n%s", n, out.String())
	}
	f.IdleRelay = 30000
	f.Echo, f.Process, f.Relay = f.Echo[:1], nil, f.Relay[1:]
	if missed := f.Write(io.Discard); len(missed) != 0 {
		t.Errorf("within every goal, missed %q", missed)
	}
}

// BenchmarkProcessEcho: the echo with `wireplay serve`'s server, a minimal echo and the client in
// three processes pinned to one core (goal ratio ≤ 1.15, the median of ProcessRounds rounds of
// ProcessCount round trips each). One run is one ProcessEcho; b.N only repeats it.
func BenchmarkProcessEcho(b *testing.B) {
	for _, t := range protocol.Transports {
		b.Run(string(t), func(b *testing.B) {
			var p bench.Pair
			for b.Loop() {
				var err error
				if p, _, err = bench.ProcessEcho(t, bench.ProcessRounds, bench.ProcessCount); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(p.Wireplay, "serve-ns")
			b.ReportMetric(p.Reference, "minimal-ns")
			b.ReportMetric(p.Ratio(), "ratio")
		})
	}
}
