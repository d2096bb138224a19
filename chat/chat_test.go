package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/protocol"
)

// wait bounds every wait: a guard against a hang, not a measurement.
const wait = 20 * time.Second

// server is a hub behind a real HTTP server on 127.0.0.1. A request with ?key=teacher joins as
// the room's moderator.
type server struct {
	hub *chat.Hub
	url string
}

func newServer(t *testing.T, b broker.Broker, opts chat.Options, lis ...func(net.Listener) net.Listener) *server {
	t.Helper()
	hub := chat.NewHub(b, opts)
	h := &chat.Handler{Hub: hub, Room: func(r *http.Request) (string, bool, error) {
		q := r.URL.Query()
		return q.Get("room"), q.Get("key") == "teacher", nil
	}}
	srv := httptest.NewUnstartedServer(h)
	for _, wrap := range lis {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return &server{hub: hub, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

// client is one real WebSocket member. Unless it is made not to read, a goroutine reads every
// event into events.
type client struct {
	t   *testing.T
	c   *websocket.Conn
	mu  sync.Mutex
	evs []protocol.ChatEvent
	end error // why reading stopped
	sig chan struct{}
}

func dial(t *testing.T, s *server, query string, read bool, opts *websocket.DialOptions) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.url+"/?"+query, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(protocol.ChatMaxEvent)
	cl := &client{t: t, c: c, sig: make(chan struct{}, 1)}
	t.Cleanup(func() { c.CloseNow() })
	if read {
		go cl.readAll()
	}
	return cl
}

func (cl *client) readAll() {
	for {
		_, data, err := cl.c.Read(context.Background())
		cl.mu.Lock()
		if err != nil {
			cl.end = err
		} else {
			var e protocol.ChatEvent
			if jerr := json.Unmarshal(data, &e); jerr != nil {
				cl.end = jerr
			}
			cl.evs = append(cl.evs, e)
		}
		cl.mu.Unlock()
		select {
		case cl.sig <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (cl *client) send(req protocol.ChatRequest) {
	cl.t.Helper()
	req.V = protocol.Version
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := cl.c.Write(ctx, websocket.MessageText, b); err != nil {
		cl.t.Fatalf("send: %v", err)
	}
}

func (cl *client) say(text string) { cl.send(protocol.ChatRequest{Type: protocol.ChatSay, Text: text}) }

// waitUntil waits until ok holds for the events read so far and returns them.
func (cl *client) waitUntil(what string, ok func([]protocol.ChatEvent) bool) []protocol.ChatEvent {
	cl.t.Helper()
	deadline := time.After(wait)
	for {
		cl.mu.Lock()
		evs, end := append([]protocol.ChatEvent(nil), cl.evs...), cl.end
		cl.mu.Unlock()
		if ok(evs) {
			return evs
		}
		if end != nil {
			cl.t.Fatalf("connection ended (%v) before %s; events %+v", end, what, evs)
		}
		select {
		case <-cl.sig:
		case <-deadline:
			cl.t.Fatalf("no %s; events %+v", what, evs)
		}
	}
}

// waitFor waits for the first event matching ok and returns it.
func (cl *client) waitFor(what string, ok func(protocol.ChatEvent) bool) protocol.ChatEvent {
	cl.t.Helper()
	var found protocol.ChatEvent
	cl.waitUntil(what, func(evs []protocol.ChatEvent) bool {
		for _, e := range evs {
			if ok(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// closeStatus waits for the connection to end and returns its close status.
func (cl *client) closeStatus() websocket.StatusCode {
	cl.t.Helper()
	deadline := time.After(wait)
	for {
		cl.mu.Lock()
		end := cl.end
		cl.mu.Unlock()
		if end != nil {
			return websocket.CloseStatus(end)
		}
		select {
		case <-cl.sig:
		case <-deadline:
			cl.t.Fatal("connection never closed")
		}
	}
}

func is(typ string) func(protocol.ChatEvent) bool {
	return func(e protocol.ChatEvent) bool { return e.Type == typ }
}

func isError(code string) func(protocol.ChatEvent) bool {
	return func(e protocol.ChatEvent) bool { return e.Type == protocol.ChatError && e.Code == code }
}

func about(typ, name string) func(protocol.ChatEvent) bool {
	return func(e protocol.ChatEvent) bool { return e.Type == typ && e.Name == name }
}

func join(t *testing.T, s *server, room, name string, moderator bool) (*client, protocol.ChatEvent) {
	t.Helper()
	q := "room=" + room
	if moderator {
		q += "&key=teacher"
	}
	cl := dial(t, s, q, true, nil)
	cl.send(protocol.ChatRequest{Type: protocol.ChatJoin, Name: name})
	return cl, cl.waitFor("welcome", is(protocol.ChatWelcome))
}

func names(ms []protocol.ChatMember) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return strings.Join(out, ",")
}

// messages returns the texts of the "message" events, in order.
func messages(evs []protocol.ChatEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Type == protocol.ChatMessage {
			out = append(out, e.Text)
		}
	}
	return out
}

func count(evs []protocol.ChatEvent, ok func(protocol.ChatEvent) bool) int {
	n := 0
	for _, e := range evs {
		if ok(e) {
			n++
		}
	}
	return n
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n") && len(a) == len(b)
}

var fast = chat.Options{PerSecond: 1e6, Burst: 1e6}

// Joining gives the presence list; others see join and leave notices; names are sanitised and
// unique in the room, and a refused join may be retried on the same connection.
func TestJoinLeavePresence(t *testing.T) {
	s := newServer(t, broker.NewMemory(), chat.Options{})
	ada, w := join(t, s, "R1", "Ada", false)
	if names(w.Members) != "Ada" || w.Name != "Ada" || w.Limits == nil || w.Limits.MaxText != 500 || w.Limits.History != 100 {
		t.Fatalf("welcome %+v", w)
	}
	bo, w := join(t, s, "R1", "  Bo \u202e\x07 ", false)
	if w.Name != "Bo" || names(w.Members) != "Ada,Bo" {
		t.Fatalf("sanitised welcome %+v", w)
	}
	ada.waitFor("joined Bo", about(protocol.ChatJoined, "Bo"))

	cy := dial(t, s, "room=R1", true, nil)
	cy.say("hello?")
	cy.waitFor("not_joined", isError(protocol.ChatErrNotJoined))
	for _, bad := range []string{"ADA", "   ", strings.Repeat("é", 33), "\x00\x01"} {
		cy.send(protocol.ChatRequest{Type: protocol.ChatJoin, Name: bad})
	}
	evs := cy.waitUntil("four refusals", func(evs []protocol.ChatEvent) bool { return count(evs, is(protocol.ChatError)) == 5 })
	if count(evs, isError(protocol.ChatErrNameTaken)) != 1 || count(evs, isError(protocol.ChatErrBadName)) != 3 {
		t.Fatalf("refusals %+v", evs)
	}
	cy.send(protocol.ChatRequest{Type: protocol.ChatJoin, Name: "Cy  " + strings.Repeat("é", 28)})
	w = cy.waitFor("welcome", is(protocol.ChatWelcome))
	if names(w.Members) != "Ada,Bo,"+w.Name || w.Name != "Cy "+strings.Repeat("é", 28) {
		t.Fatalf("welcome %+v", w)
	}
	cy.send(protocol.ChatRequest{Type: protocol.ChatJoin, Name: "again"})
	cy.waitFor("joined error", isError(protocol.ChatErrJoined))

	bo.c.Close(websocket.StatusNormalClosure, "")
	for _, cl := range []*client{ada, cy} {
		e := cl.waitFor("left Bo", about(protocol.ChatLeft, "Bo"))
		if e.Reason != protocol.ChatLeftLeft {
			t.Errorf("left %+v", e)
		}
	}
	_, w = join(t, s, "R1", "bo", false)
	if names(w.Members) != "Ada,bo,"+"Cy "+strings.Repeat("é", 28) {
		t.Fatalf("after Bo left, welcome %+v", w)
	}
}

// A late joiner gets the room's last 100 messages, oldest first.
func TestHistoryForLateJoiner(t *testing.T) {
	s := newServer(t, broker.NewMemory(), fast)
	ada, _ := join(t, s, "R1", "Ada", false)
	all := numbered("m", 0, 130)
	for _, m := range all {
		ada.say(m)
	}
	ada.waitUntil("own 130 messages", func(evs []protocol.ChatEvent) bool { return len(messages(evs)) == 130 })
	_, w := join(t, s, "R1", "Bo", false)
	if got := messages(w.History); !equal(got, all[30:]) {
		t.Fatalf("history of %d, first %q; want the last 100", len(got), got[:min(3, len(got))])
	}
}

// Ten messages sent at once with a burst of 5 and a refill too slow to matter: exactly 5 go to
// the room, in order, and 5 are refused with rate_limited.
func TestRateLimit(t *testing.T) {
	s := newServer(t, broker.NewMemory(), chat.Options{PerSecond: 1e-9, Burst: 5})
	ada, _ := join(t, s, "R1", "Ada", false)
	bo, _ := join(t, s, "R1", "Bo", false)
	ada.waitFor("joined Bo", about(protocol.ChatJoined, "Bo"))
	for _, m := range numbered("m", 0, 10) {
		ada.say(m)
	}
	evs := ada.waitUntil("ten answers", func(evs []protocol.ChatEvent) bool {
		return len(messages(evs))+count(evs, is(protocol.ChatError)) == 10
	})
	if got := messages(evs); !equal(got, numbered("m", 0, 5)) || count(evs, isError(protocol.ChatErrRateLimited)) != 5 {
		t.Fatalf("accepted %q, refused %d", got, count(evs, isError(protocol.ChatErrRateLimited)))
	}
	// Bo's own message comes after whatever of Ada's reached the room.
	bo.say("from Bo")
	evs = bo.waitUntil("own message", func(evs []protocol.ChatEvent) bool {
		m := messages(evs)
		return len(m) > 0 && m[len(m)-1] == "from Bo"
	})
	if got := messages(evs); !equal(got, append(numbered("m", 0, 5), "from Bo")) {
		t.Fatalf("Bo got %q", got)
	}
}

// A message of 500 bytes goes; 501 is refused with too_long; an empty one and a request of an
// unknown type are refused; a frame over 4 KiB closes the connection with 1009.
func TestSizeLimit(t *testing.T) {
	s := newServer(t, broker.NewMemory(), fast)
	ada, _ := join(t, s, "R1", "Ada", false)
	ada.say(strings.Repeat("a", 500))
	ada.say(strings.Repeat("b", 501))
	ada.say(" \t ")
	ada.send(protocol.ChatRequest{Type: "shout"})
	ada.say("after")
	evs := ada.waitUntil("two messages", func(evs []protocol.ChatEvent) bool { return len(messages(evs)) == 2 })
	if got := messages(evs); len(got) != 2 || got[0] != strings.Repeat("a", 500) || got[1] != "after" {
		t.Fatalf("messages %q", got)
	}
	if count(evs, isError(protocol.ChatErrTooLong)) != 1 || count(evs, isError(protocol.ChatErrBadRequest)) != 2 {
		t.Fatalf("errors %+v", evs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := ada.c.Write(ctx, websocket.MessageText, []byte(`{"v":1,"type":"say","text":"`+strings.Repeat("x", 5000)+`"}`)); err != nil {
		t.Fatal(err)
	}
	if st := ada.closeStatus(); st != websocket.StatusMessageTooBig {
		t.Fatalf("close status %v, want 1009", st)
	}
}

// smallSendBuffers makes every accepted connection's kernel send buffer small, so a member that
// does not read fills its path in a few dozen messages.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// A member that never reads is dropped once its queue is full: closed with 1008, seen leaving
// with reason "dropped"; the members who read get every message, in order.
func TestSlowMemberDropped(t *testing.T) {
	opts := fast
	opts.Queue = 16
	opts.WriteTimeout = time.Minute // the stuck write must not time out before the drop
	s := newServer(t, broker.NewMemory(), opts, func(l net.Listener) net.Listener { return smallSendBuffers{l} })
	ada, _ := join(t, s, "R1", "Ada", false)
	bo, _ := join(t, s, "R1", "Bo", false)

	small := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	sy := dial(t, s, "room=R1", false, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: small.DialContext}}})
	sy.send(protocol.ChatRequest{Type: protocol.ChatJoin, Name: "Sy"})
	ada.waitFor("joined Sy", about(protocol.ChatJoined, "Sy"))
	bo.waitFor("joined Sy", about(protocol.ChatJoined, "Sy"))

	// Ada floods in rounds of 8; each round waits until Ada and Bo have read it all, so they
	// never hold more than 8 and only Sy can fill its queue of 16.
	pad := strings.Repeat("x", 400)
	sent := 0
	dropped := func(evs []protocol.ChatEvent) bool { return count(evs, about(protocol.ChatLeft, "Sy")) > 0 }
	for round := 0; ; round++ {
		if round == 500 {
			t.Fatal("Sy was never dropped")
		}
		for range 8 {
			ada.say(fmt.Sprintf("m%04d %s", sent, pad))
			sent++
		}
		var evs []protocol.ChatEvent
		for _, cl := range []*client{ada, bo} {
			evs = cl.waitUntil("the round", func(evs []protocol.ChatEvent) bool { return len(messages(evs)) == sent })
		}
		if dropped(evs) {
			break
		}
	}
	// A few more after the drop.
	for range 8 {
		ada.say(fmt.Sprintf("m%04d %s", sent, pad))
		sent++
	}
	var want []string
	for i := range sent {
		want = append(want, fmt.Sprintf("m%04d %s", i, pad))
	}
	for _, cl := range []*client{ada, bo} {
		evs := cl.waitUntil("every message", func(evs []protocol.ChatEvent) bool { return len(messages(evs)) == sent })
		if !equal(messages(evs), want) {
			t.Fatal("a reading member lost or reordered messages")
		}
		if e := cl.waitFor("left Sy", about(protocol.ChatLeft, "Sy")); e.Reason != protocol.ChatLeftDropped {
			t.Errorf("left %+v", e)
		}
	}
	// Sy reads at last: what was in its path, then the close.
	go sy.readAll()
	if st := sy.closeStatus(); st != websocket.StatusPolicyViolation {
		t.Fatalf("Sy closed with %v, want 1008", st)
	}
	if d := s.hub.Dropped(); d != 1 {
		t.Fatalf("hub dropped %d members, want 1 (Sy)", d)
	}
	t.Logf("Sy dropped after %d messages", sent-8)
}

// Only the moderator mutes, unmutes and removes; a muted member's message is refused; a removed
// member sees its own removal and is closed with 1008, and its name is free again.
func TestModeratorMuteRemove(t *testing.T) {
	s := newServer(t, broker.NewMemory(), fast)
	teacher, w := join(t, s, "R1", "Teacher", true)
	if len(w.Members) != 1 || !w.Members[0].Moderator {
		t.Fatalf("welcome %+v", w)
	}
	ada, _ := join(t, s, "R1", "Ada", false)
	bo, _ := join(t, s, "R1", "Bo", false)
	teacher.waitFor("joined Bo", about(protocol.ChatJoined, "Bo"))

	ada.send(protocol.ChatRequest{Type: protocol.ChatMute, Name: "Bo"})
	ada.waitFor("forbidden", isError(protocol.ChatErrForbidden))
	teacher.send(protocol.ChatRequest{Type: protocol.ChatMute, Name: "nobody"})
	teacher.waitFor("no_such_member", isError(protocol.ChatErrNoSuchMember))

	teacher.send(protocol.ChatRequest{Type: protocol.ChatMute, Name: "ada"})
	for _, cl := range []*client{teacher, ada, bo} {
		if e := cl.waitFor("muted Ada", about(protocol.ChatMuted, "Ada")); e.By != "Teacher" {
			t.Errorf("muted %+v", e)
		}
	}
	ada.say("may I?")
	ada.waitFor("muted error", isError(protocol.ChatErrMuted))
	_, w = join(t, s, "R1", "Cy", false)
	if names(w.Members) != "Ada,Bo,Cy,Teacher" || !w.Members[0].Muted {
		t.Fatalf("presence shows the mute: %+v", w.Members)
	}
	teacher.send(protocol.ChatRequest{Type: protocol.ChatUnmute, Name: "Ada"})
	ada.waitFor("unmuted", about(protocol.ChatUnmuted, "Ada"))
	ada.say("thanks")
	if got := messages(bo.waitUntil("Ada's message", func(evs []protocol.ChatEvent) bool { return len(messages(evs)) == 1 })); got[0] != "thanks" {
		t.Fatalf("Bo got %q", got)
	}

	teacher.send(protocol.ChatRequest{Type: protocol.ChatRemove, Name: "Bo"})
	for _, cl := range []*client{teacher, ada, bo} {
		if e := cl.waitFor("left Bo", about(protocol.ChatLeft, "Bo")); e.Reason != protocol.ChatLeftRemoved || e.By != "Teacher" {
			t.Errorf("left %+v", e)
		}
	}
	if st := bo.closeStatus(); st != websocket.StatusPolicyViolation {
		t.Fatalf("removed member closed with %v, want 1008", st)
	}
	join(t, s, "R1", "Bo", false)
}

// TestHistoryOutlivesEmptyRoom: the room's history outlives the moment its last member leaves
// (a reload of the only page), for the hub's grace period; with no grace it goes at once.
func TestHistoryOutlivesEmptyRoom(t *testing.T) {
	for _, tc := range []struct {
		grace time.Duration
		want  int
	}{{0, 3}, {-1, 0}} {
		opts := fast
		opts.Grace = tc.grace
		s := newServer(t, broker.NewMemory(), opts)
		ada, _ := join(t, s, "R1", "Ada", false)
		for _, m := range numbered("m", 0, 3) {
			ada.say(m)
		}
		ada.waitUntil("own 3 messages", func(evs []protocol.ChatEvent) bool { return len(messages(evs)) == 3 })
		ada.c.Close(websocket.StatusNormalClosure, "")
		ada.closeStatus()
		// Bo joins once Ada is gone from the hub: a third member's welcome lists Bo alone.
		var w protocol.ChatEvent
		for range 200 {
			var bo *client
			bo, w = join(t, s, "R1", "Bo", false)
			if len(w.Members) == 1 {
				break
			}
			bo.c.Close(websocket.StatusNormalClosure, "")
			bo.closeStatus()
		}
		if len(w.Members) != 1 {
			t.Fatalf("grace %v: Ada still listed: %+v", tc.grace, w.Members)
		}
		if got := len(messages(w.History)); got != tc.want {
			t.Errorf("grace %v: the welcome after the room emptied holds %d messages, want %d", tc.grace, got, tc.want)
		}
	}
}
