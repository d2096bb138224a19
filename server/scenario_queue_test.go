package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// lessonClient is a relay connection from a chosen loopback address whose events are read all
// the time (a lesson streams its packets; a client that stopped reading would be cut off) and
// kept for the test to go through in order.
type lessonClient struct {
	t      *testing.T
	name   string
	c      *websocket.Conn
	events chan protocol.Event
}

func dialLessonClient(t *testing.T, s *server.Server, name, ip string) *lessonClient {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	c, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/relay", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial relay from %s: %v", ip, err)
	}
	c.SetReadLimit(protocol.MaxReportMessage)
	lc := &lessonClient{t: t, name: name, c: c, events: make(chan protocol.Event, 1<<16)}
	t.Cleanup(func() { c.CloseNow() })
	go func() {
		defer close(lc.events)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			evs, err := protocol.DecodeEvents(b)
			if err != nil {
				return
			}
			for _, e := range evs {
				lc.events <- e
			}
		}
	}()
	if e := lc.next(); e.Type != protocol.EventWelcome {
		t.Fatalf("%s: first event %+v, want welcome", name, e)
	}
	return lc
}

func (lc *lessonClient) next() protocol.Event {
	lc.t.Helper()
	select {
	case e, ok := <-lc.events:
		if !ok {
			lc.t.Fatalf("%s: the relay connection ended", lc.name)
		}
		return e
	case <-time.After(60 * time.Second):
		lc.t.Fatalf("%s: no event in 60 s", lc.name)
	}
	return protocol.Event{}
}

func (lc *lessonClient) run(id uint64, sr protocol.ScenarioRequest) {
	lc.t.Helper()
	b, _ := json.Marshal(protocol.Request{V: protocol.Version, Type: protocol.TypeScenario, ID: id, Scenario: &sr})
	if err := lc.c.Write(testCtx(lc.t, 5*time.Second), websocket.MessageText, b); err != nil {
		lc.t.Fatalf("%s: write: %v", lc.name, err)
	}
}

// lessonTrace is what one lesson request was told, in order: its places in the queue (0 for
// "now runs"), whether live events came before it left the queue, and how it ended.
type lessonTrace struct {
	places     []int
	liveQueued int // live events while it still waited
	live       int
	report     *protocol.ScenarioReport
	err        string
}

// until reads lc's events until request id has its report or error.
func (lc *lessonClient) until(id uint64, seen func(protocol.Event)) lessonTrace {
	lc.t.Helper()
	var tr lessonTrace
	for {
		e := lc.next()
		if seen != nil {
			seen(e)
		}
		if e.Req != id {
			continue
		}
		waiting := len(tr.places) > 0 && tr.places[len(tr.places)-1] != 0
		switch e.Type {
		case protocol.EventQueued:
			tr.places = append(tr.places, e.Place)
		case protocol.EventScenario:
			tr.report = e.Report
			return tr
		case protocol.EventError:
			tr.err = e.Error
			return tr
		default:
			tr.live++
			if waiting {
				tr.liveQueued++
			}
		}
	}
}

// long is a lesson that runs for a few seconds: HTTP requests over a link with 50 ms of round
// trip (so the ones queued behind it join while it runs, whatever the machine's speed).
var long = protocol.ScenarioRequest{Name: "handshake", Seed: 1, Params: map[string]string{"requests": "20"},
	Up: &protocol.Impairment{DelayMs: 25}, Down: &protocol.Impairment{DelayMs: 25}}

var short = protocol.ScenarioRequest{Name: "boundaries", Seed: 1}

// TestLessonQueue: lessons run one per client address (and per session) at a time. Three pages of
// one address: the first runs, the second and third wait at places 1 and 2; the second leaves
// (the page closes) and the third moves to place 1, then runs when the first is done. Pages of two
// other addresses each run at once, side by side.
func TestLessonQueue(t *testing.T) {
	s := startServer(t, server.Config{})

	a := dialLessonClient(t, s, "a", "127.0.0.1")
	b := dialLessonClient(t, s, "b", "127.0.0.1")
	c := dialLessonClient(t, s, "c", "127.0.0.1")
	a.run(1, long)
	// a runs: its first live event (the lesson's packets) comes before b and c ask.
	var aFirst protocol.Event
	for aFirst = a.next(); aFirst.Req != 1; aFirst = a.next() {
	}
	if aFirst.Type == protocol.EventQueued || aFirst.Type == protocol.EventError || aFirst.Type == protocol.EventScenario {
		t.Fatalf("a's lesson, the only one: first event %+v, want a live event", aFirst)
	}
	b.run(1, short)
	if e := b.next(); e.Type != protocol.EventQueued || e.Req != 1 || e.Place != 1 {
		t.Fatalf("b, of the same address as a: %+v, want queued at place 1", e)
	}
	c.run(7, short)
	if e := c.next(); e.Type != protocol.EventQueued || e.Req != 7 || e.Place != 2 {
		t.Fatalf("c: %+v, want queued at place 2", e)
	}
	// /metrics counts them: one running, two waiting.
	fams := scrape(t, s)
	if r, q := value(t, fams, "wireplay_lessons_running"), value(t, fams, "wireplay_lessons_queued"); r != 1 || q != 2 {
		t.Errorf("metrics: %v lessons running, %v queued; want 1 and 2", r, q)
	}
	b.c.Close(websocket.StatusNormalClosure, "page left")

	// c moves up as b leaves and runs when a is done.
	trC := c.until(7, nil)
	trA := a.until(1, nil)
	if trA.report == nil || len(trA.places) != 0 {
		t.Errorf("a: places %v, error %q; want a report and no queue", trA.places, trA.err)
	}
	if !slices.Equal(trC.places, []int{1, 0}) || trC.report == nil || trC.liveQueued != 0 || trC.live == 0 {
		t.Errorf("c after place 2: places %v, %d live events while queued, %d in all, error %q; want places 1, 0 (running), then its report", trC.places, trC.liveQueued, trC.live, trC.err)
	}

	// Two other addresses: each runs at once.
	d := dialLessonClient(t, s, "d", "127.0.0.2")
	e := dialLessonClient(t, s, "e", "127.0.0.3")
	d.run(1, long)
	e.run(1, long)
	for _, lc := range []*lessonClient{d, e} {
		if tr := lc.until(1, nil); tr.report == nil || len(tr.places) != 0 {
			t.Errorf("%s from an address of its own: places %v, error %q; want to run at once", lc.name, tr.places, tr.err)
		}
	}

	// One session's second lesson waits for its first.
	d.run(2, long)
	d.run(3, short)
	var places []int
	tr := d.until(3, func(e protocol.Event) {
		if e.Req == 2 && e.Type == protocol.EventQueued {
			t.Errorf("d's first lesson was queued: %+v", e)
		}
	})
	places = tr.places
	if !slices.Equal(places, []int{1, 0}) || tr.report == nil {
		t.Errorf("d's second lesson: places %v, error %q; want 1 then 0 (behind its first)", places, tr.err)
	}
}

// TestLessonQueueBound: with one lesson running, 64 more wait (every page of one address, four
// requests each) and the next ones are refused with why; closing the pages empties the queue, and
// a page of another address then runs at once.
func TestLessonQueueBound(t *testing.T) {
	s := startServer(t, server.Config{MaxRelayPerIP: 20})
	first := dialLessonClient(t, s, "first", "127.0.0.1")
	longer := long
	longer.Params = map[string]string{"requests": "100"} // it is cancelled at the end
	first.run(1, longer)
	for e := first.next(); e.Req != 1 || e.Type == protocol.EventQueued; e = first.next() {
	}
	var pages []*lessonClient
	for i := range 17 {
		lc := dialLessonClient(t, s, "page"+strconv.Itoa(i), "127.0.0.1")
		pages = append(pages, lc)
		for id := range uint64(4) {
			lc.run(id+1, short)
		}
	}
	queued, refused := 0, 0
	for _, lc := range pages {
		answered := map[uint64]bool{}
		for len(answered) < 4 {
			e := lc.next()
			if answered[e.Req] {
				continue // a later place
			}
			answered[e.Req] = true
			switch {
			case e.Type == protocol.EventQueued && e.Place > 0:
				queued++
			case e.Type == protocol.EventError && strings.Contains(e.Error, "64 lessons are already waiting"):
				refused++
			default:
				t.Fatalf("%s: %+v, want queued or refused", lc.name, e)
			}
		}
	}
	if queued != 64 || refused != 4 {
		t.Errorf("%d queued and %d refused, want 64 and 4", queued, refused)
	}
	for _, lc := range append(pages, first) {
		lc.c.Close(websocket.StatusNormalClosure, "")
	}
	other := dialLessonClient(t, s, "other", "127.0.0.2")
	other.run(1, short)
	if tr := other.until(1, nil); tr.report == nil || len(tr.places) != 0 {
		t.Errorf("another address after the pages left: places %v, error %q; want to run at once", tr.places, tr.err)
	}
}
