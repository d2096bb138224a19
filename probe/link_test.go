package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/protocol"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// lastSummary parses the JSON lines of a run and returns its summary; every line must parse.
func lastSummary(t *testing.T, out []byte) Summary {
	t.Helper()
	var sum Summary
	sc := bufio.NewScanner(bytes.NewReader(out))
	lines := 0
	for sc.Scan() {
		lines++
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v: %q", lines, err, sc.Text())
		}
		if m["type"] == "summary" {
			if err := json.Unmarshal(sc.Bytes(), &sum); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sum.Type != "summary" {
		t.Fatalf("no summary in %q", out)
	}
	return sum
}

// TestLinkUDPLoss: 20% loss each way with seed 1 loses datagrams, and the summary shows the link's
// drops.
func TestLinkUDPLoss(t *testing.T) {
	var out bytes.Buffer
	o := Options{Transport: protocol.UDP, Count: 30, Size: 64, LossTimeout: 200 * time.Millisecond, JSON: true,
		Link: &LinkOptions{Spec: edit(t, linkspec.Spec{Seed: 1}, func(im *protocol.Impairment) { im.LossPct = 20 })}}
	if _, err := Run(ctx(t), o, &out); err != nil {
		t.Fatal(err)
	}
	sum := lastSummary(t, out.Bytes())
	t.Logf("%+v up %+v down %+v", sum, sum.Link.UpCounts, sum.Link.DownCounts)
	if sum.Lost == 0 || sum.Received == 0 || sum.Sent != 30 {
		t.Errorf("sent %d, received %d, lost %d: want some of each", sum.Sent, sum.Received, sum.Lost)
	}
	l := sum.Link
	if l == nil || l.Seed != 1 || l.Up.LossPct != 20 || l.Down.LossPct != 20 {
		t.Fatalf("link summary %+v", l)
	}
	drops := l.UpCounts.Dropped["loss"] + l.DownCounts.Dropped["loss"]
	if drops == 0 || l.UpCounts.Sent != 30 {
		t.Errorf("link up %+v, down %+v: want 30 sent up and loss drops", l.UpCounts, l.DownCounts)
	}
	// Every datagram the probe lost died on the link, one way or the other.
	if uint64(sum.Lost) != drops {
		t.Errorf("probe lost %d, link dropped %d", sum.Lost, drops)
	}
	// Same seed, same drops.
	out.Reset()
	if _, err := Run(ctx(t), o, &out); err != nil {
		t.Fatal(err)
	}
	if again := lastSummary(t, out.Bytes()); again.Lost != sum.Lost || again.Link.UpCounts.Dropped["loss"] != l.UpCounts.Dropped["loss"] {
		t.Errorf("second run with seed 1 lost %d (link %v), first %d (link %v)", again.Lost, again.Link.UpCounts.Dropped, sum.Lost, l.UpCounts.Dropped)
	}
}

// TestLinkQUICPcapQLog: a QUIC probe across a lossy, delayed link writes a pcapng file and a qlog
// per connection end, and reports quic-go's lost packets.
func TestLinkQUICPcapQLog(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "run.pcapng")
	qdir := filepath.Join(dir, "qlog")
	var out bytes.Buffer
	o := Options{Transport: protocol.QUICStream, Count: 20, Size: 100, Interval: 2 * time.Millisecond, QLogDir: qdir,
		Link: &LinkOptions{Spec: edit(t, linkspec.Spec{Preset: "wifi", Seed: 3}, func(im *protocol.Impairment) { im.DelayMs = 2 }), Pcap: pcap}}
	sum, err := Run(ctx(t), o, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String()[strings.LastIndex(out.String(), "\n\n"):])
	if sum.Received != 20 || sum.QUICPacketsLost == nil || sum.Link == nil || sum.Link.Up.LossPct != 2 || sum.Link.Up.DelayMs != 2 {
		t.Errorf("summary %+v", sum)
	}
	for _, want := range []string{"link: preset wifi, seed 3; up delay 2 ms, loss 2%", "link up  :", "link down:", "QUIC recovery, client (its qlog)", "QUIC recovery, server (its qlog)", "pcapng written to"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text summary lacks %q", want)
		}
	}
	b, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100 || !bytes.Equal(b[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		t.Errorf("pcap file of %d bytes starts % x, want the pcapng section header magic 0a 0d 0d 0a", len(b), b[:min(len(b), 4)])
	}
	for _, side := range []string{"client", "server"} {
		files, _ := filepath.Glob(filepath.Join(qdir, "*_"+side+".sqlog"))
		if len(files) != 1 {
			t.Fatalf("%s qlog files %v, want one", side, files)
		}
		q, _ := os.ReadFile(files[0])
		if !bytes.Contains(q, []byte("connection_closed")) || !bytes.Contains(q, []byte("packet_sent")) {
			t.Errorf("%s qlog (%d bytes) lacks packets or the close", side, len(q))
		}
	}
}

// TestLinkQUICRecovery: across 5% loss each way, ping-pong QUIC repairs its losses mostly after
// probe timeouts, which quic-go's own "packets lost" does not count. The summary's recovery
// counts of each side equal those read from the text of that side's qlog file, and a side whose
// packets the link dropped shows detections.
func TestLinkQUICRecovery(t *testing.T) {
	qdir := t.TempDir()
	var out bytes.Buffer
	o := Options{Transport: protocol.QUICStream, Count: 100, Size: 64, QLogDir: qdir, JSON: true,
		Link: &LinkOptions{Spec: edit(t, linkspec.Spec{Seed: 2}, func(im *protocol.Impairment) { im.LossPct, im.DelayMs = 5, 1 })}}
	if _, err := Run(ctx(t), o, &out); err != nil {
		t.Fatal(err)
	}
	sum := lastSummary(t, out.Bytes())
	r := sum.QUICRecovery
	if r == nil || r.Server == nil || sum.QUICPacketsLost == nil {
		t.Fatalf("summary %+v: want both sides' recovery", sum)
	}
	t.Logf("client %+v server %+v; quic-go packets lost %d; link up %+v down %+v", r.Client, *r.Server, *sum.QUICPacketsLost, sum.Link.UpCounts, sum.Link.DownCounts)
	for side, got := range map[string]*protocol.QUICRecovery{"client": &r.Client, "server": r.Server} {
		files, _ := filepath.Glob(filepath.Join(qdir, "*_"+side+".sqlog"))
		if len(files) != 1 {
			t.Fatalf("%s qlog files %v, want one", side, files)
		}
		b, _ := os.ReadFile(files[0])
		want := qlogRecovery(t, b)
		if *got != want {
			t.Errorf("%s recovery %+v; its qlog file reads %+v", side, *got, want)
		}
	}
	if *sum.QUICPacketsLost != r.Client.PacketsDeclaredLost {
		t.Errorf("quic-go's packets lost %d, declared lost in the qlog %d: the same figure", *sum.QUICPacketsLost, r.Client.PacketsDeclaredLost)
	}
	up, down := sum.Link.UpCounts.Dropped["loss"], sum.Link.DownCounts.Dropped["loss"]
	if up == 0 || down == 0 {
		t.Fatalf("the link dropped %d up and %d down: the check proved nothing", up, down)
	}
	// A lost client packet leaves the client waiting for its echo (or ACK); a lost echo leaves
	// the server waiting for its ACK: each side must notice, by timeout or by acknowledgement.
	if r.Client.PTOExpiries+r.Client.PacketsDeclaredLost == 0 || r.Server.PTOExpiries+r.Server.PacketsDeclaredLost == 0 {
		t.Errorf("packets were dropped both ways, yet client %+v server %+v detected nothing", r.Client, *r.Server)
	}
}

// qlogRecovery reads one endpoint's recovery from the text of its JSON-SEQ qlog: packets sent,
// recovery:packet_lost events, expired PTO timers, and STREAM frames whose data starts below what
// their stream had already sent.
func qlogRecovery(t *testing.T, b []byte) protocol.QUICRecovery {
	t.Helper()
	var r protocol.QUICRecovery
	sentEnd := map[int64]int64{}
	for rec := range bytes.SplitSeq(b, []byte{0x1e}) {
		if len(bytes.TrimSpace(rec)) == 0 {
			continue
		}
		var ev struct {
			Name string `json:"name"`
			Data struct {
				EventType string `json:"event_type"`
				TimerType string `json:"timer_type"`
				Frames    []struct {
					FrameType string `json:"frame_type"`
					StreamID  int64  `json:"stream_id"`
					Offset    int64  `json:"offset"`
					Length    int64  `json:"length"`
				} `json:"frames"`
			} `json:"data"`
		}
		if err := json.Unmarshal(rec, &ev); err != nil {
			t.Fatalf("qlog record %q: %v", rec[:min(len(rec), 120)], err)
		}
		switch ev.Name {
		case "transport:packet_sent":
			r.PacketsSent++
			for _, f := range ev.Data.Frames {
				if f.FrameType != "stream" || f.Length == 0 {
					continue
				}
				end, seen := sentEnd[f.StreamID]
				if seen && f.Offset < end {
					r.StreamFramesResent++
				}
				sentEnd[f.StreamID] = max(end, f.Offset+f.Length)
			}
		case "recovery:packet_lost":
			r.PacketsDeclaredLost++
		case "recovery:loss_timer_updated":
			if ev.Data.EventType == "expired" && ev.Data.TimerType == "pto" {
				r.PTOExpiries++
			}
		}
	}
	return r
}

// TestLinkTCPRetransmissions: TCP across 10% loss retransmits, and the summary says how often.
func TestLinkTCPRetransmissions(t *testing.T) {
	var out bytes.Buffer
	// Which of the client's packets the seeded loss hits depends on how its data and ACKs
	// interleave, which a busy machine changes: 40 messages once lost only pure ACKs (4 of them).
	// With 200, some 30 client packets are dropped and data is certainly among them.
	const count = 200
	o := Options{Transport: protocol.TCP, Count: count, Size: 64, Interval: time.Millisecond,
		Link: &LinkOptions{Spec: edit(t, linkspec.Spec{Seed: 5}, func(im *protocol.Impairment) { im.LossPct, im.DelayMs = 10, 1 })}}
	sum, err := Run(ctx(t), o, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Received != count || sum.TCPRetransmissions == nil || sum.Link.UpCounts.Dropped["loss"] == 0 {
		t.Fatalf("summary %+v, link %+v", sum, sum.Link)
	}
	if *sum.TCPRetransmissions == 0 {
		t.Errorf("no TCP retransmissions although the link dropped %d packets up", sum.Link.UpCounts.Dropped["loss"])
	}
	if !strings.Contains(out.String(), "TCP retransmissions") {
		t.Errorf("text summary lacks the retransmissions:\n%s", out.String())
	}
}

// edit is s with edit applied to both directions of its preset.
func edit(t *testing.T, s linkspec.Spec, edit func(*protocol.Impairment)) linkspec.Spec {
	t.Helper()
	s, err := s.EditBoth("", edit)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLinkSpecErrors: a probe refuses a link it cannot build, naming the preset or the field.
func TestLinkSpecErrors(t *testing.T) {
	for _, tt := range []struct {
		spec linkspec.Spec
		want string
	}{
		{linkspec.Spec{Preset: "moon"}, `unknown preset "moon"`},
		{linkspec.Spec{Up: &protocol.Impairment{LossPct: 150}}, "link up: loss 150% is outside 0..100"},
		{linkspec.Spec{Down: &protocol.Impairment{DelayMs: 1, JitterMs: 2}}, "link down: jitter 2 ms is outside 0..delay (1 ms)"},
	} {
		o := Options{Transport: protocol.UDP, Count: 1, Size: 8, Link: &LinkOptions{Spec: tt.spec}}
		// Said once: `wireplay probe: …` adds the command's name, not "probe: " again.
		if _, err := Run(ctx(t), o, io.Discard); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.spec, err, tt.want)
		}
	}
}

// TestLinkSummary3G: a probe on 3g with one field changed keeps the preset's queue bound.
func TestLinkSummary3G(t *testing.T) {
	var out bytes.Buffer
	o := Options{Transport: protocol.UDP, Count: 2, Size: 64, JSON: true,
		Link: &LinkOptions{Spec: edit(t, linkspec.Spec{Preset: "3g"}, func(im *protocol.Impairment) { im.DelayMs = 5 })}}
	sum, err := Run(ctx(t), o, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range []protocol.Impairment{sum.Link.Up, sum.Link.Down} {
		if im.DelayMs != 5 || im.QueueBytes != 64<<10 || im.RateKbps != 1000 {
			t.Errorf("3g with a 5 ms delay: %+v", im)
		}
	}
}

// A probe that runs into its timeout still prints its summary, says it timed out, and returns
// an error: here every datagram dies in a blackhole and the loss timeout is longer than the run.
func TestLinkTimeoutPrintsSummary(t *testing.T) {
	var out bytes.Buffer
	o := Options{Transport: protocol.UDP, Count: 5, Size: 64, LossTimeout: time.Minute, JSON: true,
		Link: &LinkOptions{Spec: linkspec.Spec{Seed: 1, Up: &protocol.Impairment{Blackhole: true}}}}
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Run(c, o, &out)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a timeout", err)
	}
	sum := lastSummary(t, out.Bytes())
	if !sum.TimedOut || sum.Sent < 1 || sum.Received != 0 || sum.Link == nil {
		t.Fatalf("summary %+v, want the run so far, marked timed out", sum)
	}
	if got := sum.Link.UpCounts.Dropped["blackhole"]; got != uint64(sum.Sent) {
		t.Errorf("link's blackhole dropped %d, the probe sent %d", got, sum.Sent)
	}
}
