package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// observed collects what a relay session streamed besides the transports' own events.
type observed struct {
	packets map[protocol.Transport][]protocol.PacketInfo
	metrics map[protocol.Transport][]protocol.MetricSample
	done    map[protocol.Transport]int // complete + lost
	lost    map[protocol.Transport]int
	errors  []protocol.Event
}

func newObserved() *observed {
	return &observed{packets: map[protocol.Transport][]protocol.PacketInfo{}, metrics: map[protocol.Transport][]protocol.MetricSample{},
		done: map[protocol.Transport]int{}, lost: map[protocol.Transport]int{}}
}

func (o *observed) add(t *testing.T, e protocol.Event) {
	switch e.Type {
	case protocol.EventPackets:
		if len(e.Packets) == 0 || len(e.Packets) > 60 {
			t.Errorf("packets event with %d packets", len(e.Packets))
		}
		for _, p := range e.Packets {
			if !p.Transport.Valid() {
				t.Errorf("packet of no session transport: %+v", p)
			}
			o.packets[p.Transport] = append(o.packets[p.Transport], p)
		}
	case protocol.EventMetrics:
		for _, m := range e.Metrics {
			o.metrics[m.Transport] = append(o.metrics[m.Transport], m)
		}
	case protocol.EventComplete:
		o.done[e.Transport]++
	case protocol.EventLost:
		o.done[e.Transport]++
		o.lost[e.Transport]++
	case protocol.EventError:
		o.errors = append(o.errors, e)
	}
}

// allDone reports whether every transport has n messages complete or lost.
func (o *observed) allDone(n int) bool {
	for _, tr := range protocol.Transports {
		if o.done[tr] < n {
			return false
		}
	}
	return true
}

// switchLink sends a "link" request and returns the "link" event answering it.
func (rc *relayClient) switchLink(id uint64, lr protocol.LinkRequest, o *observed) *protocol.LinkState {
	rc.t.Helper()
	rc.send(protocol.Request{Type: protocol.TypeLink, ID: id, Link: &lr})
	var st *protocol.LinkState
	rc.until(func(e protocol.Event) bool {
		if o != nil {
			o.add(rc.t, e)
		}
		if e.Type == protocol.EventError && e.Req == id {
			rc.t.Fatalf("link request %d: %s", id, e.Error)
		}
		if e.Type == protocol.EventLink && e.Req == id {
			st = e.Link
			return true
		}
		return false
	})
	return st
}

// settle waits d, then collects events until the answer to a ping (reading with a deadline would
// close the WebSocket).
func (rc *relayClient) settle(d time.Duration, o *observed) {
	rc.t.Helper()
	time.Sleep(d)
	t0 := float64(time.Now().UnixNano())
	rc.send(protocol.Request{Type: protocol.TypePing, T0: t0})
	rc.until(func(e protocol.Event) bool {
		o.add(rc.t, e)
		return e.Type == protocol.EventPong && e.T0 == t0
	})
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	return getCapture(t, url, "")
}

// getCapture GETs a capture download (pcapng, qlog) of the session, named in its header.
func getCapture(t *testing.T, url, session string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if session != "" {
		req.Header.Set(protocol.SessionHeader, session)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

// enhancedPacketBlocks checks a pcapng's section header and counts its packets.
func enhancedPacketBlocks(t *testing.T, b []byte) int {
	t.Helper()
	if len(b) < 28 || binary.LittleEndian.Uint32(b) != 0x0A0D0D0A || binary.LittleEndian.Uint32(b[8:]) != 0x1A2B3C4D {
		t.Fatalf("not a little-endian pcapng: % x", b[:min(len(b), 16)])
	}
	n := 0
	for off := 0; off+12 <= len(b); {
		typ, size := binary.LittleEndian.Uint32(b[off:]), int(binary.LittleEndian.Uint32(b[off+4:]))
		if size < 12 || off+size > len(b) {
			t.Fatalf("bad block at %d: type %#x size %d", off, typ, size)
		}
		if typ == 6 {
			n++
		}
		off += size
	}
	return n
}

func TestLinkMode(t *testing.T) {
	s := startServer(t, server.Config{LossTimeout: 700 * time.Millisecond})
	base := "http://" + s.Addrs().HTTP
	rc, welcome := dialRelayWelcome(t, s)
	if len(welcome.Presets) < 5 || welcome.Presets[0].Name != "clean" || welcome.Link == nil || welcome.Link.Mode != protocol.ModeKernel {
		t.Fatalf("welcome presets %+v link %+v", welcome.Presets, welcome.Link)
	}
	if len(welcome.Session) != 32 {
		t.Errorf("session id %q is not 128 bits", welcome.Session)
	}
	o := newObserved()

	// Kernel mode: a download of the link's capture is a conflict.
	if code, _, _ := getCapture(t, base+"/relay/pcapng", welcome.Session); code != http.StatusConflict {
		t.Errorf("pcapng in kernel mode: %d, want 409", code)
	}
	st := rc.switchLink(3, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "clean"}, o)
	if st.Mode != protocol.ModeLink || st.Preset != "clean" || st.Seed != 1 {
		t.Fatalf("link state %+v", st)
	}

	t.Run("clean link: every transport, its packets and a TCP SYN", func(t *testing.T) {
		rc.send(protocol.Request{Type: protocol.TypeSend, ID: 4, Text: "over the link"})
		rc.until(func(e protocol.Event) bool { o.add(t, e); return o.allDone(1) })
		rc.settle(300*time.Millisecond, o)
		for _, e := range o.errors {
			t.Errorf("error event: %+v", e)
		}
		syn := false
		for _, tr := range protocol.Transports {
			if len(o.packets[tr]) == 0 {
				t.Errorf("%s: no packets", tr)
			}
			for _, p := range o.packets[tr] {
				if p.Fate != "delivered" || (p.Dir != "up" && p.Dir != "down") || p.Summary == "" {
					t.Errorf("%s: packet %+v", tr, p)
				}
				if tr == protocol.TCP && strings.HasPrefix(p.Summary, "SYN seq=0") && p.Dir == "up" {
					syn = true
				}
			}
		}
		if !syn {
			t.Errorf("no TCP SYN among %+v", o.packets[protocol.TCP])
		}
		if q := o.packets[protocol.QUICStream]; len(q) == 0 || !strings.HasPrefix(q[0].Summary, "QUIC Initial") {
			t.Errorf("first QUIC stream packet is not an Initial: %+v", q)
		}
	})

	t.Run("lossy link with a fixed seed", func(t *testing.T) {
		lossy := &protocol.Impairment{LossPct: 10, DelayMs: 2}
		*o = *newObserved()
		st := rc.switchLink(5, protocol.LinkRequest{Mode: protocol.ModeLink, Up: lossy, Down: lossy, Seed: 3}, o)
		if st.Seed != 3 || st.Up.LossPct != 10 || st.Down.LossPct != 10 {
			t.Fatalf("link state %+v", st)
		}
		const count = 50
		rc.send(protocol.Request{Type: protocol.TypeBurst, ID: 6, Count: count, Size: 1000})
		rc.until(func(e protocol.Event) bool { o.add(t, e); return o.allDone(count) })
		rc.settle(300*time.Millisecond, o)
		if o.lost[protocol.UDP] == 0 {
			t.Error("no UDP message lost at 10% loss each way")
		}
		udpDropped, tcpRetx := 0, 0
		for _, p := range o.packets[protocol.UDP] {
			if p.Fate == "dropped" && p.Rule == "loss" {
				udpDropped++
			}
		}
		for _, p := range o.packets[protocol.TCP] {
			if p.Retransmit {
				tcpRetx++
			}
		}
		if udpDropped == 0 || tcpRetx == 0 {
			t.Errorf("%d UDP packets dropped, %d TCP retransmissions; want both", udpDropped, tcpRetx)
		}
		for _, tr := range []protocol.Transport{protocol.TCP, protocol.QUICStream} {
			ok := false
			for _, m := range o.metrics[tr] {
				ok = ok || (m.CwndBytes > 0 && m.SRTTMicros > 0)
			}
			if !ok {
				t.Errorf("%s: no metric sample with a congestion window and RTT: %+v", tr, o.metrics[tr])
			}
		}
		if o.metrics[protocol.TCP][0].Source != "tcp_info" || o.metrics[protocol.QUICStream][0].Source != "qlog" {
			t.Errorf("metric sources %+v %+v", o.metrics[protocol.TCP][0], o.metrics[protocol.QUICStream][0])
		}
		t.Logf("udp lost %d, udp packets dropped %d, tcp retransmissions %d, %d tcp and %d quic samples",
			o.lost[protocol.UDP], udpDropped, tcpRetx, len(o.metrics[protocol.TCP]), len(o.metrics[protocol.QUICStream]))

		st = rc.switchLink(7, protocol.LinkRequest{Mode: protocol.ModeLink, Up: lossy, Down: lossy, Seed: 3}, o)
		if st.UpCounts.Sent == 0 || st.UpCounts.Dropped["loss"] == 0 || st.DownCounts.Delivered == 0 {
			t.Errorf("counts %+v %+v", st.UpCounts, st.DownCounts)
		}
	})

	t.Run("downloads", func(t *testing.T) {
		code, h, b := getCapture(t, base+"/relay/pcapng", welcome.Session)
		if code != 200 || !strings.Contains(h.Get("Content-Disposition"), "wireplay-"+welcome.Session+".pcapng") {
			t.Fatalf("pcapng: %d %v", code, h)
		}
		if n := enhancedPacketBlocks(t, b); n < 100 {
			t.Errorf("pcapng holds %d packets, want ≥ 100", n)
		}
		if tr := h.Get(protocol.TruncatedHeader); tr != "" {
			t.Errorf("a capture within its cap says it was truncated: %q", tr)
		}
		if tshark, err := exec.LookPath("tshark"); err == nil {
			f := filepath.Join(t.TempDir(), "c.pcapng")
			os.WriteFile(f, b, 0o600)
			if out, err := exec.Command(tshark, "-r", f, "-c", "5").CombinedOutput(); err != nil {
				t.Errorf("tshark: %v\n%s", err, out)
			}
		}
		// The session in the query string (it would land in logs) is refused, and so is none.
		for _, u := range []string{"/relay/pcapng?session=" + welcome.Session, "/relay/qlog?transport=quic-stream&session=" + welcome.Session, "/relay/pcapng"} {
			if code, _, b := get(t, base+u); code != http.StatusBadRequest || !strings.Contains(string(b), protocol.SessionHeader) {
				t.Errorf("GET %s: %d %q, want 400 naming the %s header", u, code, b, protocol.SessionHeader)
			}
		}
		var id [16]byte
		rand.Read(id[:])
		if code, _, _ := getCapture(t, base+"/relay/pcapng", hex.EncodeToString(id[:])); code != http.StatusNotFound {
			t.Errorf("unknown session: %d, want 404", code)
		}
		qlog := base + "/relay/qlog?transport=quic-stream"
		for _, side := range []string{"client", "server"} {
			code, h, b = getCapture(t, qlog+"&side="+side, welcome.Session)
			if code != 200 || len(b) == 0 || b[0] != 0x1e || !strings.HasSuffix(h.Get("Content-Disposition"), "-"+side+`.sqlog"`) ||
				!bytes.Contains(b, []byte(`"vantage_point":{"type":"`+side+`"}`)) || !bytes.Contains(b, []byte("recovery:metrics_updated")) {
				t.Errorf("qlog of the %s: %d %v %q", side, code, h, b[:min(len(b), 300)])
			}
		}
		// Without side: both ends in one qlog JSON file, the form qvis opens as two traces (it
		// looks for qlog_version and qlog_format "JSON" in the first kilobyte).
		code, h, b = getCapture(t, qlog, welcome.Session)
		var file struct {
			Version string `json:"qlog_version"`
			Format  string `json:"qlog_format"`
			Traces  []struct {
				VantagePoint struct{ Type string } `json:"vantage_point"`
				Common       struct {
					GroupID string `json:"group_id"`
				} `json:"common_fields"`
				Events []struct {
					Time float64 `json:"time"`
					Name string  `json:"name"`
				} `json:"events"`
			} `json:"traces"`
		}
		if err := json.Unmarshal(b, &file); code != 200 || err != nil || !strings.HasSuffix(h.Get("Content-Disposition"), `.qlog"`) {
			t.Fatalf("qlog of both ends: %d %v %v %q", code, h, err, b[:min(len(b), 300)])
		}
		if head := string(b[:min(len(b), 1024)]); file.Version != "0.3" || file.Format != "JSON" || !strings.Contains(head, "qlog_version") || !strings.Contains(head, "qlog_format") {
			t.Errorf("qlog file header %q", head)
		}
		if len(file.Traces) != 2 || file.Traces[0].VantagePoint.Type != "client" || file.Traces[1].VantagePoint.Type != "server" ||
			file.Traces[0].Common.GroupID == "" || file.Traces[0].Common.GroupID != file.Traces[1].Common.GroupID {
			t.Errorf("qlog traces %+v, want the client's and the server's of one connection", file.Traces)
		}
		for _, tr := range file.Traces {
			names := map[string]bool{}
			for _, e := range tr.Events {
				names[e.Name] = true
			}
			if !names["transport:packet_sent"] || !names["transport:packet_received"] {
				t.Errorf("%s trace: %d events without packets sent and received", tr.VantagePoint.Type, len(tr.Events))
			}
		}
		if code, _, _ := getCapture(t, qlog+"&side=both", welcome.Session); code != http.StatusBadRequest {
			t.Errorf("qlog side=both: %d, want 400", code)
		}
		if code, _, _ := getCapture(t, base+"/relay/qlog?transport=tcp", welcome.Session); code != http.StatusBadRequest {
			t.Errorf("qlog of tcp: %d, want 400", code)
		}
	})

	t.Run("live settings change: drop the next UDP datagram", func(t *testing.T) {
		*o = *newObserved()
		st := rc.switchLink(8, protocol.LinkRequest{Mode: protocol.ModeLink, Seed: 3, Up: &protocol.Impairment{DropNth: 1}}, o)
		if st.Up.DropNth != 1 || st.Up.LossPct != 0 {
			t.Fatalf("link state %+v", st)
		}
		rc.send(protocol.Request{Type: protocol.TypeSend, ID: 9, Text: "doomed", Transports: []protocol.Transport{protocol.UDP}})
		rc.until(func(e protocol.Event) bool {
			o.add(t, e)
			if e.Type == protocol.EventDial {
				t.Errorf("a live change redialled: %+v", e)
			}
			return o.done[protocol.UDP] == 1
		})
		rc.settle(100*time.Millisecond, o)
		if o.lost[protocol.UDP] != 1 {
			t.Errorf("the first datagram after drop_nth=1 was not lost")
		}
		dropped := false
		for _, p := range o.packets[protocol.UDP] {
			dropped = dropped || (p.Rule == "dropnth" && p.Dir == "up")
		}
		if !dropped {
			t.Errorf("no packet dropped by dropnth: %+v", o.packets[protocol.UDP])
		}
	})

	t.Run("invalid preset", func(t *testing.T) {
		rc.send(protocol.Request{Type: protocol.TypeLink, ID: 10, Link: &protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "moon"}})
		rc.until(func(e protocol.Event) bool {
			return e.Type == protocol.EventError && e.Req == 10 && strings.Contains(e.Error, "moon")
		})
		rc.send(protocol.Request{Type: protocol.TypePing, T0: 5})
		rc.until(func(e protocol.Event) bool { return e.Type == protocol.EventPong })
	})

	t.Run("back to the kernel", func(t *testing.T) {
		st := rc.switchLink(11, protocol.LinkRequest{Mode: protocol.ModeKernel}, nil)
		if st.Mode != protocol.ModeKernel {
			t.Fatalf("state %+v", st)
		}
		*o = *newObserved()
		rc.send(protocol.Request{Type: protocol.TypeSend, ID: 12, Text: "home again"})
		dials := 0
		rc.until(func(e protocol.Event) bool {
			o.add(t, e)
			if e.Type == protocol.EventDial {
				dials++
			}
			return o.allDone(1)
		})
		if dials != 5 || len(o.packets) != 0 || len(o.errors) != 0 {
			t.Errorf("after switching back: %d dials, packets %v, errors %+v", dials, o.packets, o.errors)
		}
		if code, _, _ := getCapture(t, base+"/relay/pcapng", welcome.Session); code != http.StatusConflict {
			t.Errorf("pcapng back in kernel mode: %d, want 409", code)
		}
	})
}

// dialRelayWelcome is dialRelay keeping the welcome event.
func dialRelayWelcome(t *testing.T, s *server.Server) (*relayClient, protocol.Event) {
	t.Helper()
	c, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/relay", nil)
	if err != nil {
		t.Fatalf("dial relay: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(protocol.MaxReportMessage) // the welcome lists the lessons
	rc := &relayClient{t: t, c: c}
	w := rc.next()
	if w.Type != protocol.EventWelcome {
		t.Fatalf("first event %+v, want welcome", w)
	}
	return rc, w
}

// holLesson sends the Head-of-line tab's request, the "hol" lesson on sr's link with the given
// messages, size and drop, and returns its report; every packet event before it must be the
// lesson's (tagged with its request), not the session's.
func (rc *relayClient) holLesson(id uint64, sr protocol.ScenarioRequest, params map[string]string) *protocol.ScenarioReport {
	rc.t.Helper()
	sr.Name, sr.Params = "hol", params
	rc.send(protocol.Request{Type: protocol.TypeScenario, ID: id, Scenario: &sr})
	evs := rc.until(func(e protocol.Event) bool {
		return (e.Type == protocol.EventScenario || e.Type == protocol.EventError) && e.Req == id
	})
	last := evs[len(evs)-1]
	if last.Type != protocol.EventScenario || last.Report == nil || len(last.Report.Runs) != 1 {
		rc.t.Fatalf("got %+v, want the hol lesson's report", last)
	}
	for _, e := range evs {
		if e.Type == protocol.EventPackets && e.Req != id {
			rc.t.Errorf("a packets event of request %d during the lesson: %+v", e.Req, e)
		}
	}
	return last.Report
}

// holMetric is a metric of the report's run.
func holMetric(t *testing.T, rep *protocol.ScenarioReport, transport, name string) float64 {
	t.Helper()
	for _, m := range rep.Runs[0].Metrics {
		if string(m.Transport) == transport && m.Name == name {
			return m.Value
		}
	}
	t.Fatalf("no metric %s %s", transport, name)
	return 0
}

// TestLinkModeHOL runs what the Head-of-line tab sends: the "hol" lesson, on a link of its own.
// In kernel mode it runs on the lesson's own link; in link mode on the session's settings (preset,
// both directions, seed) with no round trip added, which the report's link and its rtt_ms metric
// show.
func TestLinkModeHOL(t *testing.T) {
	s := startServer(t, server.Config{})
	rc, _ := dialRelayWelcome(t, s)
	rc.c.SetReadLimit(protocol.MaxReportMessage)
	params := map[string]string{"messages": "10", "size": "200", "drop_nth": "1"}

	rep := rc.holLesson(2, protocol.ScenarioRequest{}, params)
	if rep.Preset != "clean" || holMetric(t, rep, "", "rtt_ms") != 60 {
		t.Errorf("kernel mode: the lesson ran on %q with an rtt of %g ms, want its own clean link and 60 ms", rep.Preset, holMetric(t, rep, "", "rtt_ms"))
	}

	st := rc.switchLink(3, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "wifi", Seed: 3}, nil)
	params["rtt"] = "0"
	rep = rc.holLesson(4, protocol.ScenarioRequest{Preset: st.Preset, Up: &st.Up, Down: &st.Down, Seed: st.Seed}, params)
	if rep.Preset != "wifi" || rep.Seed != 3 {
		t.Errorf("link mode: the lesson ran on %q seed %d, want the session's wifi, seed 3", rep.Preset, rep.Seed)
	}
	if got, want := holMetric(t, rep, "", "rtt_ms"), st.Up.DelayMs+st.Down.DelayMs; got != want {
		t.Errorf("link mode: rtt %g ms, want the session's %g ms", got, want)
	}
	charts := map[string]int{}
	for _, sr := range rep.Runs[0].Series {
		charts[sr.Chart]++
	}
	for _, tr := range []string{"tcp", "quic-stream", "udp", "ws"} {
		if n := charts["Delivery time — "+tr]; n != 3 {
			t.Errorf("%d series in the %s chart, want 3 (one per stream)", n, tr)
		}
	}
}

func TestLinkModeCapAndSessionEnd(t *testing.T) {
	s := startServer(t, server.Config{MaxLinks: 1})
	a, wa := dialRelayWelcome(t, s)
	b, _ := dialRelayWelcome(t, s)
	a.switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "wifi", Seed: 2}, nil)
	// A rebuild (another seed) reuses the session's place.
	a.switchLink(2, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "wifi", Seed: 3}, nil)
	b.send(protocol.Request{Type: protocol.TypeLink, ID: 1, Link: &protocol.LinkRequest{Mode: protocol.ModeLink}})
	b.until(func(e protocol.Event) bool {
		return e.Type == protocol.EventError && e.Req == 1 && strings.Contains(e.Error, "too many emulated links")
	})
	// The session's end closes its link: its captures are gone and its place is free.
	a.c.Close(websocket.StatusNormalClosure, "")
	base := "http://" + s.Addrs().HTTP
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, _ := getCapture(t, base+"/relay/pcapng", wa.Session)
		if code == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pcapng of an ended session: %d, want 404", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := b.switchLink(2, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "3g"}, nil)
	if st.Preset != "3g" || st.Up.DelayMs != 150 || st.Up.RateKbps != 1000 {
		t.Errorf("state %+v", st)
	}
}
