package rooms_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wireplay/wireplay/broker/natsbroker"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/rooms"
)

// TestStateOverMaxPayload: two instances on a real nats-server whose max_payload is 64 KiB. A
// lesson on A makes RoomMaxRecent events of 1 KiB each; a participant who then joins on B, which
// did not know the room, gets A's state through NATS (about 1.2 MB, fragmented by natsbroker) with
// every kept event, in order, not the smaller state without events that room.go falls back to.
func TestStateOverMaxPayload(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPayload: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	const events = protocol.RoomMaxRecent
	text := strings.Repeat("x", 1<<10)
	finished := make(chan struct{})
	lesson := func(protocol.ScenarioRequest) (func(context.Context, func(protocol.Event)) (*protocol.ScenarioReport, error), error) {
		return func(ctx context.Context, progress func(protocol.Event)) (*protocol.ScenarioReport, error) {
			for i := range uint64(events) {
				progress(protocol.Event{Type: protocol.EventWrite, Msg: i, Text: text})
			}
			close(finished)
			<-ctx.Done()
			return nil, ctx.Err()
		}, nil
	}
	var bases []string
	var all []*rooms.Rooms
	for range 2 {
		b, err := natsbroker.Dial(ctxFor(t, 10*time.Second), ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		rs := rooms.New(b, rooms.Options{Token: "t", Runner: lesson, Shared: true, SyncWait: 2 * time.Second, Logger: quiet})
		mux := http.NewServeMux()
		mux.HandleFunc("GET /r/{code}/ws", rs.ServeWS)
		srv := httptest.NewServer(mux)
		t.Cleanup(func() {
			rs.Close()
			srv.Close()
			b.Close()
		})
		bases, all = append(bases, srv.URL), append(all, rs)
	}
	room, err := all[0].Create(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	teacher := join(t, bases[0], room.Code, "Teacher", "member-teacher", room.Secret)
	send(t, teacher, protocol.RoomRequest{Type: protocol.RoomRun, Run: &protocol.ScenarioRequest{Name: "many"}})
	// A's own subscription has taken every event once the teacher on A has seen the last.
	for {
		if e := readEvent(t, teacher); e.Type == protocol.RoomLessonEvent && e.Event.Msg == uint64(events-1) {
			break
		}
	}
	<-finished
	c, _, err := dial(t, bases[1], room.Code)
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, protocol.RoomRequest{Type: protocol.RoomJoin, Name: "Bo", Member: "member-bo-001"})
	e := readEvent(t, c)
	if e.Type != protocol.RoomState || e.Room == nil {
		t.Fatalf("join on B: %+v", e)
	}
	if got := len(e.Room.Events); got != events || e.Room.EventsSkipped != 0 {
		t.Fatalf("B's state has %d events (%d skipped), want all %d", got, e.Room.EventsSkipped, events)
	}
	for i, ev := range e.Room.Events {
		if ev.Msg != uint64(i) || ev.Text != text {
			t.Fatalf("event %d is %d (%d bytes of text), want them in order, whole", i, ev.Msg, len(ev.Text))
		}
	}
}
