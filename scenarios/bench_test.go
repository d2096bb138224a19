package scenarios

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDefaultRun runs each scenario's default run (its preset, seed 1, one run) and reports
// its wall time (goal: under 5 s each; loss-order's 100 messages at 2% loss and 20 ms under 2 s)
// and the process CPU time spent per second of link time (the link runs in real time, so a
// second of the run is a second of simulated traffic).
func BenchmarkDefaultRun(b *testing.B) {
	for _, s := range All() {
		if s == udpRTT {
			continue
		}
		b.Run(s.Name, func(b *testing.B) {
			var wall, cpu time.Duration
			for b.Loop() {
				c0, w0 := cpuTime(), time.Now()
				if _, err := Run(context.Background(), s, Options{Seed: 1}); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(w0)
				cpu += cpuTime() - c0
			}
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms")
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-s/link-s")
		})
	}
}
