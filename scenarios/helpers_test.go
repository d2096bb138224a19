package scenarios

import (
	"context"
	"testing"
	"time"
)

// runDefault runs a scenario's default run (seed 1) and logs its conclusion and table. How long a
// run takes is BenchmarkDefaultRun's to show, not a test's.
func runDefault(t *testing.T, name string) *Result {
	t.Helper()
	start := time.Now()
	rep, err := Run(context.Background(), Lookup(name), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	r := rep.Runs[0]
	t.Logf("wall %v\n%s", wall, r.Conclusion)
	if len(r.Tables) > 0 {
		for _, row := range r.Tables[0].Rows {
			t.Log(row)
		}
	}
	return r
}

func mvMetric(t *testing.T, r *Result, transport, name string) float64 {
	t.Helper()
	for _, m := range r.Metrics {
		if m.Transport == transport && m.Name == name {
			return m.Value
		}
	}
	t.Fatalf("no metric %s %s in %+v", transport, name, r.Metrics)
	return 0
}
