package scenarios

import (
	"context"
	"testing"

	"go.uber.org/goleak"
)

// TestBacklogDefault overflows a backlog of 2 with 20 connects: the packet log must show SYNs
// sent again (or the server's stack SYN drops) and some connects must take at least netstack's
// 1 s initial retransmission timeout longer than the round trip, while the ones that fit take
// about one round trip; every client is served in the end.
func TestBacklogDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := runDefault(t, "backlog")
	retrans := mvMetric(t, r, "tcp", "syn_retransmits")
	drops := mvMetric(t, r, "tcp", "server_syn_drops")
	if retrans < 1 && drops < 1 {
		t.Errorf("no SYN retransmitted or dropped")
	}
	rtt := mvMetric(t, r, "", "rtt_ms")
	if max := mvMetric(t, r, "tcp", "connect_max_ms"); max < rtt+1000 {
		t.Errorf("slowest connect %.0f ms: want at least one RTO (1000 ms) over the %.0f ms RTT", max, rtt)
	}
	fast := 0
	for _, p := range r.Series[0].Points {
		if p.Y < 2*rtt {
			fast++
		}
	}
	if fast < 2 {
		t.Errorf("%d connects within 2 RTT: want at least the backlog's 2", fast)
	}
	if f := mvMetric(t, r, "tcp", "connects_failed"); f != 0 {
		t.Errorf("%g connects failed", f)
	}
}

// TestBacklogRoomy gives the listener room for the whole burst: nothing is dropped and no connect
// waits for a retransmission.
func TestBacklogRoomy(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, err := Run(context.Background(), Lookup("backlog"), Options{Seed: 1, Params: map[string]string{"backlog": "64", "hold": "100ms"}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	t.Log(r.Conclusion)
	for _, name := range []string{"syn_retransmits", "server_syn_drops", "server_final_ack_drops", "connects_over_rto"} {
		if v := mvMetric(t, r, "tcp", name); v != 0 {
			t.Errorf("%s = %g, want 0", name, v)
		}
	}
}
