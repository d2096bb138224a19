package scenarios

import (
	"context"
	"fmt"
	"strings"
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

// TestBacklogSentences runs a backlog of 8: the conclusion's figures are the table's and the
// metrics' of the same run — as many clients whose data was sent again after one SYN as the table
// shows, the stack's counters as counted — and when the stack's count of dropped final ACKs is not
// the number of such clients, it says why instead of giving both as the same thing.
func TestBacklogSentences(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, err := Run(context.Background(), Lookup("backlog"), Options{Seed: 1, Params: map[string]string{"backlog": "8"}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	t.Log(r.Conclusion)
	rows := 0
	for _, row := range r.Tables[0].Rows {
		if strings.Contains(row[len(row)-1], "final ACK was dropped") {
			rows++
		}
	}
	clients := int(mvMetric(t, r, "tcp", "connects_final_ack_dropped"))
	if rows != clients {
		t.Errorf("%d table rows say the final ACK was dropped, the metric says %d", rows, clients)
	}
	acks := int(mvMetric(t, r, "tcp", "server_final_ack_drops"))
	want := []string{
		holPlural(int(mvMetric(t, r, "tcp", "server_syn_drops")), "SYN") + " dropped",
		holPlural(int(mvMetric(t, r, "tcp", "server_syn_cookies_sent")), "SYN cookie") + " sent",
		holPlural(acks, "final ACK") + " answering a SYN cookie dropped",
	}
	if clients > 0 {
		want = append(want, holPlural(clients, "client")+" connected at once with one SYN")
	}
	if clients != acks {
		want = append(want, fmt.Sprintf("count of dropped final ACKs (%d) is not a count of clients", acks))
	}
	for _, w := range want {
		if !strings.Contains(r.Conclusion, w) {
			t.Errorf("the conclusion does not say %q: %s", w, r.Conclusion)
		}
	}
}
