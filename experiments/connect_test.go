package experiments

import (
	"slices"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
)

// TestConnectTimes: with 25 ms each way (RTT 50 ms), TCP and QUIC take one round trip to connect,
// TCP + TLS 1.3 and a WebSocket upgrade two, each within ±15%. What the handshakes cost in
// computation (a few ms of crypto, much more under the race detector) is measured on a link with
// no delay and taken off first; the raw time must still be at least the round trips.
func TestConnectTimes(t *testing.T) {
	const rtt = 50 * time.Millisecond
	// A connect time is a distribution: the first handshakes in a process also pay one-time
	// costs, and a busy machine (other test binaries) adds computation time to any one run. A
	// fixed number of runs on each link; no run may beat the round trips (the link's delay is a
	// floor), and the median on the delayed link, less the median without delay, is held to them.
	runs := func(l *link.Link, n int) map[string][]time.Duration {
		all := map[string][]time.Duration{}
		for range n {
			got, err := ConnectTimes(testCtx(t, 30*time.Second), l)
			if err != nil {
				t.Fatal(err)
			}
			for k, d := range got {
				all[k] = append(all[k], d)
			}
		}
		return all
	}
	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	clean := runs(newLink(t, link.Config{Seed: 1}), 3)
	delayed := runs(newLink(t, link.Config{Seed: 1, Settings: link.Both(link.Impairment{Delay: rtt / 2})}), 5)
	want := map[string]int{ConnectTCP: 1, ConnectTCPTLS: 2, ConnectQUIC: 1, ConnectWS: 2}
	for _, k := range ConnectKinds {
		w := time.Duration(want[k]) * rtt
		if len(delayed[k]) == 0 || len(clean[k]) == 0 {
			t.Errorf("%s: not measured", k)
			continue
		}
		for _, d := range delayed[k] {
			if d < w {
				t.Errorf("%s took %v, less than its %d round trips (%v)", k, d, want[k], w)
			}
		}
		d, c := median(delayed[k]), median(clean[k])
		t.Logf("%-11s median %v (%.2f RTT) of %v; on a link without delay %v; difference %.2f RTT", k, d, float64(d)/float64(rtt), delayed[k], c, float64(d-c)/float64(rtt))
		if net := d - c; net < w*85/100 || net > w*115/100 {
			t.Errorf("%s: median %v, %v more than without delay: want %v ±15%% more", k, d, net, w)
		}
	}
}
