package server_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// qlogRecovery is one endpoint's recovery read from a qlog file's text: what the page's
// counters (taken from quic-go's events in process) must agree with.
type qlogRecovery struct {
	sent, declaredLost, pto, resent uint64
}

// readQLogRecovery counts, per vantage point ("client", "server"), the packets sent, the
// recovery:packet_lost events, the expired PTO timers and the STREAM frames whose data starts
// below what that stream had already sent, in a JSON-SEQ qlog (one or more traces).
func readQLogRecovery(t *testing.T, b []byte) map[string]*qlogRecovery {
	t.Helper()
	out := map[string]*qlogRecovery{}
	var cur *qlogRecovery
	var sentEnd map[int64]int64
	for rec := range bytes.SplitSeq(b, []byte{0x1e}) {
		if len(bytes.TrimSpace(rec)) == 0 {
			continue
		}
		var r struct {
			Trace *struct {
				VantagePoint struct{ Type string } `json:"vantage_point"`
			} `json:"trace"`
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
		if err := json.Unmarshal(rec, &r); err != nil {
			t.Fatalf("qlog record %q: %v", rec[:min(len(rec), 120)], err)
		}
		if r.Trace != nil {
			cur = &qlogRecovery{}
			out[r.Trace.VantagePoint.Type] = cur
			sentEnd = map[int64]int64{}
			continue
		}
		if cur == nil {
			t.Fatalf("qlog event %q before its trace's header", r.Name)
		}
		switch r.Name {
		case "transport:packet_sent":
			cur.sent++
			for _, f := range r.Data.Frames {
				if f.FrameType != "stream" || f.Length == 0 {
					continue
				}
				end, seen := sentEnd[f.StreamID]
				if seen && f.Offset < end {
					cur.resent++
				}
				sentEnd[f.StreamID] = max(end, f.Offset+f.Length)
			}
		case "recovery:packet_lost":
			cur.declaredLost++
		case "recovery:loss_timer_updated":
			if r.Data.EventType == "expired" && r.Data.TimerType == "pto" {
				cur.pto++
			}
		}
	}
	return out
}

// Over a lossy link, a QUIC stream's stats show what the link dropped in each direction — equal
// to the link's own counters — and both endpoints' recovery: the client's counts equal those read
// from the text of its qlog download, and each side that lost packets shows how it repaired them
// (quic-go's own "packets lost" counts only losses detected by acknowledgement).
func TestLinkModeQUICRecoveryBothSides(t *testing.T) {
	s := startServer(t, server.Config{LossTimeout: 700 * time.Millisecond})
	base := "http://" + s.Addrs().HTTP
	rc, welcome := dialRelayWelcome(t, s)
	o := newObserved()
	lossy := &protocol.Impairment{LossPct: 8, DelayMs: 2}
	rc.switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Up: lossy, Down: lossy, Seed: 3}, o)
	const count = 60
	for i := range count { // ping-pong: one message at a time, as a chat would send
		id := uint64(10 + i)
		rc.send(protocol.Request{Type: protocol.TypeSend, ID: id, Text: "ping", Transports: []protocol.Transport{protocol.QUICStream}})
		rc.until(func(e protocol.Event) bool {
			o.add(t, e)
			return e.Type == protocol.EventStats && e.Req == id
		})
	}
	// A clean link from now on: what was still being repaired settles and the last message
	// loses nothing, so its stats are final and the link's counters are the whole story.
	clean := &protocol.Impairment{DelayMs: 2}
	rc.switchLink(2, protocol.LinkRequest{Mode: protocol.ModeLink, Up: clean, Down: clean, Seed: 3}, o)
	rc.settle(500*time.Millisecond, o)
	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 5, Text: "last", Transports: []protocol.Transport{protocol.QUICStream}})
	var st *protocol.Stats
	rc.until(func(e protocol.Event) bool {
		o.add(t, e)
		if e.Type == protocol.EventStats && e.Req == 5 {
			st = e.Stats
		}
		return st != nil
	})
	ls := rc.switchLink(6, protocol.LinkRequest{Mode: protocol.ModeLink, Up: clean, Down: clean, Seed: 3}, o)
	if st == nil || st.Link == nil || st.QUICRecovery == nil || st.QUICRecovery.Server == nil || st.QUIC == nil {
		t.Fatalf("stats %+v, want the link's counts and both sides' recovery", st)
	}
	sum := func(m map[string]uint64) (n uint64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	// The session ran only this QUIC connection over its link, so the link's own counters are
	// this flow's.
	f := st.Link
	t.Logf("link: up %d/%d dropped, down %d/%d dropped; link counters up %+v down %+v", f.UpDropped, f.UpSent, f.DownDropped, f.DownSent, ls.UpCounts, ls.DownCounts)
	if f.UpDropped != sum(ls.UpCounts.Dropped) || f.DownDropped != sum(ls.DownCounts.Dropped) {
		t.Errorf("flow drops up %d down %d; the link dropped %d up and %d down", f.UpDropped, f.DownDropped, sum(ls.UpCounts.Dropped), sum(ls.DownCounts.Dropped))
	}
	if f.UpDropped == 0 || f.DownDropped == 0 {
		t.Fatalf("no loss in one direction at 8%%: the check proved nothing")
	}

	c, sv := st.QUICRecovery.Client, *st.QUICRecovery.Server
	t.Logf("client %+v, server %+v; quic-go's packets lost %d", c, sv, st.QUIC.PacketsLost)
	_, _, b := getCapture(t, base+"/relay/qlog?transport=quic-stream&side=client", welcome.Session)
	_, _, bs := getCapture(t, base+"/relay/qlog?transport=quic-stream&side=server", welcome.Session)
	q := readQLogRecovery(t, append(b, bs...))
	qc := q["client"]
	if qc == nil {
		t.Fatalf("qlog download has no client trace (%d bytes)", len(b))
	}
	t.Logf("client qlog text: %+v", *qc)
	if c.PTOExpiries != qc.pto || c.PacketsDeclaredLost != qc.declaredLost || c.StreamFramesResent != qc.resent {
		t.Errorf("client recovery %+v; its qlog reads PTO %d, declared lost %d, frames re-sent %d", c, qc.pto, qc.declaredLost, qc.resent)
	}
	if c.PacketsDeclaredLost != st.QUIC.PacketsLost {
		t.Errorf("declared lost %d, quic-go's PacketsLost %d: the same figure", c.PacketsDeclaredLost, st.QUIC.PacketsLost)
	}
	if qs := q["server"]; qs == nil {
		t.Errorf("qlog download has no server trace (%d bytes)", len(bs))
	} else {
		if sv.PTOExpiries != qs.pto || sv.PacketsDeclaredLost != qs.declaredLost || sv.StreamFramesResent != qs.resent {
			t.Errorf("server recovery %+v; its qlog reads PTO %d, declared lost %d, frames re-sent %d", sv, qs.pto, qs.declaredLost, qs.resent)
		}
	}
	// Every packet the link dropped carried something the sender had to notice; each side that
	// lost packets must show a detection (PTO or acknowledgement) and data sent again.
	if c.PTOExpiries+c.PacketsDeclaredLost == 0 || sv.PTOExpiries+sv.PacketsDeclaredLost == 0 {
		t.Errorf("a side lost packets on the link but shows no loss detection: client %+v server %+v", c, sv)
	}
	// Down packets the stream marks as carrying stream data again were counted by the server.
	marked := map[string]uint64{}
	for _, p := range o.packets[protocol.QUICStream] {
		if p.Retransmit {
			marked[p.Dir]++
		}
	}
	if marked["up"] > c.StreamFramesResent || marked["down"] > sv.StreamFramesResent || marked["up"]+marked["down"] == 0 {
		t.Errorf("packets marked as re-sending stream data %v; frames re-sent client %d server %d", marked, c.StreamFramesResent, sv.StreamFramesResent)
	}
}
