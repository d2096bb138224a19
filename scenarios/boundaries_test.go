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
	if len(res.Tables) != 4 || len(res.Series) == 0 || res.Conclusion == "" {
		t.Fatalf("want 4 tables, series and a conclusion")
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

// TestBoundariesTrials: how many reads three quick writes take on TCP is a distribution, shown
// over trials. Each row of the trials table adds up to the trials, its metrics and the conclusion
// say the same counts, and the wire agrees with theory: a read returns at most what has arrived,
// so no trial takes more reads than the most data segments any trial sent; with Nagle on, the
// second and third writes (1 ms apart, a 50 ms round trip) wait for the first's ACK and leave
// together, so Nagle never sends three segments and never takes three reads. (How many segments
// Nagle-off sends is up to the scheduler too: writes queued before the stack runs leave as one.)
func TestBoundariesTrials(t *testing.T) {
	const trials = 8
	res := runScenario(t, "boundaries", &lab25, map[string]string{"gap": "1ms", "trials": fmt.Sprint(trials)})
	tb := res.Tables[3]
	if len(tb.Rows) != 2 {
		t.Fatalf("trials table rows %v, want tcp-nagle and tcp-nodelay", tb.Rows)
	}
	for _, row := range tb.Rows {
		name := row[0]
		sum := 0
		var dist []string
		for k := 3; k >= 1; k-- {
			var n int
			fmt.Sscan(row[k], &n)
			sum += n
			if m := findMetric(t, res, name, fmt.Sprintf("trials_%d_reads", k), "count"); int(m) != n {
				t.Errorf("%s: %d trials with %d reads in the table, metric %g", name, n, k, m)
			}
			if n > 0 {
				r := "reads"
				if k == 1 {
					r = "read"
				}
				dist = append(dist, fmt.Sprintf("%d %s in %d", k, r, n))
			}
		}
		if sum != trials {
			t.Errorf("%s: the row %v adds up to %d trials, want %d", name, row, sum, trials)
		}
		if want := name + " " + strings.Join(dist, ", "); !strings.Contains(res.Conclusion, want) {
			t.Errorf("conclusion lacks %q:\n%s", want, res.Conclusion)
		}
		maxSegs, segTrials := 0, 0
		for _, cell := range strings.Split(row[4], ", ") {
			var segs, n int
			if _, err := fmt.Sscanf(cell, "%d in %d", &segs, &n); err != nil {
				t.Fatalf("%s: segments cell %q: %v", name, row[4], err)
			}
			maxSegs, segTrials = max(maxSegs, segs), segTrials+n
		}
		if segTrials != trials || maxSegs < 1 || maxSegs > 3 {
			t.Errorf("%s: data segments per trial %q, want 1..3 segments in each of %d trials", name, row[4], trials)
		}
		for k := maxSegs + 1; k <= 3; k++ {
			if row[k] != "0" {
				t.Errorf("%s: %s trials took %d reads, but no trial sent more than %d segments", name, row[k], k, maxSegs)
			}
		}
		if name == "tcp-nagle" && (maxSegs > 2 || row[3] != "0") {
			t.Errorf("tcp-nagle: up to %d segments and %s trials with 3 reads; Nagle holds the later writes", maxSegs, row[3])
		}
	}
}
