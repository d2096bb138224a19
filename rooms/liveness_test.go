package rooms_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/rooms"
)

// TestInstanceLost: an instance that dies without Close (here: its connection to the bus is
// cut, so it can neither say goodbye nor beat) has its members taken offline by the others, and
// the run it was running ended with an error, instead of both staying in the room for good.
func TestInstanceLost(t *testing.T) {
	bus := broker.NewMemory()
	t.Cleanup(func() { bus.Close() })
	waiting := func(protocol.ScenarioRequest) (func(context.Context, func(protocol.Event)) (*protocol.ScenarioReport, error), error) {
		return func(ctx context.Context, progress func(protocol.Event)) (*protocol.ScenarioReport, error) {
			progress(protocol.Event{Type: protocol.EventWrite, Msg: 1, Text: "first"})
			<-ctx.Done()
			return nil, ctx.Err()
		}, nil
	}
	onB := bus.Connect()
	var bases []string
	var all []*rooms.Rooms
	for _, b := range []broker.Broker{bus, onB} {
		rs := rooms.New(b, rooms.Options{Token: "t", Runner: waiting, Shared: true, SyncWait: 200 * time.Millisecond,
			Beat: 50 * time.Millisecond, Logger: quiet})
		mux := http.NewServeMux()
		mux.HandleFunc("GET /r/{code}/ws", rs.ServeWS)
		srv := httptest.NewServer(mux)
		t.Cleanup(func() {
			rs.Close()
			srv.Close()
		})
		bases, all = append(bases, srv.URL), append(all, rs)
	}
	room, err := all[0].Create(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ada := join(t, bases[0], room.Code, "Ada", "member-ada-01", "")
	inst := join(t, bases[1], room.Code, "Teacher", "member-teacher", room.Secret)
	join(t, bases[1], room.Code, "Bo", "member-bo-001", "")
	send(t, inst, protocol.RoomRequest{Type: protocol.RoomRun, Run: &protocol.ScenarioRequest{Name: "waiting"}})
	var runID string
	for runID == "" {
		if e := readEvent(t, ada); e.Type == protocol.RoomLessonStarted {
			runID = e.Run.ID
		}
	}

	if err := onB.Close(); err != nil { // B is cut off from the bus
		t.Fatal(err)
	}
	left := map[string]bool{}
	var done *protocol.RoomEvent
	for !left["Teacher"] || !left["Bo"] || done == nil {
		e := readEvent(t, ada)
		switch e.Type {
		case protocol.RoomMemberLeft:
			left[e.Member.Name] = true
		case protocol.RoomLessonDone:
			done = &e
		case protocol.RoomMemberJoined:
			if left[e.Member.Name] {
				t.Fatalf("%s joined again", e.Member.Name)
			}
		}
	}
	if left["Ada"] || done.RunID != runID || done.Error == "" || done.Report != nil {
		t.Fatalf("left %v; lesson_done %+v (run %s)", left, done, runID)
	}
	// A page joining A now finds Ada there and nobody of B.
	c, _, err := dial(t, bases[0], room.Code)
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, protocol.RoomRequest{Type: protocol.RoomJoin, Name: "Cy", Member: "member-cy-0001"})
	st := readEvent(t, c)
	if st.Type != protocol.RoomState || len(st.Room.Members) != 2 {
		t.Fatalf("the room after B was lost: %+v", st.Room)
	}
	for _, m := range st.Room.Members {
		if m.Name != "Ada" && m.Name != "Cy" {
			t.Fatalf("the room after B was lost lists %s", m.Name)
		}
	}
	if st.Room.Run == nil || !st.Room.Run.Done || st.Room.Error == "" {
		t.Fatalf("the room's run after B was lost: %+v, error %q", st.Room.Run, st.Room.Error)
	}
}

// TestNameRaceAcrossInstances: two instances that let one name in at the same moment, for two
// members, settle it the same way everywhere: the connection with the smaller id keeps the name
// and the other's instance refuses its member (name_taken, then 1008). The other instance's join
// is forged on the bus, as that instance would publish it.
func TestNameRaceAcrossInstances(t *testing.T) {
	bus := broker.NewMemory()
	t.Cleanup(func() { bus.Close() })
	rs := rooms.New(bus, rooms.Options{Token: "t", Logger: quiet})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /r/{code}/ws", rs.ServeWS)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		rs.Close()
		srv.Close()
	})
	room, err := rs.Create(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	forge := func(conn, id, name string) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"k": "join", "hub": "other", "conn": conn, "m": map[string]any{"id": id, "name": name}})
		if err := bus.Publish(ctxFor(t, 5*time.Second), "wireplay.room."+room.Code, b); err != nil {
			t.Fatal(err)
		}
	}
	ada := join(t, srv.URL, room.Code, "Ada", "member-ada-01", "")
	bo := join(t, srv.URL, room.Code, "Bo", "member-bo-001", "")

	// A later connection id ("~" sorts after every hex id) loses: nobody lists it.
	forge("~other.1", "forged-late", "ADA")
	// An earlier one ("0" sorts before) wins: Bo's instance refuses Bo.
	forge("0.1", "forged-early", "bo")
	var refused bool
	for {
		_, b, err := bo.Read(ctxFor(t, 30*time.Second))
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !refused {
				t.Fatalf("Bo's socket ended with %v (told name_taken: %v), want name_taken then 1008", err, refused)
			}
			break
		}
		var e protocol.RoomEvent
		_ = json.Unmarshal(b, &e)
		refused = refused || e.Type == protocol.RoomError && e.Code == protocol.RoomErrNameTaken
	}
	// Ada saw Bo leave and the early "bo" join, never the late "ADA".
	var seen []string
	for len(seen) < 2 {
		e := readEvent(t, ada)
		switch e.Type {
		case protocol.RoomMemberLeft:
			seen = append(seen, "left "+e.Member.Name)
		case protocol.RoomMemberJoined:
			if strings.HasPrefix(e.Member.ID, "forged") {
				seen = append(seen, "joined "+e.Member.ID)
			}
		}
	}
	if seen[0] != "left Bo" || seen[1] != "joined forged-early" {
		t.Fatalf("Ada saw %v, want Bo leave, then the early bo join", seen)
	}
	// A newcomer's state lists Ada and the early bo, not the late ADA.
	c, _, err := dial(t, srv.URL, room.Code)
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, protocol.RoomRequest{Type: protocol.RoomJoin, Name: "Cy", Member: "member-cy-0001"})
	st := readEvent(t, c)
	var names []string
	for _, m := range st.Room.Members {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "Ada,Cy,bo" {
		t.Fatalf("the room lists %v", names)
	}
}
