package scenarios

import (
	"testing"

	"go.uber.org/goleak"
)

// TestHOLDefault drops one packet of stream 1's data on every transport: on TCP (one byte stream)
// streams 2 and 3 must be held behind it before their first delivery, longer than QUIC's streams
// 2 and 3 (own offsets) by at least a third of a round trip; stream 1 stalls on QUIC too.
func TestHOLDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := runDefault(t, "hol")
	if len(r.Series) != 4*3 {
		t.Errorf("%d series, want 12", len(r.Series))
	}
	rtt := mvMetric(t, r, "", "rtt_ms")
	for _, s := range []string{"stream2_held_ms", "stream3_held_ms"} {
		tcp, quic := mvMetric(t, r, "tcp", s), mvMetric(t, r, "quic-stream", s)
		if !(tcp > quic+rtt/3) {
			t.Errorf("%s: %.1f ms on TCP and %.1f ms on QUIC: want TCP later by over %.0f ms", s, tcp, quic, rtt/3)
		}
	}
	if s1 := mvMetric(t, r, "quic-stream", "stream1_stall_ms"); s1 < rtt/2 {
		t.Errorf("QUIC stream 1 stalled only %.1f ms: the drop did not hit it", s1)
	}
	if lost := mvMetric(t, r, "udp", "lost_messages"); lost < 1 {
		t.Errorf("UDP lost %g messages, want the dropped one", lost)
	}
}
