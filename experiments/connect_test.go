package experiments

import (
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
	// The fastest of a few runs each: the first handshakes in a process also pay one-time costs,
	// and a busy machine (other test binaries) adds computation time to any one run. The delayed
	// link gets up to five runs, stopping as soon as the fastest times fit.
	fastest := func(l *link.Link, into map[string]time.Duration) {
		got, err := ConnectTimes(testCtx(t, 30*time.Second), l)
		if err != nil {
			t.Fatal(err)
		}
		for k, d := range got {
			if o, ok := into[k]; !ok || d < o {
				into[k] = d
			}
		}
	}
	clean := map[string]time.Duration{}
	cl := newLink(t, link.Config{Seed: 1})
	for range 3 {
		fastest(cl, clean)
	}
	want := map[string]int{ConnectTCP: 1, ConnectTCPTLS: 2, ConnectQUIC: 1, ConnectWS: 2}
	fits := func(k string, d time.Duration) bool {
		w := time.Duration(want[k]) * rtt
		net := d - clean[k]
		return d >= w && net >= w*85/100 && net <= w*115/100
	}
	got := map[string]time.Duration{}
	l := newLink(t, link.Config{Seed: 1, Settings: link.Both(link.Impairment{Delay: rtt / 2})})
	for range 5 {
		fastest(l, got)
		ok := true
		for _, k := range ConnectKinds {
			ok = ok && fits(k, got[k])
		}
		if ok {
			break
		}
	}
	for _, k := range ConnectKinds {
		d, ok := got[k]
		t.Logf("%-11s %v (%.2f RTT); on a link without delay %v; difference %.2f RTT", k, d, float64(d)/float64(rtt), clean[k], float64(d-clean[k])/float64(rtt))
		if !ok || !fits(k, d) {
			t.Errorf("%s took %v, %v more than without delay: want ≥ %v and %v ±15%% more", k, d, d-clean[k], time.Duration(want[k])*rtt, time.Duration(want[k])*rtt)
		}
	}
}
