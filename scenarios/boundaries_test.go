package scenarios_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wireplay/wireplay/scenarios"
)

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
		t.Fatalf("want 3 tables, series and a conclusion")
	}
	bdCheckBigNotes(t, res)
}

// TestBoundariesOnePacket sends a "big" message of 1400 bytes, which fits in one packet of the
// link's 1500-byte MTU with its UDP/IP headers (28 bytes) and in one TCP segment (TCP/IP headers
// with options under 100 bytes): the packet log must show it so, and the sentences must say what
// the packet log shows, not that it was fragmented or split.
func TestBoundariesOnePacket(t *testing.T) {
	res := runScenario(t, "boundaries", &lab25, map[string]string{"big": "1400"})
	if n := findMetric(t, res, "udp", "big_packets", "count"); n != 1 {
		t.Errorf("UDP: the 1400-byte datagram crossed in %g packets, want 1", n)
	}
	for _, tr := range []string{"tcp-nagle", "tcp-nodelay"} {
		if n := findMetric(t, res, tr, "big_segments", "count"); n != 1 {
			t.Errorf("%s: the 1400-byte message crossed in %g segments, want 1", tr, n)
		}
	}
	bdCheckBigNotes(t, res)
}

// bdCheckBigNotes checks each big-message note against the same run's counts: UDP's fragments
// and TCP's segments as the metrics give them, and no "(s)" or "1 packets" left to the reader.
func bdCheckBigNotes(t *testing.T, res *scenarios.Result) {
	t.Helper()
	notes := map[string]string{}
	for _, row := range res.Tables[1].Rows {
		notes[row[0]] = row[len(row)-1]
	}
	udp := findMetric(t, res, "udp", "big_packets", "count")
	if frag := strings.Contains(notes["udp"], "fragmented it into"); frag != (udp > 1) ||
		(frag && !strings.Contains(notes["udp"], fmt.Sprintf("fragmented it into %g packets", udp))) {
		t.Errorf("UDP note %q for %g packets", notes["udp"], udp)
	}
	for _, tr := range []string{"tcp-nagle", "tcp-nodelay"} {
		n := findMetric(t, res, tr, "big_segments", "count")
		want := "sent in one segment"
		if n > 1 {
			want = fmt.Sprintf("split into %g segments", n)
		}
		if !strings.Contains(notes[tr], want) {
			t.Errorf("%s note %q for %g segments, want %q", tr, notes[tr], n, want)
		}
	}
	for _, s := range append([]string{res.Conclusion}, notes["udp"], notes["tcp-nagle"]) {
		if strings.Contains(s, "(s)") || strings.Contains(s, " 1 packets") || strings.Contains(s, " 1 reads") {
			t.Errorf("unresolved plural in %q", s)
		}
	}
}
