package experiments

import (
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
)

// TestConnectTimes: with 25 ms each way (RTT 50 ms), TCP and QUIC take one round trip to connect,
// TCP + TLS 1.3 and a WebSocket upgrade two, each within ±15%. What the handshakes cost in
// computation (a few ms of crypto, much more under the race detector) is measured on a link with
// no delay and taken off first (the fastest of three runs against the fastest of two); the raw time must still be at least the round trips.
func TestConnectTimes(t *testing.T) {
	const rtt = 50 * time.Millisecond
	// The fastest of a few runs each: the first handshakes in a process also pay one-time costs.
	fastest := func(l *link.Link, runs int) map[string]time.Duration {
		out := map[string]time.Duration{}
		for range runs {
			got, err := ConnectTimes(testCtx(t, 30*time.Second), l)
			if err != nil {
				t.Fatal(err)
			}
			for k, d := range got {
				if o, ok := out[k]; !ok || d < o {
					out[k] = d
				}
			}
		}
		return out
	}
	clean := fastest(newLink(t, link.Config{Seed: 1}), 3)
	got := fastest(newLink(t, link.Config{Seed: 1, Settings: link.Both(link.Impairment{Delay: rtt / 2})}), 2)
	want := map[string]int{ConnectTCP: 1, ConnectTCPTLS: 2, ConnectQUIC: 1, ConnectWS: 2}
	for _, k := range ConnectKinds {
		d, ok := got[k]
		net := d - clean[k]
		t.Logf("%-11s %v (%.2f RTT); on a link without delay %v; difference %.2f RTT", k, d, float64(d)/float64(rtt), clean[k], float64(net)/float64(rtt))
		w := time.Duration(want[k]) * rtt
		if !ok || d < w || net < w*85/100 || net > w*115/100 {
			t.Errorf("%s took %v, %v more than without delay: want ≥ %v and %v ±15%% more", k, d, net, w, w)
		}
	}
}
