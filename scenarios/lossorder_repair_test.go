package scenarios_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/scenarios"
)

// pcapFlow is one connection's packets in a pcapng read back: sent and dropped per direction.
type pcapFlow struct{ upSent, upDropped, downSent, downDropped int }

// readPcapFlows reads a pcapng written by the link and counts each connection's packets, keyed
// by "tcp" or "udp" and the client's port; the direction and fate come from each packet's
// comment ("c2s #3 dropped by loss"), the ports from its IPv4 and TCP/UDP headers.
func readPcapFlows(t *testing.T, b []byte) map[string]*pcapFlow {
	t.Helper()
	flows := map[string]*pcapFlow{}
	for len(b) >= 12 {
		typ, n := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
		if n < 12 || int(n) > len(b) {
			t.Fatalf("pcapng block of %d bytes with %d left", n, len(b))
		}
		blk := b[8 : n-4]
		b = b[n:]
		if typ != 6 { // only enhanced packet blocks
			continue
		}
		capLen := int(binary.LittleEndian.Uint32(blk[12:]))
		data := blk[20 : 20+capLen]
		opts := blk[20+(capLen+3)/4*4:]
		var comment string
		for len(opts) >= 4 {
			code, l := binary.LittleEndian.Uint16(opts), int(binary.LittleEndian.Uint16(opts[2:]))
			if code == 0 {
				break
			}
			if code == 1 {
				comment = string(opts[4 : 4+l])
			}
			opts = opts[4+(l+3)/4*4:]
		}
		if len(data) < 24 || data[0]>>4 != 4 {
			continue
		}
		ihl := int(data[0]&0x0f) * 4
		proto := map[byte]string{6: "tcp", 17: "udp"}[data[9]]
		if proto == "" || len(data) < ihl+4 {
			continue
		}
		src, dst := binary.BigEndian.Uint16(data[ihl:]), binary.BigEndian.Uint16(data[ihl+2:])
		up := strings.HasPrefix(comment, "c2s")
		port := dst
		if up {
			port = src
		}
		k := fmt.Sprintf("%s/%d", proto, port)
		f := flows[k]
		if f == nil {
			f = &pcapFlow{}
			flows[k] = f
		}
		dropped := strings.Contains(comment, "dropped")
		if up {
			f.upSent++
			if dropped {
				f.upDropped++
			}
		} else {
			f.downSent++
			if dropped {
				f.downDropped++
			}
		}
	}
	return flows
}

// The loss-order lesson's second table says what the link dropped of each transport's packets and
// how each side repaired it. Read independently: each row's drops equal a connection's in the
// run's pcapng read back (the tcp rows among the TCP connections, the udp and quic rows among
// the UDP ones), and each QUIC side's recovery equals what the text of one of the run's qlog
// files counts.
func TestLossOrderRepairAgreesWithCapture(t *testing.T) {
	dir := t.TempDir()
	lossy := link.Both(link.Impairment{Delay: 5 * time.Millisecond, Loss: 0.05})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := scenarios.Run(ctx, scenarios.Lookup("loss-order"), scenarios.Options{Settings: &lossy, Seed: 4, OutDir: dir,
		Params: map[string]string{"messages": "60", "jitter": "0ms", "duplicate": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Runs[0]
	if len(res.Tables) != 2 {
		t.Fatalf("%d tables, want the messages and the repairs", len(res.Tables))
	}
	tb := res.Tables[1]
	for _, r := range tb.Rows {
		t.Logf("%v", r)
	}
	pcap, err := os.ReadFile(filepath.Join(dir, "loss-order-run1.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	flows := readPcapFlows(t, pcap)
	cells := map[string][]string{} // "tcp" or "udp": the capture's flows as the table writes them
	for k, f := range flows {
		proto, _, _ := strings.Cut(k, "/")
		cells[proto] = append(cells[proto], fmt.Sprintf("%d of %d|%d of %d", f.upDropped, f.upSent, f.downDropped, f.downSent))
	}
	rows := map[string][]string{}
	dropped := 0
	for _, r := range tb.Rows {
		proto := "udp"
		if r[0] == "tcp" || r[0] == "ws" {
			proto = "tcp"
		}
		up, _, _ := strings.Cut(r[1], " (") // without the pure-ACK note
		down, _, _ := strings.Cut(r[2], " (")
		rows[proto] = append(rows[proto], up+"|"+down)
		var u, us, d, ds int
		fmt.Sscanf(up+" "+down, "%d of %d %d of %d", &u, &us, &d, &ds)
		dropped += u + d
	}
	for _, proto := range []string{"tcp", "udp"} {
		slices.Sort(cells[proto])
		slices.Sort(rows[proto])
		if !slices.Equal(cells[proto], rows[proto]) {
			t.Errorf("%s connections: the table says %v, the pcapng %v", proto, rows[proto], cells[proto])
		}
	}
	if dropped == 0 {
		t.Fatal("the link dropped nothing at 5% each way: the check proved nothing")
	}

	// QUIC: each side's "N probe timeouts expired, M packets declared lost by ACK" equals one
	// qlog file's text.
	files, _ := filepath.Glob(filepath.Join(dir, "loss-order-run1-qlog", "*.sqlog"))
	var fromFiles []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		pto, lost := qlogCounts(t, b)
		fromFiles = append(fromFiles, fmt.Sprintf("%d/%d", pto, lost))
	}
	var fromTable []string
	for _, r := range tb.Rows {
		if !strings.HasPrefix(r[0], "quic") {
			continue
		}
		for _, c := range r[3:5] {
			var pto, lost int
			if _, err := fmt.Sscanf(c, "%d probe timeout", &pto); err != nil {
				t.Fatalf("cell %q: %v", c, err)
			}
			_, after, _ := strings.Cut(c, "expired, ")
			fmt.Sscanf(after, "%d", &lost)
			fromTable = append(fromTable, fmt.Sprintf("%d/%d", pto, lost))
		}
	}
	slices.Sort(fromFiles)
	slices.Sort(fromTable)
	if len(files) != 4 || !slices.Equal(fromFiles, fromTable) {
		t.Errorf("QUIC sides' PTO/declared lost: the table says %v, the %d qlog files %v", fromTable, len(files), fromFiles)
	}
}

// qlogCounts counts a qlog's expired PTO timers and recovery:packet_lost events from its text.
func qlogCounts(t *testing.T, b []byte) (pto, lost int) {
	for rec := range bytes.SplitSeq(b, []byte{0x1e}) {
		var ev struct {
			Name string
			Data struct {
				EventType string `json:"event_type"`
				TimerType string `json:"timer_type"`
			}
		}
		if len(bytes.TrimSpace(rec)) == 0 {
			continue
		}
		if err := json.Unmarshal(rec, &ev); err != nil {
			t.Fatalf("qlog record: %v", err)
		}
		switch {
		case ev.Name == "recovery:packet_lost":
			lost++
		case ev.Name == "recovery:loss_timer_updated" && ev.Data.EventType == "expired" && ev.Data.TimerType == "pto":
			pto++
		}
	}
	return pto, lost
}
