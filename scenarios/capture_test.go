package scenarios

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pcapngPackets counts the Enhanced Packet Blocks of a pcapng file of one or more sections, and
// the sections.
func pcapngPackets(t *testing.T, path string) (packets, sections int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	ifaces := 0
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("%s: truncated block", path)
		}
		typ, total := le.Uint32(b), int(le.Uint32(b[4:]))
		if total < 12 || total > len(b) || total%4 != 0 || le.Uint32(b[total-4:]) != uint32(total) {
			t.Fatalf("%s: bad block length %d", path, total)
		}
		switch typ {
		case 0x0A0D0D0A:
			sections++
			ifaces = 0
		case 1:
			ifaces++
		case 6:
			if id := int(le.Uint32(b[8:])); id >= ifaces {
				t.Fatalf("%s: packet on interface %d of %d", path, id, ifaces)
			}
			packets++
		}
		b = b[total:]
	}
	return packets, sections
}

// TestOutDirCapturesEveryLink: every lesson's --out holds a pcapng with every packet of every
// link the run built (the links' own Sent counters) and a qlog of both ends of its QUIC
// connections.
func TestOutDirCapturesEveryLink(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]string
		quic   bool
	}{
		{"handshake", map[string]string{"requests": "2"}, true},
		{"boundaries", map[string]string{"trials": "1", "gap": "1ms"}, true},
		{"loss-order", map[string]string{"messages": "20"}, true},
		{"hol", map[string]string{"messages": "5", "rtt": "10ms"}, true},
		{"migration", map[string]string{"before": "100ms", "after": "200ms", "rtt": "10ms", "dead_after": "150ms"}, true},
		{"throughput", map[string]string{"losses": "0,1", "rtts": "10ms", "bytes": "200000", "cap": "300ms"}, true},
		{"dead-peer", map[string]string{"heartbeat": "50ms", "keepalive_idle": "50ms", "keepalive_interval": "50ms", "idle_timeout": "200ms", "quic_keepalive": "50ms"}, true},
		{"backlog", map[string]string{"connects": "6", "hold": "100ms", "rtt": "10ms"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var sent uint64
			var pcap string
			opt := Options{Seed: 1, OutDir: dir, Params: c.params, captured: func(path string, n uint64) { pcap, sent = path, n }}
			if _, err := Run(context.Background(), Lookup(c.name), opt); err != nil {
				t.Fatal(err)
			}
			packets, sections := pcapngPackets(t, pcap)
			t.Logf("%s: %d packets in %d sections (links); the links sent %d", filepath.Base(pcap), packets, sections, sent)
			if sent == 0 || uint64(packets) != sent {
				t.Errorf("the pcapng holds %d packets, the run's links sent %d", packets, sent)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) > 0 {
				t.Errorf("temporary files left: %v", leftovers)
			}
			files, _ := filepath.Glob(filepath.Join(dir, c.name+"-run1-qlog", "*.sqlog"))
			if !c.quic {
				if len(files) != 0 {
					t.Errorf("qlog files %v from a lesson without QUIC", files)
				}
				return
			}
			sides := map[string]int{}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil || len(b) == 0 || b[0] != 0x1e {
					t.Errorf("%s is not a JSON-SEQ qlog (%v)", f, err)
				}
				base := filepath.Base(f)
				if strings.HasSuffix(base, "_client.sqlog") {
					sides[strings.TrimSuffix(base, "_client.sqlog")] |= 1
				} else {
					sides[strings.TrimSuffix(base, "_server.sqlog")] |= 2
				}
			}
			both := 0
			for _, s := range sides {
				if s == 3 {
					both++
				}
			}
			t.Logf("%d qlog files, %d connections with both ends", len(files), both)
			if both == 0 {
				t.Errorf("no QUIC connection has both ends' qlog: %v", files)
			}
		})
	}
}
