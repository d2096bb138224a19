package scenarios_test

import "testing"

func TestBoundaries(t *testing.T) {
	res := runScenario(t, "boundaries", &lab25, nil)
	// Nagle holds the 2nd and 3rd writes until the 1st is acknowledged, a round trip later.
	if n := findMetric(t, res, "tcp-nagle", "reads", "count"); n >= 3 || n < 1 {
		t.Errorf("TCP with Nagle on: %g reads for 3 writes, want fewer than 3", n)
	}
	if n := findMetric(t, res, "udp", "reads", "count"); n != 3 {
		t.Errorf("UDP: %g reads for 3 datagrams, want 3", n)
	}
	if n := findMetric(t, res, "quic-dgram", "reads", "count"); n != 3 {
		t.Errorf("QUIC datagrams: %g reads for 3 datagrams, want 3", n)
	}
	if n := findMetric(t, res, "ws", "reads", "count"); n != 3 {
		t.Errorf("WebSocket: %g reads for 3 messages, want 3", n)
	}
	for _, f := range []string{"tcp+length-prefix", "tcp+delimiter"} {
		if n := findMetric(t, res, f, "messages", "count"); n != 3 {
			t.Errorf("%s: decoded %g messages, want 3", f, n)
		}
	}
	if n := findMetric(t, res, "quic-dgram", "max_datagram", "bytes"); n < 1000 || n >= 1500 {
		t.Errorf("QUIC datagram maximum %g bytes, want one packet's worth (1000..1500)", n)
	}
	if n := findMetric(t, res, "udp", "big_reads", "count"); n != 1 {
		t.Errorf("UDP: the 4000-byte datagram took %g reads, want 1 (reassembled)", n)
	}
	if n := findMetric(t, res, "udp", "big_packets", "count"); n < 3 {
		t.Errorf("UDP: the 4000-byte datagram crossed in %g packets, want at least 3 fragments", n)
	}
	if len(res.Tables) != 3 || len(res.Series) == 0 || res.Conclusion == "" {
		t.Errorf("want 3 tables, series and a conclusion")
	}
}
