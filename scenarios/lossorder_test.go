package scenarios_test

import (
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
)

func TestLossOrder(t *testing.T) {
	lossy := link.Both(link.Impairment{Delay: 20 * time.Millisecond, Loss: 0.10})
	res := runScenario(t, "loss-order", &lossy, map[string]string{"messages": "100"})
	if n := findMetric(t, res, "udp", "lost", "count"); n <= 0 {
		t.Errorf("UDP lost %g of 100 at 10%% loss each way, want some", n)
	}
	if n := findMetric(t, res, "quic-dgram", "duplicated", "count"); n != 0 {
		t.Errorf("QUIC datagrams duplicated %g, want 0 (QUIC drops duplicate packets)", n)
	}
	for _, tr := range []string{"tcp", "quic-stream", "ws"} {
		if n := findMetric(t, res, tr, "delivered", "count"); n != 100 {
			t.Errorf("%s delivered %g of 100, want all", tr, n)
		}
		if n := findMetric(t, res, tr, "reordered", "count"); n != 0 {
			t.Errorf("%s delivered %g out of order, want 0", tr, n)
		}
	}
	p50, p99 := findMetric(t, res, "tcp", "p50_delay", "ms"), findMetric(t, res, "tcp", "p99_delay", "ms")
	if p99 <= p50 {
		t.Errorf("TCP p99 %.1f ms is not above p50 %.1f ms: no retransmission delay visible", p99, p50)
	}
	if len(res.Series) != 5 || len(res.Tables) != 2 {
		t.Errorf("want 5 series and two tables, got %d and %d", len(res.Series), len(res.Tables))
	}
}
