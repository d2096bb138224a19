package rooms

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/internal/wsqueue"
	"github.com/wireplay/wireplay/protocol"
)

// errStopped is the cause of a run the instructor stopped.
var errStopped = errors.New("stopped by the instructor")

// ServeCreate is POST /api/rooms: with the instructor token as a bearer token, it creates a room
// and answers 201 with its protocol.RoomCreated.
func (rs *Rooms) ServeCreate(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !rs.Enabled() {
		http.Error(w, "rooms are off: the server was started without --instructor-token (WIREPLAY_INSTRUCTOR_TOKEN)", http.StatusNotFound)
		return
	}
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	a, b := sha256.Sum256([]byte(strings.TrimSpace(tok))), sha256.Sum256([]byte(rs.opts.Token))
	if !ok || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wireplay rooms"`)
		http.Error(w, "creating a room needs the instructor token: Authorization: Bearer TOKEN", http.StatusUnauthorized)
		return
	}
	created, err := rs.Create(req.Context())
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrTooMany) {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, err.Error(), code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(created)
}

// remoteAddr is the request's client address, for the per-address cap.
func remoteAddr(req *http.Request) net.Addr {
	ap, err := netip.ParseAddrPort(req.RemoteAddr)
	if err != nil {
		return &net.TCPAddr{}
	}
	return net.TCPAddrFromAddrPort(ap)
}

// Capped serves h's requests (a room's chat sockets) under the same per-address cap as the room
// sockets: a client address holds Options.MaxPerIP of them together; more are refused with 429.
func (rs *Rooms) Capped(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		release, err := rs.limit.Acquire(remoteAddr(req))
		if err != nil {
			http.Error(w, "room sockets: "+err.Error(), http.StatusTooManyRequests)
			return
		}
		defer release()
		h.ServeHTTP(w, req)
	})
}

// Acquire counts one more socket of a room's (its chat's over TCP lines, chat.LineServer)
// against the client address's cap that room and chat sockets share; release gives it back.
func (rs *Rooms) Acquire(addr net.Addr) (release func(), err error) { return rs.limit.Acquire(addr) }

// ServeWS is GET /r/{code}/ws: the room's WebSocket, one connection per member.
func (rs *Rooms) ServeWS(w http.ResponseWriter, req *http.Request) {
	code := req.PathValue("code")
	r, err := rs.lookup(req.Context(), code)
	if err != nil || r == nil {
		http.Error(w, fmt.Sprintf("no room %q here (it may have expired)", code), http.StatusNotFound)
		return
	}
	release, err := rs.limit.Acquire(remoteAddr(req))
	if err != nil {
		http.Error(w, "room sockets: "+err.Error(), http.StatusTooManyRequests)
		return
	}
	defer release()
	c, err := websocket.Accept(w, req, rs.opts.AcceptOptions)
	if err != nil {
		return
	}
	c.SetReadLimit(protocol.RoomMaxFrame)
	ctx := context.WithoutCancel(req.Context())
	m := rs.awaitJoin(ctx, c, r)
	if m == nil {
		return
	}
	m.serve(ctx)
}

// refusal is a refused request, told to the client.
type refusal struct{ code, msg string }

func (e *refusal) Error() string { return e.msg }

func (rs *Rooms) write(ctx context.Context, c *websocket.Conn, e protocol.RoomEvent) error {
	wctx, cancel := context.WithTimeout(ctx, rs.opts.WriteTimeout)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, encode(e))
}

// awaitJoin answers the client directly until it has joined; nil, the connection closed, when it
// never did (RoomMaxBadRequests refusals in a row close it with 1008).
func (rs *Rooms) awaitJoin(ctx context.Context, c *websocket.Conn, r *room) *member {
	for bad := 0; bad < protocol.RoomMaxBadRequests; bad++ {
		req, ok, rerr := read(ctx, c)
		if !ok {
			c.CloseNow()
			return nil
		}
		if rerr == nil && req.Type != protocol.RoomJoin {
			rerr = &refusal{protocol.RoomErrNotJoined, `join first: {"v":1,"type":"join","name":"...","member":"..."}`}
		}
		if rerr == nil {
			m, err := r.join(ctx, req, c)
			if err == nil {
				return m
			}
			rerr = err
		}
		e := protocol.RoomEvent{Type: protocol.RoomError, Code: protocol.RoomErrBadRequest, Error: rerr.Error()}
		var rf *refusal
		if errors.As(rerr, &rf) {
			e.Code = rf.code
		}
		if rs.write(ctx, c, e) != nil {
			c.CloseNow()
			return nil
		}
	}
	c.Close(websocket.StatusPolicyViolation, "too many refused requests")
	return nil
}

// read reads one request; ok is false once the connection is done, and bad says why a request
// is refused.
func read(ctx context.Context, c *websocket.Conn) (req protocol.RoomRequest, ok bool, bad error) {
	typ, data, err := c.Read(ctx)
	if err != nil {
		return req, false, nil
	}
	if typ != websocket.MessageText {
		return req, true, errors.New("requests are JSON text frames")
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return req, true, fmt.Errorf("not a room request: %v", err)
	}
	if req.V != protocol.Version {
		return req, true, fmt.Errorf("unsupported protocol version %d (want %d)", req.V, protocol.Version)
	}
	return req, true, nil
}

// join adds the client to the room as the member it names; the "room" state is the first thing
// in its queue.
func (r *room) join(ctx context.Context, req protocol.RoomRequest, c *websocket.Conn) (*member, error) {
	rs := r.rs
	if !protocol.ValidRoomMember(req.Member) {
		return nil, &refusal{protocol.RoomErrBadMember, fmt.Sprintf("member: %d to %d of A-Z a-z 0-9 _ - (made up once by the page, kept across reloads)",
			protocol.RoomMemberMin, protocol.RoomMemberMax)}
	}
	name, ok := chat.SanitizeName(req.Name, rs.opts.MaxName)
	if !ok {
		return nil, &refusal{protocol.RoomErrBadName, fmt.Sprintf("a name is 1 to %d characters", rs.opts.MaxName)}
	}
	instructor := req.Secret != ""
	if instructor && !r.checkSecret(req.Secret) {
		return nil, &refusal{protocol.RoomErrForbidden, "that is not this room's instructor secret"}
	}
	pub := publicID(r.code, req.Member)
	r.mu.Lock()
	if r.gone {
		r.mu.Unlock()
		return nil, &refusal{protocol.RoomErrBadRequest, "the room has expired"}
	}
	r.purgeLocked(time.Now())
	online := 0
	for id, e := range r.roster {
		if id == pub {
			continue
		}
		if strings.EqualFold(e.Name, name) {
			r.mu.Unlock()
			return nil, &refusal{protocol.RoomErrNameTaken, fmt.Sprintf("%q is taken in this room", name)}
		}
		if e.Online {
			online++
		}
	}
	if online >= rs.opts.MaxMembers {
		r.mu.Unlock()
		return nil, &refusal{protocol.RoomErrFull, fmt.Sprintf("the room is full (%d members)", rs.opts.MaxMembers)}
	}
	m := &member{r: r, conn: c, pub: pub, connID: rs.next(), name: name, instructor: instructor,
		shares: rate.NewLimiter(rate.Limit(rs.opts.SharesPerSecond), rs.opts.ShareBurst),
		Writer: wsqueue.Writer{Conn: c, Max: rs.opts.Queue, WriteTimeout: rs.opts.WriteTimeout,
			SlowReason: "too slow to keep up with the room's events"}}
	var oldChat *chat.Member
	if old := r.local[pub]; old != nil {
		old.replaced = true
		old.Finish(websocket.StatusNormalClosure, "replaced by a newer connection of this member")
		oldChat = old.chat
	}
	r.local[pub] = m
	me := protocol.RoomMember{ID: pub, Name: name, Instructor: instructor}
	r.roster[pub] = &entry{RoomMember: me, Conn: m.connID, Online: true}
	r.busyLocked()
	m.Send(encode(r.stateLocked(me)))
	r.mu.Unlock()
	if oldChat != nil {
		oldChat.Leave() // now, not when the old socket's reader notices: the name is the new one's
	}
	if err := r.publish(ctx, wire{Kind: kindJoin, Member: &me, Conn: m.connID}); err != nil {
		r.leave(m)
		return nil, fmt.Errorf("join room %s: %w", r.code, err)
	}
	return m, nil
}

// leave takes m out of the room (its connection ended) and tells the others, unless another
// connection of the member replaced it.
func (r *room) leave(m *member) {
	r.mu.Lock()
	if r.local[m.pub] == m {
		delete(r.local, m.pub)
	}
	replaced := m.replaced
	r.idleLocked()
	r.mu.Unlock()
	m.Finish(websocket.StatusNormalClosure, "")
	if !replaced {
		_ = r.publishBG(wire{Kind: kindLeave, Member: &protocol.RoomMember{ID: m.pub, Name: m.name}, Conn: m.connID})
	}
}

// drop takes a member whose queue was full out of the room.
func (r *room) drop(m *member) {
	r.mu.Lock()
	here := r.local[m.pub] == m
	if here {
		delete(r.local, m.pub)
		m.replaced = true // its leave is published here, once
	}
	r.idleLocked()
	r.mu.Unlock()
	if here {
		r.rs.dropped.Add(1)
		_ = r.publishBG(wire{Kind: kindLeave, Member: &protocol.RoomMember{ID: m.pub, Name: m.name}, Conn: m.connID})
	}
}

// tell queues a direct event for m alone.
func (m *member) tell(e protocol.RoomEvent) {
	if m.Send(encode(e)) {
		m.r.drop(m)
	}
}

// serve reads the member's requests until its connection ends, then takes it out of the room.
// RoomMaxBadRequests refusals in a row close the connection with 1008.
func (m *member) serve(ctx context.Context) {
	bad := 0
	for {
		req, ok, rerr := read(ctx, m.conn)
		if !ok {
			break
		}
		if rerr == nil {
			rerr = m.handle(ctx, req)
		}
		if rerr == nil {
			bad = 0
			continue
		}
		e := protocol.RoomEvent{Type: protocol.RoomError, Code: protocol.RoomErrBadRequest, Error: rerr.Error()}
		var rf *refusal
		if errors.As(rerr, &rf) {
			e.Code = rf.code
		}
		m.tell(e)
		if bad++; bad >= protocol.RoomMaxBadRequests {
			m.Finish(websocket.StatusPolicyViolation, "too many refused requests")
			break
		}
	}
	m.r.mu.Lock()
	cm := m.chat
	m.r.mu.Unlock()
	if cm != nil {
		cm.Leave()
	}
	m.r.leave(m)
}

// handleChat passes a "chat" request to the room's chat: a "join" joins it under the member's
// room name (moderator when instructor), anything else goes to the chat member. The chat's
// refusals go to the member as chat "error" events.
func (m *member) handleChat(ctx context.Context, req *protocol.ChatRequest) error {
	hub := m.r.rs.opts.Chat
	if hub == nil {
		return &refusal{protocol.RoomErrBadRequest, "this server has no chat for rooms"}
	}
	if req == nil {
		return &refusal{protocol.RoomErrBadRequest, `chat: missing "chat" request`}
	}
	tellChat := func(code, msg string) {
		if m.Send(protocol.ChatInRoom(chat.ErrorEvent(code, msg))) {
			m.r.drop(m)
		}
	}
	if req.V != protocol.Version {
		tellChat(protocol.ChatErrBadRequest, fmt.Sprintf("unsupported protocol version %d (want %d)", req.V, protocol.Version))
		return nil
	}
	m.r.mu.Lock()
	cm := m.chat
	m.r.mu.Unlock()
	if cm != nil {
		cm.Handle(ctx, *req)
		return nil
	}
	if req.Type != protocol.ChatJoin {
		tellChat(protocol.ChatErrNotJoined, `join the chat first: {"v":1,"type":"chat","chat":{"v":1,"type":"join"}}`)
		return nil
	}
	cm, err := hub.Join(ctx, m.r.code, m.name, m.instructor, m.pub, chatSink{m})
	if err != nil {
		tellChat(chat.Refusal(err), err.Error())
		return nil
	}
	m.r.mu.Lock()
	m.chat = cm
	m.r.mu.Unlock()
	return nil
}

// handle acts on one request of a joined member; an error is its refusal.
func (m *member) handle(ctx context.Context, req protocol.RoomRequest) error {
	r := m.r
	switch req.Type {
	case protocol.RoomRun:
		if !m.instructor {
			return &refusal{protocol.RoomErrForbidden, "only the instructor can run lessons"}
		}
		if req.Run == nil || req.Run.Name == "" {
			return &refusal{protocol.RoomErrBadRequest, `run: missing "run" lesson`}
		}
		return r.startRun(ctx, m, *req.Run)
	case protocol.RoomSend:
		if !m.instructor {
			return &refusal{protocol.RoomErrForbidden, "only the instructor can send messages to the room"}
		}
		if req.Send == nil {
			return &refusal{protocol.RoomErrBadRequest, `send: missing "send" message`}
		}
		return r.startSend(ctx, m, *req.Send)
	case protocol.RoomStop:
		if !m.instructor {
			return &refusal{protocol.RoomErrForbidden, "only the instructor can stop lessons"}
		}
		r.mu.Lock()
		var id string
		if r.run != nil && !r.runDone {
			id = r.run.ID
		}
		r.mu.Unlock()
		if id == "" {
			return &refusal{protocol.RoomErrNoRun, "no lesson is running"}
		}
		if err := r.publish(ctx, wire{Kind: kindStop, RunID: id}); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
		return nil
	case protocol.RoomShare:
		sh, err := checkShare(req.Share)
		if err != nil {
			return err
		}
		if !m.shares.Allow() {
			return &refusal{protocol.RoomErrRateLimited, fmt.Sprintf("slow down: %d shares at once, then %g a second", r.rs.opts.ShareBurst, r.rs.opts.SharesPerSecond)}
		}
		sh.Member, sh.Name = m.pub, m.name
		r.mu.Lock()
		_, again := r.shares[shareKey{m.pub, sh.Lesson}]
		lessons := 0
		for k := range r.shares {
			if k.member == m.pub {
				lessons++
			}
		}
		r.mu.Unlock()
		if !again && lessons >= protocol.RoomMaxShareLessons {
			return &refusal{protocol.RoomErrBadRequest, fmt.Sprintf("share: at most %d lessons per member", protocol.RoomMaxShareLessons)}
		}
		if err := r.publish(ctx, wire{Kind: kindShare, Share: &sh}); err != nil {
			return fmt.Errorf("share: %w", err)
		}
		return nil
	case protocol.RoomChat:
		return m.handleChat(ctx, req.Chat)
	case protocol.RoomJoin:
		return &refusal{protocol.RoomErrJoined, "already joined as " + m.name}
	}
	return &refusal{protocol.RoomErrBadRequest, fmt.Sprintf("unknown request type %q", req.Type)}
}

// checkShare validates a share's sizes.
func checkShare(sh *protocol.RoomShareData) (protocol.RoomShareData, error) {
	bad := func(msg string) error { return &refusal{protocol.RoomErrBadRequest, "share: " + msg} }
	short := func(s string) bool { return utf8.ValidString(s) && len(s) <= 64 }
	if sh == nil || sh.Lesson == "" || !short(sh.Lesson) {
		return protocol.RoomShareData{}, bad(`"share" needs a lesson (at most 64 bytes)`)
	}
	if len(sh.Metrics) == 0 || len(sh.Metrics) > protocol.RoomMaxShareMetrics {
		return protocol.RoomShareData{}, bad(fmt.Sprintf("1 to %d metrics", protocol.RoomMaxShareMetrics))
	}
	for _, mt := range sh.Metrics {
		if mt.Name == "" || !short(mt.Name) || !short(mt.Transport) || !short(mt.Unit) {
			return protocol.RoomShareData{}, bad("a metric has a name, and its name, transport and unit are at most 64 bytes")
		}
	}
	return protocol.RoomShareData{Lesson: sh.Lesson, Metrics: append([]protocol.Metric(nil), sh.Metrics...)}, nil
}

// startRun runs the instructor's lesson here, once for the whole room: its events go to the room
// through the broker.
func (r *room) startRun(ctx context.Context, m *member, sr protocol.ScenarioRequest) error {
	rs := r.rs
	if err := (protocol.Request{V: protocol.Version, Type: protocol.TypeScenario, Scenario: &sr}).Validate(); err != nil {
		return &refusal{protocol.RoomErrBadLesson, err.Error()}
	}
	if rs.opts.Runner == nil {
		return &refusal{protocol.RoomErrBadLesson, "this server runs no lessons for rooms"}
	}
	// One run at a time: the one this instance starts counts from here (two "run" at once are
	// one run), another instance's from its lesson_started.
	r.mu.Lock()
	busy := r.run != nil && !r.runDone || r.localRuns > 0
	if !busy {
		r.localRuns++
		r.busyLocked()
	}
	r.mu.Unlock()
	if busy {
		return &refusal{protocol.RoomErrBusy, "a lesson is running in this room: stop it first"}
	}
	run, err := rs.opts.Runner(sr)
	if err != nil {
		r.mu.Lock()
		r.localRuns--
		r.idleLocked()
		r.mu.Unlock()
		if errors.Is(err, ErrBusy) {
			return &refusal{protocol.RoomErrBusy, err.Error()}
		}
		return &refusal{protocol.RoomErrBadLesson, err.Error()}
	}
	info := &protocol.RoomRunInfo{ID: rs.next(), Lesson: sr.Name, By: m.name, Request: sr}
	rctx, cancel := context.WithCancelCause(rs.ctx)
	rs.mu.Lock()
	rs.running[info.ID] = cancel
	rs.mu.Unlock()
	perr := r.publish(ctx, wire{Kind: kindStarted, Run: info})
	if perr != nil {
		cancel(perr) // run still gives its slot back
	}
	rs.work.Go(func() {
		rep, err := run(rctx, func(e protocol.Event) {
			e.V = protocol.Version
			_ = r.publishBG(wire{Kind: kindEvent, RunID: info.ID, Event: &e})
		})
		done := wire{Kind: kindDone, RunID: info.ID, Report: rep}
		switch {
		case errors.Is(context.Cause(rctx), errStopped): // whatever the lesson made of the cut
			done.Report, done.Error = nil, errStopped.Error()
		case rs.ctx.Err() != nil:
			done.Report, done.Error = nil, "the server is shutting down"
		case err != nil:
			done.Report, done.Error = nil, err.Error()
		}
		cancel(nil)
		rs.mu.Lock()
		delete(rs.running, info.ID)
		rs.mu.Unlock()
		// Before lesson_done goes out: an instructor who answers it with the next "run" finds
		// the room free (until lesson_done arrives, the run in the room's state keeps it busy).
		r.mu.Lock()
		r.localRuns--
		r.idleLocked()
		r.mu.Unlock()
		if err := r.publishBG(done); err != nil && done.Report != nil {
			_ = r.publishBG(wire{Kind: kindDone, RunID: info.ID, Error: fmt.Sprintf("the report did not reach the room: %v", err)})
		}
	})
	if perr != nil {
		return fmt.Errorf("run: %w", perr)
	}
	return nil
}

// startSend sends the instructor's message here, once for the whole room, across an emulated
// link: its events go to the room through the broker.
func (r *room) startSend(ctx context.Context, m *member, msg protocol.RoomSendData) error {
	rs := r.rs
	if err := (protocol.Request{V: protocol.Version, Type: protocol.TypeSend, Text: msg.Text}).Validate(); err != nil {
		return &refusal{protocol.RoomErrBadRequest, err.Error()}
	}
	if msg.Link != nil {
		lr := *msg.Link
		lr.Mode = protocol.ModeLink
		if err := (protocol.Request{V: protocol.Version, Type: protocol.TypeLink, Link: &lr}).Validate(); err != nil {
			return &refusal{protocol.RoomErrBadLesson, err.Error()}
		}
		msg.Link = &lr
	}
	if rs.opts.Sender == nil {
		return &refusal{protocol.RoomErrBadLesson, "this server sends no messages for rooms"}
	}
	// One at a time: this instance's from here, another instance's from its message_started.
	r.mu.Lock()
	busy := r.localSends > 0 || r.msg != nil && !r.msgDone
	if !busy {
		r.localSends++
		r.busyLocked()
	}
	r.mu.Unlock()
	if busy {
		return &refusal{protocol.RoomErrBusy, "a message is on its way in this room: wait for it"}
	}
	send, err := rs.opts.Sender(msg)
	if err != nil {
		r.mu.Lock()
		r.localSends--
		r.idleLocked()
		r.mu.Unlock()
		if errors.Is(err, ErrBusy) {
			return &refusal{protocol.RoomErrBusy, err.Error()}
		}
		return &refusal{protocol.RoomErrBadLesson, err.Error()}
	}
	msg.ID, msg.By = rs.next(), m.name
	sctx, cancel := context.WithCancel(rs.ctx)
	perr := r.publish(ctx, wire{Kind: kindMsgUp, RunID: msg.ID, Send: &msg})
	if perr != nil {
		cancel() // send still gives its link back
	}
	rs.work.Go(func() {
		err := send(sctx, func(e protocol.Event) {
			e.V = protocol.Version
			_ = r.publishBG(wire{Kind: kindMsgEv, RunID: msg.ID, Event: &e})
		})
		done := wire{Kind: kindMsgDone, RunID: msg.ID}
		switch {
		case rs.ctx.Err() != nil:
			done.Error = "the server is shutting down"
		case err != nil:
			done.Error = err.Error()
		}
		cancel()
		r.mu.Lock()
		r.localSends--
		r.idleLocked()
		r.mu.Unlock()
		_ = r.publishBG(done)
	})
	if perr != nil {
		return fmt.Errorf("send: %w", perr)
	}
	return nil
}
