package server_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/transports"
)

// downloadURL is the address of a session's capture download: what is "pcapng" or "qlog",
// query the rest of its query string.
func downloadURL(base, what, session, query string) string {
	u := base + "/relay/" + what + "?session=" + session
	if query != "" {
		u += "&" + query
	}
	return u
}

// burstMiB asks for a 1 MiB burst (64 messages of 16 KiB, the protocol's largest) on each of
// transports, and reads events until every message of it is complete or lost.
func burstMiB(rc *relayClient, id uint64, transports ...protocol.Transport) {
	rc.t.Helper()
	rc.send(protocol.Request{Type: protocol.TypeBurst, ID: id, Count: protocol.MaxBurstBytes / protocol.MaxBurstSize,
		Size: protocol.MaxBurstSize, Transports: transports})
	done := 0
	rc.until(func(e protocol.Event) bool {
		if e.Req != id {
			return false
		}
		switch e.Type {
		case protocol.EventComplete, protocol.EventLost:
			done++
		case protocol.EventError:
			rc.t.Fatalf("burst %d: %s", id, e.Error)
		}
		return done == len(transports)*protocol.MaxBurstBytes/protocol.MaxBurstSize
	})
}

// TestLinkModeCapturesCapped: a page that sends far more than Config.CaptureBytes and
// Config.QLogBytes over its emulated link downloads a pcapng and qlogs within those bounds,
// each saying it was truncated, and each still whole (tshark reads the capture; every qlog
// record is JSON).
func TestLinkModeCapturesCapped(t *testing.T) {
	const capture, qlogs = 256 << 10, 6 * (96 << 10) // a trace's share is 96 KiB
	s := startServer(t, server.Config{CaptureBytes: capture, QLogBytes: qlogs})
	base := "http://" + s.Addrs().HTTP
	rc, welcome := dialRelayWelcome(t, s)
	rc.switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "clean"}, nil)
	for i := range 3 { // 3 MiB each way per transport: 12× the capture bound
		burstMiB(rc, uint64(10+i), protocol.QUICStream, protocol.TCP)
	}

	code, _, b := get(t, downloadURL(base, "pcapng", welcome.Session, ""))
	if code != 200 {
		t.Fatalf("pcapng: %d %s", code, b)
	}
	// The log's bound covers the packets; the header and the TLS key log come on top.
	if n := enhancedPacketBlocks(t, b); len(b) > capture+16<<10 || n == 0 {
		t.Errorf("pcapng of %d bytes (%d packets), bound %d", len(b), n, capture)
	}
	if !bytes.Contains(b[:min(len(b), 1024)], []byte(link.TruncatedComment)) {
		t.Errorf("pcapng section header does not say it was truncated: %q", b[:min(len(b), 200)])
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		f := filepath.Join(t.TempDir(), "c.pcapng")
		os.WriteFile(f, b, 0o600)
		out, err := exec.Command(tshark, "-r", f, "-T", "fields", "-e", "frame.number").Output()
		if n := bytes.Count(out, []byte("\n")); err != nil || n != enhancedPacketBlocks(t, b) {
			t.Errorf("tshark read %d packets: %v\n%s", n, err, out[:min(len(out), 500)])
		}
	}

	for _, side := range []string{"client", "server"} {
		code, _, b := get(t, downloadURL(base, "qlog", welcome.Session, "transport=quic-stream&side="+side))
		if code != 200 || len(b) > qlogs/6 {
			t.Fatalf("qlog of the %s: %d, %d bytes (share %d)", side, code, len(b), qlogs/6)
		}
		recs := bytes.Split(b, []byte{qlogwriter.RecordSeparator})[1:]
		for i, r := range recs {
			if !json.Valid(r) {
				t.Fatalf("%s: record %d is not JSON: %q", side, i, r)
			}
		}
		var last struct{ Name string }
		if json.Unmarshal(recs[len(recs)-1], &last); last.Name != transports.QLogTruncatedEvent {
			t.Errorf("%s qlog ends in %s, want %s", side, recs[len(recs)-1], transports.QLogTruncatedEvent)
		}
	}
	code, _, b = get(t, downloadURL(base, "qlog", welcome.Session, "transport=quic-stream"))
	if code != 200 || !bytes.Contains(b, []byte(transports.QLogTruncatedEvent)) || len(b) > 2*qlogs/6 {
		t.Errorf("qlog of both ends: %d, %d bytes, truncation shown %v", code, len(b), bytes.Contains(b, []byte(transports.QLogTruncatedEvent)))
	}
}
