package rooms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/rooms"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// serve runs rs's room sockets over loopback.
func serve(t *testing.T, opts rooms.Options) (*rooms.Rooms, string) {
	t.Helper()
	b := broker.NewMemory()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	var hub *chat.Hub
	if opts.Chat == nil {
		hub = chat.NewHub(b, chat.Options{})
		opts.Chat = hub
	}
	rs := rooms.New(b, opts)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/rooms", rs.ServeCreate)
	mux.HandleFunc("GET /r/{code}/ws", rs.ServeWS)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		rs.Close()
		if hub != nil {
			hub.Close()
		}
		srv.Close()
		b.Close()
	})
	return rs, srv.URL
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, base, code string) (*websocket.Conn, *http.Response, error) {
	return dialWith(t, base, code, nil)
}

func dialWith(t *testing.T, base, code string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	c, resp, err := websocket.Dial(ctxFor(t, 5*time.Second), strings.Replace(base, "http", "ws", 1)+"/r/"+code+"/ws", opts)
	if err == nil {
		c.SetReadLimit(protocol.RoomMaxEvent)
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

func send(t *testing.T, c *websocket.Conn, r protocol.RoomRequest) {
	t.Helper()
	r.V = protocol.Version
	b, _ := json.Marshal(r)
	if err := c.Write(ctxFor(t, 5*time.Second), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func readEvent(t *testing.T, c *websocket.Conn) protocol.RoomEvent {
	t.Helper()
	_, b, err := c.Read(ctxFor(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var e protocol.RoomEvent
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func join(t *testing.T, base, code, name, member, secret string) *websocket.Conn {
	t.Helper()
	return joinWith(t, base, code, name, member, secret, nil)
}

func joinWith(t *testing.T, base, code, name, member, secret string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, _, err := dialWith(t, base, code, opts)
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, protocol.RoomRequest{Type: protocol.RoomJoin, Name: name, Member: member, Secret: secret})
	if e := readEvent(t, c); e.Type != protocol.RoomState {
		t.Fatalf("join: %+v", e)
	}
	return c
}

// reader reads a member's events in the background; each lesson_event is counted on seen.
type reader struct {
	events []protocol.RoomEvent
	seen   chan struct{}
	done   chan error
	left   chan string // the names of members seen leaving
}

func startReader(c *websocket.Conn, n int) *reader {
	rd := &reader{seen: make(chan struct{}, n), done: make(chan error, 1), left: make(chan string, 16)}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				rd.done <- err
				return
			}
			var e protocol.RoomEvent
			if err := json.Unmarshal(b, &e); err != nil {
				rd.done <- err
				return
			}
			rd.events = append(rd.events, e)
			switch e.Type {
			case protocol.RoomLessonEvent:
				rd.seen <- struct{}{}
			case protocol.RoomMemberLeft:
				rd.left <- e.Member.Name
			case protocol.RoomLessonDone:
				rd.done <- nil
				return
			}
		}
	}()
	return rd
}

// TestSlowMemberClosed: a member that never reads is closed with 1008 once its queue is full,
// while the members that read get every event of the run, in order. The lesson is a scripted
// one that sends its events of 64 KiB no more than 16 ahead of what the readers have read, so
// only the member that does not read falls behind.
func TestSlowMemberClosed(t *testing.T) {
	const n, ahead = 200, 16
	readersCh := make(chan []*reader, 1)
	script := func(protocol.ScenarioRequest) (func(context.Context, func(protocol.Event)) (*protocol.ScenarioReport, error), error) {
		return func(ctx context.Context, progress func(protocol.Event)) (*protocol.ScenarioReport, error) {
			pad := strings.Repeat("x", 64<<10)
			readers := <-readersCh
			for i := 1; i <= n; i++ {
				if i > ahead {
					for _, rd := range readers {
						<-rd.seen
					}
				}
				progress(protocol.Event{Type: protocol.EventWrite, Msg: uint64(i), Text: pad})
			}
			return &protocol.ScenarioReport{Scenario: "script"}, nil
		}, nil
	}
	// The stuck write to the member that does not read must not time out before its queue fills.
	rs, base := serve(t, rooms.Options{Token: "t", Runner: script, Queue: 2 * ahead, WriteTimeout: time.Minute})
	room, err := rs.Create(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	inst := join(t, base, room.Code, "Teacher", "member-teacher", room.Secret)
	good := join(t, base, room.Code, "Ada", "member-ada-01", "")
	// Its receive buffer is small, so what fills the queue is mostly the server's send buffer.
	small := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	slow := joinWith(t, base, room.Code, "Slow", "member-slow-1", "", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: small.DialContext}}})
	// The instructor hears of both joins before the run, so presence does not count below.
	for got := 0; got < 2; {
		if e := readEvent(t, inst); e.Type == protocol.RoomMemberJoined && e.Member.Name != "Teacher" {
			got++
		}
	}
	readers := []*reader{startReader(inst, n), startReader(good, n)}
	readersCh <- readers
	send(t, inst, protocol.RoomRequest{Type: protocol.RoomRun, Run: &protocol.ScenarioRequest{Name: "script"}})
	// Once the instructor sees it leave, the member that did not read reads at last: what was
	// in its path, then the close frame (which waited behind the stuck write).
	slowEnd := make(chan error, 1)
	go func() {
		if name := <-readers[0].left; name != "Slow" {
			slowEnd <- fmt.Errorf("%s left", name)
			return
		}
		for {
			if _, _, err := slow.Read(context.Background()); err != nil {
				slowEnd <- err
				return
			}
		}
	}()
	for i, rd := range readers {
		if err := <-rd.done; err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		var msgs []uint64
		for _, e := range rd.events {
			if e.Type == protocol.RoomLessonEvent {
				msgs = append(msgs, e.Event.Msg)
			}
		}
		if len(msgs) != n {
			t.Errorf("reader %d got %d lesson events, want %d", i, len(msgs), n)
		}
		for j, m := range msgs {
			if m != uint64(j+1) {
				t.Errorf("reader %d: event %d is msg %d: lost or reordered", i, j+1, m)
				break
			}
		}
	}
	if d := rs.Dropped(); d != 1 {
		t.Fatalf("Dropped() = %d after the run, want 1: the member that does not read was not closed", d)
	}
	if err2 := <-slowEnd; websocket.CloseStatus(err2) != websocket.StatusPolicyViolation {
		t.Errorf("the member that did not read: %v, want close 1008", err2)
	}
}

func TestPerAddressCap(t *testing.T) {
	rs, base := serve(t, rooms.Options{Token: "t", MaxPerIP: 2})
	room, err := rs.Create(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, _, err := dial(t, base, room.Code); err != nil {
			t.Fatalf("socket %d: %v", i+1, err)
		}
	}
	_, resp, err := dial(t, base, room.Code)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third socket from one address: %v, want 429", err)
	}
	if rs.Open() != 2 {
		t.Errorf("Open() = %d, want 2", rs.Open())
	}
}

func TestCreateNeedsToken(t *testing.T) {
	_, base := serve(t, rooms.Options{Token: "sesame"})
	_, off := serve(t, rooms.Options{})
	for _, tt := range []struct {
		base, auth string
		want       int
	}{
		{base, "", http.StatusUnauthorized},
		{base, "Bearer open", http.StatusUnauthorized},
		{base, "Basic sesame", http.StatusUnauthorized},
		{base, "Bearer sesame", http.StatusCreated},
		{off, "Bearer sesame", http.StatusNotFound},
	} {
		req, _ := http.NewRequest("POST", tt.base+"/api/rooms", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%q: %d %s, want %d", tt.auth, resp.StatusCode, body.String(), tt.want)
		}
		if tt.want == http.StatusNotFound && !strings.Contains(body.String(), "--instructor-token") {
			t.Errorf("rooms off says %q", body.String())
		}
	}
	if !protocol.ValidRoomCode("23ABYZ") || protocol.ValidRoomCode("O0I1L2") || protocol.ValidRoomCode("abcdef") {
		t.Error("ValidRoomCode")
	}
}

// TestTwoInstances: two instances on one bus share a room. The instructor runs a lesson on A, a
// participant on B watches it; the instructor's page then reconnects to B (its connection to A
// is replaced) and stops the run from there: the run on A ends, and both instances say so.
func TestTwoInstances(t *testing.T) {
	bus := broker.NewMemory()
	t.Cleanup(func() { bus.Close() })
	// The lesson sends one event and then runs until it is stopped.
	waiting := func(protocol.ScenarioRequest) (func(context.Context, func(protocol.Event)) (*protocol.ScenarioReport, error), error) {
		return func(ctx context.Context, progress func(protocol.Event)) (*protocol.ScenarioReport, error) {
			progress(protocol.Event{Type: protocol.EventWrite, Msg: 1, Text: "first"})
			<-ctx.Done()
			return nil, ctx.Err()
		}, nil
	}
	var bases []string
	var all []*rooms.Rooms
	for _, b := range []broker.Broker{bus, bus.Connect()} {
		// An unknown code is answered after SyncWait: nobody has it.
		rs := rooms.New(b, rooms.Options{Token: "t", Runner: waiting, Shared: true, SyncWait: 200 * time.Millisecond, Logger: quiet})
		mux := http.NewServeMux()
		mux.HandleFunc("GET /r/{code}/ws", rs.ServeWS)
		srv := httptest.NewServer(mux)
		t.Cleanup(func() {
			rs.Close()
			srv.Close()
		})
		bases, all = append(bases, srv.URL), append(all, rs)
	}
	a, b := bases[0], bases[1]
	room, err := all[0].Create(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !all[1].Exists(ctxFor(t, 5*time.Second), room.Code) || all[1].Exists(ctxFor(t, 5*time.Second), "ZZZZZZ") {
		t.Fatal("B does not know A's room, or knows one nobody made")
	}
	instA := join(t, a, room.Code, "Teacher", "member-teacher", room.Secret)
	onB := join(t, b, room.Code, "Bo", "member-bo-001", "")
	until := func(c *websocket.Conn, ok func(protocol.RoomEvent) bool) protocol.RoomEvent {
		t.Helper()
		for {
			if e := readEvent(t, c); ok(e) {
				return e
			}
		}
	}
	is := func(typ string) func(protocol.RoomEvent) bool {
		return func(e protocol.RoomEvent) bool { return e.Type == typ }
	}
	until(instA, func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMemberJoined && e.Member.Name == "Bo" })
	send(t, instA, protocol.RoomRequest{Type: protocol.RoomRun, Run: &protocol.ScenarioRequest{Name: "waiting"}})
	started := until(onB, is(protocol.RoomLessonStarted))
	if ev := until(onB, is(protocol.RoomLessonEvent)); ev.RunID != started.Run.ID || ev.Event.Text != "first" {
		t.Errorf("B saw %+v of run %s", ev, started.Run.ID)
	}

	instB := join(t, b, room.Code, "Teacher", "member-teacher", room.Secret)
	for {
		if _, _, err := instA.Read(ctxFor(t, 10*time.Second)); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Errorf("the instructor's replaced connection on A: %v, want close 1000", err)
			}
			break
		}
	}
	send(t, instB, protocol.RoomRequest{Type: protocol.RoomStop})
	for name, c := range map[string]*websocket.Conn{"instructor on B": instB, "participant on B": onB} {
		if e := until(c, is(protocol.RoomLessonDone)); e.RunID != started.Run.ID || e.Error != "stopped by the instructor" {
			t.Errorf("%s: lesson_done %+v", name, e)
		}
	}
}

// TestRoomExpires: a room nobody is in any more ends after its grace period: its code is
// unknown from then on.
func TestRoomExpires(t *testing.T) {
	expired := make(chan string, 1)
	rs, base := serve(t, rooms.Options{Token: "t", Grace: time.Millisecond, OnExpire: func(code string) { expired <- code }})
	room, err := rs.Create(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Exists(ctxFor(t, 5*time.Second), room.Code) {
		t.Fatal("a new room does not exist")
	}
	// Nobody joined: the room ends as it would after its last member.
	if code := <-expired; code != room.Code {
		t.Fatalf("expired %s, want %s", code, room.Code)
	}
	if rs.Exists(ctxFor(t, 5*time.Second), room.Code) {
		t.Error("an expired room still exists")
	}
	if _, resp, err := dial(t, base, room.Code); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("socket to an expired room: %v, want 404", err)
	}
}
