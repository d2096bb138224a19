package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/wireplay/wireplay/broker/natsbroker"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

const testToken = "teach-me-transports"

// createRoom asks s for a room with token; it returns the HTTP status and, on 201, the room.
func createRoom(t *testing.T, s *server.Server, token string) (int, protocol.RoomCreated) {
	t.Helper()
	req, _ := http.NewRequestWithContext(testCtx(t, 5*time.Second), "POST", "http://"+s.Addrs().HTTP+"/api/rooms", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rc protocol.RoomCreated
	if resp.StatusCode == http.StatusCreated {
		if err := json.NewDecoder(resp.Body).Decode(&rc); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, rc
}

func mustCreateRoom(t *testing.T, s *server.Server) protocol.RoomCreated {
	t.Helper()
	code, rc := createRoom(t, s, testToken)
	if code != http.StatusCreated {
		t.Fatalf("create room: %d", code)
	}
	return rc
}

func roomGet(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(testCtx(t, 5*time.Second), "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// roomClient is one room WebSocket.
type roomClient struct {
	t *testing.T
	c *websocket.Conn
}

func dialRoom(t *testing.T, s *server.Server, code string) *roomClient {
	t.Helper()
	c, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/r/"+code+"/ws", nil)
	if err != nil {
		t.Fatalf("dial room: %v", err)
	}
	c.SetReadLimit(protocol.RoomMaxEvent)
	t.Cleanup(func() { c.CloseNow() })
	return &roomClient{t: t, c: c}
}

func (rc *roomClient) send(r protocol.RoomRequest) {
	rc.t.Helper()
	r.V = protocol.Version
	b, _ := json.Marshal(r)
	if err := rc.c.Write(testCtx(rc.t, 5*time.Second), websocket.MessageText, b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *roomClient) read() (protocol.RoomEvent, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, b, err := rc.c.Read(ctx)
	if err != nil {
		return protocol.RoomEvent{}, err
	}
	var e protocol.RoomEvent
	if err := json.Unmarshal(b, &e); err != nil {
		rc.t.Fatalf("event %s: %v", b, err)
	}
	return e, nil
}

func (rc *roomClient) next() protocol.RoomEvent {
	rc.t.Helper()
	e, err := rc.read()
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	return e
}

// reply reads the next event that is not about presence (member_joined and member_left come
// whenever the broker delivers them: a member may hear of one its state already listed).
func (rc *roomClient) reply() protocol.RoomEvent {
	rc.t.Helper()
	for {
		e := rc.next()
		if e.Type != protocol.RoomMemberJoined && e.Type != protocol.RoomMemberLeft {
			return e
		}
	}
}

// until reads events until ok says stop, and returns them all (the last one included).
func (rc *roomClient) until(ok func(protocol.RoomEvent) bool) []protocol.RoomEvent {
	rc.t.Helper()
	var out []protocol.RoomEvent
	for {
		e := rc.next()
		out = append(out, e)
		if ok(e) {
			return out
		}
	}
}

// join joins as name and member (secret: instructor) and returns the room state.
func (rc *roomClient) join(name, member, secret string) *protocol.RoomInfo {
	rc.t.Helper()
	rc.send(protocol.RoomRequest{Type: protocol.RoomJoin, Name: name, Member: member, Secret: secret})
	e := rc.next()
	if e.Type != protocol.RoomState || e.Room == nil {
		rc.t.Fatalf("join as %q: got %+v, want the room state", name, e)
	}
	return e.Room
}

func joinRoom(t *testing.T, s *server.Server, code, name, member, secret string) (*roomClient, *protocol.RoomInfo) {
	t.Helper()
	rc := dialRoom(t, s, code)
	return rc, rc.join(name, member, secret)
}

func memberNames(ms []protocol.RoomMember) []string {
	var out []string
	for _, m := range ms {
		n := m.Name
		if m.Instructor {
			n += "*"
		}
		out = append(out, n)
	}
	return out
}

func TestRoomCreate(t *testing.T) {
	t.Run("off without a token", func(t *testing.T) {
		s := startServer(t, server.Config{})
		code, _ := createRoom(t, s, "anything")
		if code != http.StatusNotFound {
			t.Errorf("create on a server without a token: %d, want 404", code)
		}
	})
	s := startServer(t, server.Config{InstructorToken: testToken})
	for _, tok := range []string{"", "wrong", testToken + "x"} {
		if code, _ := createRoom(t, s, tok); code != http.StatusUnauthorized {
			t.Errorf("create with token %q: %d, want 401", tok, code)
		}
	}
	rc := mustCreateRoom(t, s)
	if !protocol.ValidRoomCode(rc.Code) || rc.URL != "/r/"+rc.Code || rc.InstructorURL != rc.URL+"#instructor="+rc.Secret || len(rc.Secret) < 16 {
		t.Errorf("created %+v", rc)
	}
	if rc2 := mustCreateRoom(t, s); rc2.Code == rc.Code || rc2.Secret == rc.Secret {
		t.Errorf("two rooms %+v and %+v share a code or secret", rc, rc2)
	}
	base := "http://" + s.Addrs().HTTP
	if code, _ := roomGet(t, base+rc.URL); code != http.StatusOK {
		t.Errorf("GET %s: %d", rc.URL, code)
	}
	for _, p := range []string{"/r/ZZZZZZ", "/r/ZZZZZZ/ws", "/r/ZZZZZZ/chat", "/r/abc"} { // lower case: TestRoomJoinByCode
		code, body := roomGet(t, base+p)
		if code != http.StatusNotFound && code != http.StatusForbidden {
			t.Errorf("GET %s: %d, want 404 (403 for chat)", p, code)
		}
		if p == "/r/ZZZZZZ" && !strings.Contains(body, "expired") {
			t.Errorf("the unknown room's page says %q", body)
		}
	}
}

func TestRoomJoin(t *testing.T) {
	s := startServer(t, server.Config{InstructorToken: testToken})
	room := mustCreateRoom(t, s)

	inst, st := joinRoom(t, s, room.Code, "Teacher", "member-teacher", room.Secret)
	if !st.You.Instructor || st.Code != room.Code || !reflect.DeepEqual(memberNames(st.Members), []string{"Teacher*"}) {
		t.Errorf("instructor's state %+v", st)
	}

	ada := dialRoom(t, s, room.Code)
	refusals := []struct {
		req  protocol.RoomRequest
		code string
	}{
		{protocol.RoomRequest{Type: protocol.RoomShare}, protocol.RoomErrNotJoined},
		{protocol.RoomRequest{Type: protocol.RoomJoin, Name: "Ada", Member: "short"}, protocol.RoomErrBadMember},
		{protocol.RoomRequest{Type: protocol.RoomJoin, Name: " \u202e\t ", Member: "member-ada-1"}, protocol.RoomErrBadName},
		{protocol.RoomRequest{Type: protocol.RoomJoin, Name: "teacher", Member: "member-ada-1"}, protocol.RoomErrNameTaken},
	}
	for _, r := range refusals {
		ada.send(r.req)
		if e := ada.next(); e.Type != protocol.RoomError || e.Code != r.code {
			t.Errorf("%+v: got %+v, want error %s", r.req, e, r.code)
		}
	}
	// A wrong secret refuses the join: the fifth refusal in a row closes the socket.
	ada.send(protocol.RoomRequest{Type: protocol.RoomJoin, Name: "Ada", Member: "member-ada-1", Secret: "guess"})
	if e := ada.next(); e.Code != protocol.RoomErrForbidden {
		t.Errorf("join with a wrong secret: %+v", e)
	}
	if _, err := ada.read(); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("after 5 refusals: %v, want close 1008", err)
	}

	_, st = joinRoom(t, s, room.Code, "  Ada \n Lovelace  ", "member-ada-1", "")
	if st.You.Name != "Ada Lovelace" || st.You.Instructor || st.You.ID == "member-ada-1" {
		t.Errorf("Ada's own entry %+v: want the sanitised name, a public id", st.You)
	}
	if got := memberNames(st.Members); !reflect.DeepEqual(got, []string{"Ada Lovelace", "Teacher*"}) {
		t.Errorf("members %v", got)
	}
	if e := inst.next(); e.Type != protocol.RoomMemberJoined || e.Member.Name != "Ada Lovelace" || e.Member.ID != st.You.ID {
		t.Errorf("instructor saw %+v, want Ada's member_joined", e)
	}
}

// runEvents are what a member saw of one run: its start, its events and its end.
type runEvents struct {
	started protocol.RoomRunInfo
	events  []protocol.Event
	done    protocol.RoomEvent
}

func collectRun(rc *roomClient) runEvents {
	rc.t.Helper()
	var out runEvents
	for _, e := range rc.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomLessonDone }) {
		switch e.Type {
		case protocol.RoomLessonStarted:
			out.started = *e.Run
		case protocol.RoomLessonEvent:
			if e.RunID != out.started.ID {
				rc.t.Errorf("lesson_event of run %q during run %q", e.RunID, out.started.ID)
			}
			out.events = append(out.events, *e.Event)
		case protocol.RoomLessonDone:
			out.done = e
		}
	}
	return out
}

// lesson is the room tests' lesson: short, its packets streamed.
var lesson = protocol.ScenarioRequest{Name: "boundaries", Seed: 2}

func TestRoomLesson(t *testing.T) {
	s := startServer(t, server.Config{InstructorToken: testToken})
	room := mustCreateRoom(t, s)
	inst, _ := joinRoom(t, s, room.Code, "Teacher", "member-teacher", room.Secret)
	ada, _ := joinRoom(t, s, room.Code, "Ada", "member-ada-01", "")
	bo, _ := joinRoom(t, s, room.Code, "Bo", "member-bo-001", "")
	inst.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMemberJoined && e.Member.Name == "Bo" })
	ada.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMemberJoined && e.Member.Name == "Bo" })

	if n := value(t, scrape(t, s), "wireplay_connections", "endpoint", "room"); n != 3 {
		t.Errorf("wireplay_connections{endpoint=\"room\"} = %v, want 3", n)
	}

	// A participant cannot drive the room.
	for _, typ := range []string{protocol.RoomRun, protocol.RoomStop} {
		bo.send(protocol.RoomRequest{Type: typ, Run: &lesson})
		if e := bo.reply(); e.Type != protocol.RoomError || e.Code != protocol.RoomErrForbidden {
			t.Errorf("participant's %s: %+v, want forbidden", typ, e)
		}
	}

	inst.send(protocol.RoomRequest{Type: protocol.RoomRun, Run: &lesson})
	got := map[string]runEvents{}
	for name, rc := range map[string]*roomClient{"instructor": inst, "ada": ada, "bo": bo} {
		got[name] = collectRun(rc)
	}
	a, b := got["ada"], got["bo"]
	if a.started.ID == "" || a.started.Lesson != "boundaries" || a.started.By != "Teacher" {
		t.Errorf("lesson_started %+v", a.started)
	}
	if a.done.Report == nil || a.done.Report.Scenario != "boundaries" || a.done.Error != "" {
		t.Fatalf("lesson_done %+v", a.done)
	}
	packets := 0
	for _, e := range a.events {
		if e.Type == protocol.EventPackets {
			packets += len(e.Packets)
		}
	}
	if packets == 0 {
		t.Errorf("the run's %d events carry no packets", len(a.events))
	}
	for _, name := range []string{"bo", "instructor"} {
		o := got[name]
		if !reflect.DeepEqual(o.started, a.started) || !reflect.DeepEqual(o.events, a.events) || !reflect.DeepEqual(o.done, a.done) {
			t.Errorf("%s saw another run than ada: %d events vs %d", name, len(o.events), len(a.events))
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("ada and bo saw different runs")
	}

	t.Run("a reload resumes the member with the room's state", func(tt *testing.T) {
		bo2, st := joinRoom(t, s, room.Code, "Bo", "member-bo-001", "")
		for {
			if _, err := bo.read(); err != nil {
				if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
					tt.Errorf("the replaced connection: %v, want close 1000", err)
				}
				break
			}
		}
		if st.Run == nil || st.Run.ID != a.started.ID || !st.Run.Done || st.Report == nil || !reflect.DeepEqual(st.Events, a.events) {
			tt.Errorf("resumed state: run %+v, %d events (want %d), report %v", st.Run, len(st.Events), len(a.events), st.Report != nil)
		}
		if got := memberNames(st.Members); !reflect.DeepEqual(got, []string{"Ada", "Bo", "Teacher*"}) {
			tt.Errorf("members after the reload: %v", got)
		}
		bo = bo2
	})

	t.Run("a closed member's name is kept for its member id", func(tt *testing.T) {
		ada.c.Close(websocket.StatusNormalClosure, "")
		inst.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMemberLeft && e.Member.Name == "Ada" })
		cy := dialRoom(t, s, room.Code)
		cy.send(protocol.RoomRequest{Type: protocol.RoomJoin, Name: "ada", Member: "member-cy-0001"})
		if e := cy.reply(); e.Code != protocol.RoomErrNameTaken {
			tt.Errorf("taking a gone member's name: %+v, want name_taken", e)
		}
		ada2, st := joinRoom(t, s, room.Code, "Ada", "member-ada-01", "")
		if got := memberNames(st.Members); !reflect.DeepEqual(got, []string{"Ada", "Bo", "Teacher*"}) {
			tt.Errorf("members after Ada's return: %v", got)
		}
		ada = ada2
	})

	t.Run("shares are aggregated with names", func(t *testing.T) {
		ada.send(protocol.RoomRequest{Type: protocol.RoomShare, Share: &protocol.RoomShareData{Lesson: "handshake", Name: "forged",
			Metrics: []protocol.Metric{{Transport: "tcp", Name: "first_byte_ms", Unit: "ms", Value: 1.5}}}})
		bo.send(protocol.RoomRequest{Type: protocol.RoomShare, Share: &protocol.RoomShareData{Lesson: "handshake",
			Metrics: []protocol.Metric{{Transport: "tcp", Name: "first_byte_ms", Unit: "ms", Value: 2.5}}}})
		var agg []protocol.RoomAggregate
		inst.until(func(e protocol.RoomEvent) bool {
			if e.Type == protocol.RoomAggregateType {
				agg = e.Aggregate
			}
			return len(agg) == 1 && len(agg[0].Values) == 2
		})
		vs := agg[0].Values
		if agg[0].Lesson != "handshake" || agg[0].Transport != "tcp" || vs[0].Name != "Ada" || vs[0].Value != 1.5 || vs[1].Name != "Bo" || vs[1].Value != 2.5 {
			t.Errorf("aggregate %+v", agg)
		}
	})

	t.Run("the instructor stops a run", func(t *testing.T) {
		slow := protocol.ScenarioRequest{Name: "backlog", Seed: 1, Params: map[string]string{"hold": "10s", "connects": "2"}}
		inst.send(protocol.RoomRequest{Type: protocol.RoomRun, Run: &slow})
		inst.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomLessonStarted })
		inst.send(protocol.RoomRequest{Type: protocol.RoomRun, Run: &lesson})
		if e := inst.next(); e.Code != protocol.RoomErrBusy {
			// an event of the run may come first
			inst.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomError && e.Code == protocol.RoomErrBusy })
		}
		inst.send(protocol.RoomRequest{Type: protocol.RoomStop})
		evs := inst.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomLessonDone })
		if e := evs[len(evs)-1]; e.Error != "stopped by the instructor" || e.Report != nil {
			t.Errorf("stopped run's lesson_done %+v", e)
		}
		// The next run, sent as soon as lesson_done came, is not refused as busy.
		inst.send(protocol.RoomRequest{Type: protocol.RoomRun, Run: &lesson})
		if e := inst.reply(); e.Type != protocol.RoomLessonStarted {
			t.Errorf("run right after lesson_done: %+v, want lesson_started", e)
		}
		inst.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomLessonDone })
	})
}

func TestRoomChat(t *testing.T) {
	s := startServer(t, server.Config{InstructorToken: testToken, MaxRoomPerIP: 2})
	room := mustCreateRoom(t, s)
	joinRoom(t, s, room.Code, "Teacher", "member-teacher", room.Secret)
	c, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/r/"+room.Code+"/chat?member=member-teacher", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(protocol.ChatMaxEvent)
	b, _ := json.Marshal(protocol.ChatRequest{V: protocol.Version, Type: protocol.ChatJoin, Name: "Teacher"})
	if err := c.Write(testCtx(t, 5*time.Second), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(testCtx(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var e protocol.ChatEvent
	json.Unmarshal(msg, &e)
	if e.Type != protocol.ChatWelcome || len(e.Members) != 1 || !e.Members[0].Moderator {
		t.Errorf("instructor's chat welcome %s: want them moderator", msg)
	}
	// The room socket and the chat socket fill this address's cap of 2: a third is refused.
	for _, p := range []string{"/chat", "/ws"} {
		_, resp, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/r/"+room.Code+p, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("a third socket (%s) from one address: %v, want 429", p, err)
		}
	}
}

// dialChat joins the room's chat on s as name and reads the welcome.
func dialChat(t *testing.T, s *server.Server, code, name string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(testCtx(t, 5*time.Second), "ws://"+s.Addrs().HTTP+"/r/"+code+"/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(protocol.ChatMaxEvent)
	b, _ := json.Marshal(protocol.ChatRequest{V: protocol.Version, Type: protocol.ChatJoin, Name: name})
	if err := c.Write(testCtx(t, 5*time.Second), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(testCtx(t, 5*time.Second))
	if err != nil || !strings.Contains(string(msg), `"type":"welcome"`) {
		t.Fatalf("chat join as %s: %v %s", name, err, msg)
	}
	return c
}

// startNATS runs a real nats-server in this process on a loopback port.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns.ClientURL()
}

func TestRoomAcrossInstances(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { // after both servers, their brokers and the NATS server are gone
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, before)
	})
	url := startNATS(t)
	var servers []*server.Server
	for range 2 {
		b, err := natsbroker.Dial(testCtx(t, 10*time.Second), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() }) // after the server's shutdown
		s := server.New(server.Config{InstructorToken: testToken, Broker: b, HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0",
			UDPAddr: "127.0.0.1:0", QUICAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
		servers = append(servers, s)
	}
	a, b := servers[0], servers[1]
	room := mustCreateRoom(t, a)
	inst, _ := joinRoom(t, a, room.Code, "Teacher", "member-teacher", room.Secret)
	onA, _ := joinRoom(t, a, room.Code, "Ada", "member-ada-01", "")
	if code, _ := roomGet(t, "http://"+b.Addrs().HTTP+room.URL); code != http.StatusOK {
		t.Errorf("room page on B: %d", code)
	}
	onB, st := joinRoom(t, b, room.Code, "Bo", "member-bo-001", "")
	if got := memberNames(st.Members); !reflect.DeepEqual(got, []string{"Ada", "Bo", "Teacher*"}) {
		t.Errorf("members seen on B: %v", got)
	}
	inst.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMemberJoined && e.Member.Name == "Bo" })
	onA.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMemberJoined && e.Member.Name == "Bo" })

	inst.send(protocol.RoomRequest{Type: protocol.RoomRun, Run: &lesson})
	ra, rb := collectRun(onA), collectRun(onB)
	if rb.done.Report == nil || rb.started.Lesson != "boundaries" {
		t.Fatalf("on B: started %+v, done %+v", rb.started, rb.done)
	}
	if !reflect.DeepEqual(ra, rb) {
		t.Errorf("B saw another run than A: %d events vs %d", len(rb.events), len(ra.events))
	}
	// So does the instructor's message: sent once, on A, its events reach B unchanged.
	inst.send(protocol.RoomRequest{Type: protocol.RoomSend, Send: &protocol.RoomSendData{Text: "across", Link: &protocol.LinkRequest{Preset: "lab-25ms"}}})
	ma, mb := collectMessage(onA), collectMessage(onB)
	if mb.done.Error != "" || mb.started.Text != "across" || len(mb.events) == 0 {
		t.Errorf("message on B: started %+v, %d events, done %+v", mb.started, len(mb.events), mb.done)
	}
	if !reflect.DeepEqual(ma, mb) {
		t.Errorf("B saw another message than A: %d events vs %d", len(mb.events), len(ma.events))
	}
	// The room's chat crosses the instances too.
	chatA, chatB := dialChat(t, a, room.Code, "Ada"), dialChat(t, b, room.Code, "Bo")
	say, _ := json.Marshal(protocol.ChatRequest{V: protocol.Version, Type: protocol.ChatSay, Text: "hello from A"})
	if err := chatA.Write(testCtx(t, 5*time.Second), websocket.MessageText, say); err != nil {
		t.Fatal(err)
	}
	for {
		_, msg, err := chatB.Read(testCtx(t, 10*time.Second))
		if err != nil {
			t.Fatalf("chat on B: %v", err)
		}
		var e protocol.ChatEvent
		json.Unmarshal(msg, &e)
		if e.Type == protocol.ChatMessage {
			if e.From != "Ada" || e.Text != "hello from A" {
				t.Errorf("chat on B got %+v", e)
			}
			break
		}
	}

	// A participant of B resumes on A with the state B taught A nothing of: A has it.
	onB.c.Close(websocket.StatusNormalClosure, "")
	inst.until(func(e protocol.RoomEvent) bool { return e.Type == protocol.RoomMemberLeft && e.Member.Name == "Bo" })
	_, st = joinRoom(t, a, room.Code, "Bo", "member-bo-001", "")
	if st.You.Name != "Bo" || st.Run == nil || st.Run.ID != ra.started.ID {
		t.Errorf("Bo resumed on A: %+v", st)
	}
}

// TestRoomChatTCP: the room's chat over plain TCP lines (--chat-tcp-addr, as nc speaks it): a
// client gives the room's code and a name and talks with the pages; an unknown code is refused.
func TestRoomChatTCP(t *testing.T) {
	s := startServer(t, server.Config{InstructorToken: testToken, ChatTCPAddr: "127.0.0.1:0"})
	room := mustCreateRoom(t, s)
	page := dialChat(t, s, room.Code, "Ada")
	nc, err := net.Dial("tcp", s.Addrs().ChatTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(nc)
	until := func(prefix string) string {
		t.Helper()
		for range 100 {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		}
		t.Fatalf("no %q", prefix)
		return ""
	}
	until("wireplay chat")
	fmt.Fprintf(nc, "ZZZZZZ\n")
	until("! no_such_room")
	fmt.Fprintf(nc, "%s\nBo\n", room.Code)
	until("* you are Bo; here: Ada, Bo")
	fmt.Fprintf(nc, "hello from nc\n")
	for {
		_, msg, err := page.Read(testCtx(t, 30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var e protocol.ChatEvent
		json.Unmarshal(msg, &e)
		if e.Type == protocol.ChatMessage && e.From == "Bo" && e.Text == "hello from nc" {
			break
		}
	}
	b, _ := json.Marshal(protocol.ChatRequest{V: protocol.Version, Type: protocol.ChatSay, Text: "hi Bo"})
	if err := page.Write(testCtx(t, 5*time.Second), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	until("<Ada> hi Bo")
}

// TestRoomJoinByCode: a code typed by hand reaches its room: the page's form (GET /join) takes
// any case, spaces and dashes; /r/ in lower case redirects to the code's own form; an unknown
// code is a 404 page that asks for another.
func TestRoomJoinByCode(t *testing.T) {
	s := startServer(t, server.Config{InstructorToken: testToken})
	room := mustCreateRoom(t, s)
	base := "http://" + s.Addrs().HTTP
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		res, err := noFollow.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	typed := " " + strings.ToLower(room.Code[:3]) + "-" + strings.ToLower(room.Code[3:]) + " "
	if res := get("/join?code=" + url.QueryEscape(typed)); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/r/"+room.Code {
		t.Errorf("/join?code=%q: %s → %q, want 303 → /r/%s", typed, res.Status, res.Header.Get("Location"), room.Code)
	}
	if res := get("/r/" + strings.ToLower(room.Code)); res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != "/r/"+room.Code {
		t.Errorf("/r/%s: %s → %q, want 308 → /r/%s", strings.ToLower(room.Code), res.Status, res.Header.Get("Location"), room.Code)
	}
	for _, path := range []string{"/join?code=ZZZZZZ", "/r/ZZZZZZ"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `data-testid="room-code-input"`) {
			t.Errorf("%s: %s, want a 404 page asking for another code", path, res.Status)
		}
	}
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `data-testid="room-code-input"`) || !strings.Contains(string(body), `action="/join"`) {
		t.Error("the page has no form for a room's code")
	}
}
