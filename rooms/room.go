package rooms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/protocol"
)

// wire is a room event on the broker.
type wire struct {
	Kind   string                   `json:"k"`
	Hub    string                   `json:"hub"`
	To     string                   `json:"to,omitempty"`   // state: the instance that asked
	Conn   string                   `json:"conn,omitempty"` // join, leave: the connection
	Member *protocol.RoomMember     `json:"m,omitempty"`
	Run    *protocol.RoomRunInfo    `json:"run,omitempty"`
	RunID  string                   `json:"run_id,omitempty"`
	Event  *protocol.Event          `json:"ev,omitempty"`
	Report *protocol.ScenarioReport `json:"report,omitempty"`
	Error  string                   `json:"error,omitempty"`
	Share  *protocol.RoomShareData  `json:"share,omitempty"`
	Send   *protocol.RoomSendData   `json:"send,omitempty"`
	State  *snapshot                `json:"state,omitempty"`
}

const (
	kindSync    = "sync"
	kindState   = "state"
	kindJoin    = "join"
	kindLeave   = "leave"
	kindStarted = "started"
	kindEvent   = "event"
	kindDone    = "done"
	kindStop    = "stop"
	kindShare   = "share"
	kindMsgUp   = "msg_started"
	kindMsgEv   = "msg_event"
	kindMsgDone = "msg_done"
	// kindBeat says its instance is alive and has members (or a run, a message) in the room.
	kindBeat = "beat"
)

// snapshot is a room's state as one instance tells another.
type snapshot struct {
	SecretHash []byte                   `json:"secret_hash"`
	Roster     []entry                  `json:"roster,omitempty"`
	Run        *protocol.RoomRunInfo    `json:"run,omitempty"`
	Events     []protocol.Event         `json:"events,omitempty"`
	Skipped    int                      `json:"skipped,omitempty"`
	Report     *protocol.ScenarioReport `json:"report,omitempty"`
	Error      string                   `json:"error,omitempty"`
	Shares     []protocol.RoomShareData `json:"shares,omitempty"`
	Msg        *protocol.RoomSendData   `json:"msg,omitempty"`
	MsgEvents  []protocol.Event         `json:"msg_events,omitempty"`
	MsgSkipped int                      `json:"msg_skipped,omitempty"`
	MsgDone    bool                     `json:"msg_done,omitempty"`
	MsgErr     string                   `json:"msg_error,omitempty"`
}

// entry is one member of a room, on any instance; an offline one keeps its name for the grace
// period.
type entry struct {
	protocol.RoomMember
	Conn   string `json:"conn"`
	Online bool   `json:"online"`
	Seen   int64  `json:"seen"` // unix ms it went offline
}

type shareKey struct{ member, lesson string }

// room is this instance's copy of one room.
type room struct {
	rs      *Rooms
	code    string
	subject string
	// done is closed once the room is known (created here, or a state came) or the look-up
	// failed; stateCh wakes the look-up when a state comes.
	done    chan struct{}
	stateCh chan struct{}

	mu         sync.Mutex
	sub        broker.Subscription
	known      bool
	gone       bool // expired or closed: deliver does nothing
	secretHash [32]byte
	roster     map[string]*entry  // public id → entry, the whole room's
	local      map[string]*member // public id → this instance's connection of the member
	run        *protocol.RoomRunInfo
	runDone    bool
	events     []protocol.Event
	skipped    int
	report     *protocol.ScenarioReport
	runErr     string
	shares     map[shareKey]protocol.RoomShareData
	localRuns  int // lessons this instance runs for the room
	localSends int // messages this instance sends for the room
	// msg is the instructor's latest message, its events (the last RoomMaxRecent), and whether
	// it is done.
	msg        *protocol.RoomSendData
	msgEvents  []protocol.Event
	msgSkipped int
	msgDone    bool
	msgErr     string
	expiry     *time.Timer
	// heard is when each other instance was last heard from in the room: one silent for
	// Options.Beat × beatsLost has its members taken offline and its run and message ended.
	heard map[string]time.Time
}

func (rs *Rooms) newRoom(code string) *room {
	return &room{rs: rs, code: code, subject: rs.opts.SubjectPrefix + "." + code, done: make(chan struct{}),
		stateCh: make(chan struct{}, 1), roster: map[string]*entry{}, local: map[string]*member{},
		shares: map[shareKey]protocol.RoomShareData{}, heard: map[string]time.Time{}}
}

// beatsLost is how many beats an instance may miss before the others take it for gone.
const beatsLost = 3

// hubOf is the instance part of a connection, run or message id (Rooms.next).
func hubOf(id string) string {
	hub, _, _ := strings.Cut(id, ".")
	return hub
}

// beat tells the other instances this one is alive in the room while it has something there,
// and takes offline what instances silent for too long left behind: their members (member_left)
// and their run and message (ended with an error).
func (r *room) beat(now time.Time) {
	rs := r.rs
	r.mu.Lock()
	if r.gone {
		r.mu.Unlock()
		return
	}
	alive := len(r.local) > 0 || r.localRuns > 0 || r.localSends > 0
	lost := func(hub string) bool {
		if hub == rs.id {
			return false
		}
		t, ok := r.heard[hub]
		if !ok { // first seen now: from now on it must be heard
			r.heard[hub] = now
			return false
		}
		return now.Sub(t) > beatsLost*rs.opts.Beat
	}
	var events []protocol.RoomEvent
	for _, e := range r.roster {
		if e.Online && lost(hubOf(e.Conn)) {
			e.Online, e.Seen = false, now.UnixMilli()
			events = append(events, protocol.RoomEvent{Type: protocol.RoomMemberLeft, Member: &protocol.RoomMember{ID: e.ID, Name: e.Name, Instructor: e.Instructor}})
		}
	}
	const gone = "the server running it stopped answering"
	if r.run != nil && !r.runDone && lost(hubOf(r.run.ID)) {
		r.runDone, r.report, r.runErr = true, nil, gone
		events = append(events, protocol.RoomEvent{Type: protocol.RoomLessonDone, RunID: r.run.ID, Error: gone})
	}
	if r.msg != nil && !r.msgDone && lost(hubOf(r.msg.ID)) {
		r.msgDone, r.msgErr = true, gone
		events = append(events, protocol.RoomEvent{Type: protocol.RoomMessageDone, SendID: r.msg.ID, Error: gone})
	}
	var slow []*member
	for _, e := range events {
		slow = append(slow, r.fanoutLocked(e, nil)...)
	}
	r.mu.Unlock()
	for _, m := range slow {
		r.drop(m)
	}
	if alive {
		_ = r.publishBG(wire{Kind: kindBeat})
	}
}

// refuseNameLocked tells m its name went to a member who joined on another instance at the same
// moment, and closes it (1008); m is out of r.local already; r.mu is held.
func (r *room) refuseNameLocked(m *member) {
	m.replaced = true // nobody lists it: no leave to publish
	m.Send(encode(protocol.RoomEvent{Type: protocol.RoomError, Code: protocol.RoomErrNameTaken,
		Error: fmt.Sprintf("%q was taken in this room at the same moment, on another server: choose another name", m.name)}))
	m.Finish(websocket.StatusPolicyViolation, "name taken")
	r.idleLocked()
}

// fanoutLocked queues e for every local member but except and returns those whose queue was
// full; r.mu is held.
func (r *room) fanoutLocked(e protocol.RoomEvent, except *member) (slow []*member) {
	b := encode(e)
	for _, m := range r.local {
		if m != except && m.Send(b) {
			slow = append(slow, m)
		}
	}
	return slow
}

func (r *room) isKnown() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.known && !r.gone
}

func (r *room) publish(ctx context.Context, w wire) error {
	w.Hub = r.rs.id
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return r.rs.b.Publish(ctx, r.subject, b)
}

func (r *room) publishBG(w wire) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.publish(ctx, w)
}

// idleLocked starts the grace period when nothing keeps the room here; r.mu is held.
func (r *room) idleLocked() {
	if r.gone || len(r.local) > 0 || r.localRuns > 0 || r.localSends > 0 {
		return
	}
	if r.expiry == nil {
		r.expiry = time.AfterFunc(r.rs.opts.Grace, r.expire)
	} else {
		r.expiry.Reset(r.rs.opts.Grace)
	}
}

// busyLocked stops the grace period: a member joined or a lesson started; r.mu is held.
func (r *room) busyLocked() {
	if r.expiry != nil {
		r.expiry.Stop()
	}
}

// expire forgets the room once its grace period ended with nothing keeping it.
func (r *room) expire() {
	rs := r.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone || len(r.local) > 0 || r.localRuns > 0 || r.localSends > 0 {
		return
	}
	r.gone = true
	if rs.rooms[r.code] == r {
		delete(rs.rooms, r.code)
	}
	if r.sub != nil {
		r.sub.Unsubscribe()
	}
	rs.log.Info("room expired", "room", r.code)
	if f := rs.opts.OnExpire; f != nil {
		go f(r.code)
	}
}

// purgeLocked forgets the members offline for longer than the grace period; r.mu is held.
func (r *room) purgeLocked(now time.Time) {
	cut := now.Add(-r.rs.opts.Grace).UnixMilli()
	for id, e := range r.roster {
		if !e.Online && e.Seen < cut {
			delete(r.roster, id)
		}
	}
}

// membersLocked lists the members online, by name; r.mu is held.
func (r *room) membersLocked() []protocol.RoomMember {
	out := make([]protocol.RoomMember, 0, len(r.roster))
	for _, e := range r.roster {
		if e.Online {
			out = append(out, e.RoomMember)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := strings.ToLower(out[i].Name), strings.ToLower(out[j].Name)
		if a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// stateLocked is the "room" event for you; r.mu is held.
func (r *room) stateLocked(you protocol.RoomMember) protocol.RoomEvent {
	info := &protocol.RoomInfo{Code: r.code, You: you, Members: r.membersLocked(),
		Events: append([]protocol.Event(nil), r.events...), EventsSkipped: r.skipped, Report: r.report,
		Error: r.runErr, Aggregate: r.aggregateLocked("")}
	if r.run != nil {
		run := *r.run
		run.Done = r.runDone
		info.Run = &run
	}
	if r.msg != nil {
		info.Message, info.MessageEvents, info.MessageSkipped = r.msg, append([]protocol.Event(nil), r.msgEvents...), r.msgSkipped
		info.MessageDone, info.MessageError = r.msgDone, r.msgErr
	}
	return protocol.RoomEvent{Type: protocol.RoomState, Room: info}
}

// snapshotLocked is the room's state for another instance; r.mu is held.
func (r *room) snapshotLocked() *snapshot {
	s := &snapshot{SecretHash: r.secretHash[:], Events: append([]protocol.Event(nil), r.events...),
		Skipped: r.skipped, Report: r.report, Error: r.runErr}
	for _, e := range r.roster {
		s.Roster = append(s.Roster, *e)
	}
	if r.run != nil {
		run := *r.run
		run.Done = r.runDone
		s.Run = &run
	}
	for _, sh := range r.shares {
		s.Shares = append(s.Shares, sh)
	}
	s.Msg, s.MsgEvents, s.MsgSkipped, s.MsgDone, s.MsgErr = r.msg, append([]protocol.Event(nil), r.msgEvents...), r.msgSkipped, r.msgDone, r.msgErr
	return s
}

// aggregateLocked groups the shares of lesson ("" for every lesson) by lesson, transport and
// metric; r.mu is held.
func (r *room) aggregateLocked(lesson string) []protocol.RoomAggregate {
	type key struct{ lesson, transport, name, unit string }
	groups := map[key][]protocol.RoomSharedValue{}
	for k, sh := range r.shares {
		if lesson != "" && k.lesson != lesson {
			continue
		}
		for _, m := range sh.Metrics {
			g := key{sh.Lesson, m.Transport, m.Name, m.Unit}
			groups[g] = append(groups[g], protocol.RoomSharedValue{Member: sh.Member, Name: sh.Name, Value: m.Value})
		}
	}
	out := make([]protocol.RoomAggregate, 0, len(groups))
	for k, vs := range groups {
		sort.Slice(vs, func(i, j int) bool {
			if vs[i].Name != vs[j].Name {
				return vs[i].Name < vs[j].Name
			}
			return vs[i].Member < vs[j].Member
		})
		out = append(out, protocol.RoomAggregate{Lesson: k.lesson, Transport: k.transport, Name: k.name, Unit: k.unit, Values: vs})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Lesson != b.Lesson {
			return a.Lesson < b.Lesson
		}
		if a.Transport != b.Transport {
			return a.Transport < b.Transport
		}
		return a.Name < b.Name
	})
	return out
}

// encode is an event's one JSON object, without HTML escaping.
func encode(e protocol.RoomEvent) []byte {
	e.V = protocol.Version
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(e)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// keepRecent appends e to events, keeping the last RoomMaxRecent; skipped counts those dropped.
func keepRecent(events []protocol.Event, skipped *int, e protocol.Event) []protocol.Event {
	if len(events) >= protocol.RoomMaxRecent {
		n := len(events) - protocol.RoomMaxRecent + 1
		events = append(events[:0:0], events[n:]...)
		*skipped += n
	}
	return append(events, e)
}

// appendEventLocked keeps one of the run's events for the "room" state; r.mu is held.
func (r *room) appendEventLocked(e protocol.Event) {
	if len(r.events) >= protocol.RoomMaxRecent {
		n := len(r.events) - protocol.RoomMaxRecent + 1
		r.events = append(r.events[:0:0], r.events[n:]...)
		r.skipped += n
	}
	r.events = append(r.events, e)
}

// deliver applies one room event from the broker and fans it out to this instance's members.
// The broker calls it from one goroutine, in arrival order.
func (r *room) deliver(msg []byte) {
	var w wire
	if json.Unmarshal(msg, &w) != nil {
		return
	}
	rs := r.rs
	var slow []*member
	var reply *wire
	var stop string
	fanout := func(e protocol.RoomEvent, except *member) {
		b := encode(e)
		for _, m := range r.local {
			if m != except && m.Send(b) {
				slow = append(slow, m)
			}
		}
	}
	r.mu.Lock()
	if r.gone {
		r.mu.Unlock()
		return
	}
	if w.Hub != rs.id {
		r.heard[w.Hub] = time.Now()
	}
	switch w.Kind {
	case kindSync:
		if w.Hub != rs.id && r.known {
			reply = &wire{Kind: kindState, To: w.Hub, State: r.snapshotLocked()}
		}
	case kindState:
		if w.To == rs.id && w.State != nil {
			r.applyStateLocked(w.State)
		}
	case kindJoin:
		if w.Member == nil {
			break
		}
		id := w.Member.ID
		m := r.local[id]
		if m != nil && m.connID != w.Conn && w.Hub == rs.id {
			// An earlier connection's join of this instance, come back after a newer one (join
			// replaced that one here already): it changes nothing.
			break
		}
		// Two instances may let one name in at the same moment, for two members: every instance
		// keeps the one whose connection id is smaller, and the other's instance refuses it.
		var rivalID string
		for oid, e := range r.roster {
			if oid != id && e.Online && strings.EqualFold(e.Name, w.Member.Name) {
				rivalID = oid
				break
			}
		}
		if rivalID != "" {
			rival := r.roster[rivalID]
			if rival.Conn < w.Conn {
				if m != nil && m.connID == w.Conn {
					delete(r.local, id)
					r.refuseNameLocked(m)
				}
				if e := r.roster[id]; e != nil && e.Conn == w.Conn {
					e.Online, e.Seen = false, time.Now().UnixMilli()
				}
				break
			}
			rival.Online, rival.Seen = false, time.Now().UnixMilli()
			fanout(protocol.RoomEvent{Type: protocol.RoomMemberLeft, Member: &rival.RoomMember}, nil)
			if rm := r.local[rivalID]; rm != nil && rm.connID == rival.Conn {
				delete(r.local, rivalID)
				r.refuseNameLocked(rm)
			}
		}
		r.roster[id] = &entry{RoomMember: *w.Member, Conn: w.Conn, Online: true}
		var joiner *member
		if m != nil {
			if m.connID == w.Conn {
				joiner = m // it has the state already
			} else { // the member connected again elsewhere: this connection is replaced
				m.replaced = true
				delete(r.local, id)
				m.Finish(websocket.StatusNormalClosure, "replaced by a newer connection of this member")
			}
		}
		fanout(protocol.RoomEvent{Type: protocol.RoomMemberJoined, Member: w.Member}, joiner)
	case kindLeave:
		if w.Member == nil {
			break
		}
		if e := r.roster[w.Member.ID]; e != nil && e.Conn == w.Conn && e.Online {
			e.Online, e.Seen = false, time.Now().UnixMilli()
			fanout(protocol.RoomEvent{Type: protocol.RoomMemberLeft, Member: &e.RoomMember}, nil)
		}
	case kindStarted:
		if w.Run == nil {
			break
		}
		r.run, r.runDone, r.events, r.skipped, r.report, r.runErr = w.Run, false, nil, 0, nil, ""
		fanout(protocol.RoomEvent{Type: protocol.RoomLessonStarted, Run: w.Run}, nil)
	case kindEvent:
		if w.Event == nil || r.run == nil || r.run.ID != w.RunID || r.runDone {
			break
		}
		r.appendEventLocked(*w.Event)
		fanout(protocol.RoomEvent{Type: protocol.RoomLessonEvent, RunID: w.RunID, Event: w.Event}, nil)
	case kindDone:
		if r.run == nil || r.run.ID != w.RunID || r.runDone {
			break
		}
		r.runDone, r.report, r.runErr = true, w.Report, w.Error
		fanout(protocol.RoomEvent{Type: protocol.RoomLessonDone, RunID: w.RunID, Report: w.Report, Error: w.Error}, nil)
	case kindMsgUp:
		if w.Send == nil {
			break
		}
		r.msg, r.msgEvents, r.msgSkipped, r.msgDone, r.msgErr = w.Send, nil, 0, false, ""
		fanout(protocol.RoomEvent{Type: protocol.RoomMessageStarted, Send: w.Send}, nil)
	case kindMsgEv:
		if w.Event == nil || r.msg == nil || r.msg.ID != w.RunID || r.msgDone {
			break
		}
		r.msgEvents = keepRecent(r.msgEvents, &r.msgSkipped, *w.Event)
		fanout(protocol.RoomEvent{Type: protocol.RoomMessageEvent, SendID: w.RunID, Event: w.Event}, nil)
	case kindMsgDone:
		if r.msg == nil || r.msg.ID != w.RunID || r.msgDone {
			break
		}
		r.msgDone, r.msgErr = true, w.Error
		fanout(protocol.RoomEvent{Type: protocol.RoomMessageDone, SendID: w.RunID, Error: w.Error}, nil)
	case kindStop:
		stop = w.RunID // after r.mu: rs.mu is taken before r.mu (expire)
	case kindShare:
		if w.Share == nil {
			break
		}
		r.shares[shareKey{w.Share.Member, w.Share.Lesson}] = *w.Share
		fanout(protocol.RoomEvent{Type: protocol.RoomShared, Share: w.Share}, nil)
		fanout(protocol.RoomEvent{Type: protocol.RoomAggregateType, Aggregate: r.aggregateLocked(w.Share.Lesson)}, nil)
	}
	r.mu.Unlock()
	if stop != "" {
		rs.mu.Lock()
		cancel := rs.running[stop]
		rs.mu.Unlock()
		if cancel != nil {
			cancel(errStopped)
		}
	}
	if reply != nil {
		if err := r.publishBG(*reply); err != nil {
			// Refused: larger than broker.MaxMessage (16 MiB; natsbroker fragments anything up
			// to that past NATS's max_payload), or nats.go's reconnect buffer (8 MiB) is full
			// while the connection is down. The state without the run's events, far smaller,
			// still lets the other instance in.
			reply.State.Skipped += len(reply.State.Events)
			reply.State.Events = nil
			reply.State.MsgSkipped += len(reply.State.MsgEvents)
			reply.State.MsgEvents = nil
			_ = r.publishBG(*reply)
		}
	}
	for _, m := range slow {
		r.drop(m)
	}
}

// applyStateLocked takes another instance's state: the first one makes the room known here; the
// members and shares of later ones are merged; r.mu is held.
func (r *room) applyStateLocked(s *snapshot) {
	first := !r.known
	if first {
		copy(r.secretHash[:], s.SecretHash)
		r.run, r.runDone = nil, false
		if s.Run != nil {
			run := *s.Run
			r.runDone = run.Done
			run.Done = false
			r.run = &run
		}
		r.events, r.skipped, r.report, r.runErr = s.Events, s.Skipped, s.Report, s.Error
		r.msg, r.msgEvents, r.msgSkipped, r.msgDone, r.msgErr = s.Msg, s.MsgEvents, s.MsgSkipped, s.MsgDone, s.MsgErr
		r.known = true
		select {
		case r.stateCh <- struct{}{}:
		default:
		}
	}
	for _, e := range s.Roster {
		if have := r.roster[e.ID]; have == nil || first && !have.Online && e.Online {
			e := e
			r.roster[e.ID] = &e
		}
	}
	for _, sh := range s.Shares {
		k := shareKey{sh.Member, sh.Lesson}
		if _, ok := r.shares[k]; !ok {
			r.shares[k] = sh
		}
	}
}
