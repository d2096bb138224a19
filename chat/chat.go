// Package chat is the chat room of a workshop room (issue 10): members join with a display name,
// see who is there and the room's last messages, and talk; a moderator (the instructor) can mute
// or remove a member. Handler serves it over WebSocket with the JSON protocol of package protocol
// (ChatRequest, ChatEvent); Hub.Join puts it on another socket (a workshop room's).
//
// A Hub holds the rooms of one wireplay instance. Everything a room does goes through a
// broker.Broker, the hub's own members' messages too: each hub subscribes to a room's subject while
// it has members there and fans what arrives out to them, so hubs of two instances on one NATS
// server share the room, and a hub's members see the same order as everyone else's.
//
// Each member has a bounded queue. A member whose queue is full (it does not read) is dropped,
// as in coder/websocket's chat example: its connection is closed with 1008 and the others lose
// nothing and keep their order. Each member is rate limited (a token bucket, Options.PerSecond and
// Options.Burst) and its messages are size limited; a refusal is told to the member as an "error".
//
// What each hub knows of a room (members, mutes, the last Options.History messages) it learns from
// the room's events on the broker; a hub that opens a room asks the others for their state
// ("sync") and merges what they answer; a member that joins before the answers come gets them
// afterwards, as "joined" and "history" events. Delivery between hubs is at most once (see package
// broker): an event lost between hubs is not sent again. Two members of two hubs may see the
// messages of two senders interleaved differently; each sender's order is the same everywhere.
//
// A member joined with Hub.Join rides another socket (a workshop room's: package rooms) and is a
// participant (its owner) for good: its next connection takes its name back, its mute holds, and
// once removed it cannot join again. Handler's members are their connection only.
//
// Not done yet: a hub that dies without Close leaves its members listed on the other hubs (there
// is no liveness beacon); a hub forgets a room when its last member there leaves (no grace period).
package chat

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/protocol"
)

// Options are a hub's limits; zero fields take the defaults.
type Options struct {
	MaxText   int     // longest message, bytes (500)
	MaxName   int     // longest display name, runes (32)
	PerSecond float64 // messages a member may send per second after its burst (1)
	Burst     int     // messages a member may send at once (5)
	History   int     // messages a late joiner is sent (100)
	// Queue is how many events wait for a member to read them before it is dropped (256).
	Queue int
	// WriteTimeout bounds one write to a member's connection (10 s); past it the connection is
	// closed without a close frame.
	WriteTimeout time.Duration
	// SubjectPrefix starts every room's broker subject ("wireplay.chat").
	SubjectPrefix string
	// Beat is how often a hub tells the others, on each room where it has members, that it is
	// alive (5 s). The members of a hub not heard from for 3 beats (it died without Close, or
	// lost its broker) are taken out of the room (left, reason "lost").
	Beat time.Duration
	// Grace is how long a hub keeps a room none of its members is in any more — its history,
	// mutes and removals, kept up to date from the broker — before it leaves it (10 min, as a
	// workshop room's grace; negative: at once). A page that reloads finds the chat as it was.
	Grace time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxText, 500)
	def(&o.MaxName, 32)
	def(&o.Burst, 5)
	def(&o.History, 100)
	def(&o.Queue, 256)
	if o.PerSecond <= 0 {
		o.PerSecond = 1
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = "wireplay.chat"
	}
	if o.Beat <= 0 {
		o.Beat = 5 * time.Second
	}
	if o.Grace == 0 {
		o.Grace = 10 * time.Minute
	}
	return o
}

// Hub is one instance's part of the chat rooms.
type Hub struct {
	b    broker.Broker
	opts Options
	id   string

	mu     sync.Mutex
	rooms  map[string]*room
	closed bool

	nextMember atomic.Uint64
	dropped    atomic.Uint64 // members dropped for a full queue
	stop       chan struct{} // closed by Close: ends the beats
	beating    sync.WaitGroup
}

// NewHub returns a hub whose rooms go through b. The caller closes b after the hub.
func NewHub(b broker.Broker, opts Options) *Hub {
	var id [4]byte
	_, _ = rand.Read(id[:])
	h := &Hub{b: b, opts: opts.withDefaults(), id: hex.EncodeToString(id[:]), rooms: make(map[string]*room), stop: make(chan struct{})}
	h.beating.Go(h.beats)
	return h
}

// beatsLost is how many beats a hub may miss before the others take it for gone.
const beatsLost = 3

// beats runs room.beat on every room every Options.Beat until Close.
func (h *Hub) beats() {
	t := time.NewTicker(h.opts.Beat)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.mu.Lock()
			rooms := make([]*room, 0, len(h.rooms))
			for _, r := range h.rooms {
				rooms = append(rooms, r)
			}
			h.mu.Unlock()
			for _, r := range rooms {
				r.beat(now)
			}
		}
	}
}

// beat tells the other hubs this one is alive in the room, and takes out of it the members of
// hubs silent for too long (left, reason "lost").
func (r *room) beat(now time.Time) {
	h := r.h
	r.mu.Lock()
	if r.local == nil {
		r.mu.Unlock()
		return
	}
	var slow []*member
	for key, e := range r.roster {
		hub, _, _ := strings.Cut(e.Member, ".")
		if hub == h.id {
			continue
		}
		t, ok := r.heard[hub]
		if !ok {
			r.heard[hub] = now
			continue
		}
		if now.Sub(t) > beatsLost*h.opts.Beat {
			delete(r.roster, key)
			slow = append(slow, r.fanoutLocked(protocol.ChatEvent{Type: protocol.ChatLeft, Name: e.Name, Reason: protocol.ChatLeftLost}, "")...)
		}
	}
	alive := len(r.local) > 0
	r.mu.Unlock()
	if len(slow) > 0 {
		r.dropMembers(slow)
	}
	if alive {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.publish(ctx, wire{Kind: kindBeat})
		cancel()
	}
}

// fanoutLocked queues e for every local member but the one of id except and returns those
// whose queue was full; r.mu is held.
func (r *room) fanoutLocked(e protocol.ChatEvent, except string) (slow []*member) {
	b := encode(e)
	var wrapped []byte // for the members on a room's socket, once
	for id, m := range r.local {
		if id == except {
			continue
		}
		msg := b
		if m.inRoom {
			if wrapped == nil {
				wrapped = protocol.ChatInRoom(b)
			}
			msg = wrapped
		}
		if m.out.Send(msg) {
			slow = append(slow, m)
		}
	}
	return slow
}

// Dropped counts the members this hub dropped because their queue was full.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Close closes every member's connection (1001, going away), tells the other hubs they left,
// and leaves the rooms. It does not close the broker.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		close(h.stop)
	}
	h.closed = true
	rooms := h.rooms
	h.rooms = make(map[string]*room)
	for _, r := range rooms {
		if r.expiry != nil {
			r.expiry.Stop()
		}
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, r := range rooms {
		r.sub.Unsubscribe()
		r.mu.Lock()
		local := r.local
		r.local = nil
		for _, m := range local {
			m.out.Finish(websocket.StatusGoingAway, "server going away")
		}
		r.mu.Unlock()
		for _, m := range local {
			_ = r.publish(ctx, wire{Kind: kindLeave, Member: m.id, Name: m.name, Reason: protocol.ChatLeftLeft})
		}
	}
	h.beating.Wait()
}

var roomName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidRoom reports whether name can name a room: 1..64 of A-Z, a-z, 0-9, _ and -.
func ValidRoom(name string) bool { return roomName.MatchString(name) }

// SanitizeName returns the display name as the room shows it: trimmed, runs of white space made
// one space, control and format characters (bidi overrides among them) removed. ok is false
// when the result is empty or longer than max runes.
func SanitizeName(name string, max int) (clean string, ok bool) {
	var b strings.Builder
	space := false
	for _, r := range name {
		switch {
		case r == utf8.RuneError:
			continue
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	clean = b.String()
	n := utf8.RuneCountInString(clean)
	return clean, n > 0 && n <= max
}

func nameKey(name string) string { return strings.ToLower(name) }

// cleanText removes control characters but newline and tab, and surrounding white space.
func cleanText(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return -1
		}
		return r
	}, s))
}

// wire is a room event on the broker.
type wire struct {
	Kind      string               `json:"k"`
	Hub       string               `json:"hub"`
	Member    string               `json:"member,omitempty"` // the member's id
	ID        string               `json:"id,omitempty"`     // a message's id
	Name      string               `json:"name,omitempty"`
	By        string               `json:"by,omitempty"`
	Reason    string               `json:"reason,omitempty"`
	Text      string               `json:"text,omitempty"`
	At        int64                `json:"at,omitempty"`
	Moderator bool                 `json:"mod,omitempty"`
	Owner     string               `json:"owner,omitempty"`        // join: the participant it is (Hub.Join)
	Muted     bool                 `json:"muted,omitempty"`        // join: the participant's mute holds
	Removed   []string             `json:"removed,omitempty"`      // state: the participants removed
	MutedOwn  []string             `json:"muted_owners,omitempty"` // state: the participants muted
	To        string               `json:"to,omitempty"`           // state: the hub that asked
	Members   []entry              `json:"members,omitempty"`
	History   []protocol.ChatEvent `json:"history,omitempty"`
}

const (
	kindJoin   = "join"
	kindLeave  = "leave"
	kindSay    = "say"
	kindMute   = "mute"
	kindUnmute = "unmute"
	kindRemove = "remove"
	kindSync   = "sync"
	kindState  = "state"
	kindBeat   = "beat" // its hub is alive and has members in the room
)

// entry is one member of a room, on any hub.
type entry struct {
	Name   string `json:"name"`
	Member string `json:"member"`
	// Owner is the participant the member is (a room's member, Hub.Join): its next connection
	// takes the name back, muted if it was.
	Owner     string `json:"owner,omitempty"`
	Moderator bool   `json:"mod,omitempty"`
	Muted     bool   `json:"muted,omitempty"`
}

type room struct {
	h       *Hub
	name    string
	subject string
	sub     broker.Subscription

	mu      sync.Mutex
	roster  map[string]*entry    // nameKey → entry, the whole room's
	local   map[string]*member   // member id → this hub's members
	removed map[string]bool      // owners the moderator removed: they cannot join again
	muted   map[string]bool      // owners the moderator muted: they join again muted
	heard   map[string]time.Time // when each other hub was last heard from in the room
	expiry  *time.Timer          // h.mu: leaves the room at the end of its grace period
	history []protocol.ChatEvent
	seq     uint64
}

// encode is an event's one JSON object, without HTML escaping (a text of 500 "<" stays 500 bytes).
func encode(e protocol.ChatEvent) []byte {
	e.V = protocol.Version
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(e)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// room returns the named room, opening it (subscribing, asking the other hubs for their state);
// h.mu is held, so the room cannot be left between its opening and a join.
func (h *Hub) room(ctx context.Context, name string) (*room, error) {
	if h.closed {
		return nil, errors.New("chat hub closed")
	}
	if r := h.rooms[name]; r != nil {
		if r.expiry != nil {
			r.expiry.Stop()
			r.expiry = nil
		}
		return r, nil
	}
	r := &room{h: h, name: name, subject: h.opts.SubjectPrefix + "." + name,
		roster: make(map[string]*entry), local: make(map[string]*member), removed: make(map[string]bool), muted: make(map[string]bool), heard: make(map[string]time.Time)}
	sub, err := h.b.Subscribe(ctx, r.subject, r.deliver)
	if err != nil {
		return nil, fmt.Errorf("open room %s: %w", name, err)
	}
	r.sub = sub
	h.rooms[name] = r
	r.publish(ctx, wire{Kind: kindSync})
	return r, nil
}

// closeIfEmpty leaves the room, at the end of its grace period, when this hub has no member
// left in it.
func (h *Hub) closeIfEmpty(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.mu.Lock()
	empty := len(r.local) == 0
	r.mu.Unlock()
	if !empty || h.rooms[r.name] != r {
		return
	}
	if h.opts.Grace < 0 {
		delete(h.rooms, r.name)
		r.sub.Unsubscribe()
		return
	}
	if r.expiry == nil {
		r.expiry = time.AfterFunc(h.opts.Grace, func() { h.expire(r) })
	}
}

// expire leaves the room if it is still empty at the end of its grace period.
func (h *Hub) expire(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.mu.Lock()
	empty := len(r.local) == 0
	r.mu.Unlock()
	if empty && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
		r.sub.Unsubscribe()
		r.expiry = nil
	}
}

func (r *room) publish(ctx context.Context, w wire) error {
	w.Hub = r.h.id
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return r.h.b.Publish(ctx, r.subject, b)
}

// errJoin is a refused join, told to the client.
type errJoin struct{ code, msg string }

func (e *errJoin) Error() string { return e.msg }

// join adds a member to the room; the welcome is the first thing in its queue.
func (h *Hub) join(ctx context.Context, roomName, name string, moderator bool, attach func(*member)) (*member, error) {
	clean, ok := SanitizeName(name, h.opts.MaxName)
	if !ok {
		return nil, &errJoin{protocol.ChatErrBadName, fmt.Sprintf("a name is 1 to %d characters", h.opts.MaxName)}
	}
	h.mu.Lock()
	r, err := h.room(ctx, roomName)
	if err != nil {
		h.mu.Unlock()
		return nil, err
	}
	m := &member{r: r, id: h.id + "." + strconv.FormatUint(h.nextMember.Add(1), 10), name: clean,
		moderator: moderator, limiter: rate.NewLimiter(rate.Limit(h.opts.PerSecond), h.opts.Burst)}
	attach(m)
	r.mu.Lock()
	e := &entry{Name: clean, Member: m.id, Moderator: moderator, Owner: m.owner, Muted: m.owner != "" && r.muted[m.owner]}
	var old *member // the participant's last connection, still here
	if m.owner != "" && r.removed[m.owner] {
		r.mu.Unlock()
		h.mu.Unlock()
		h.closeIfEmpty(r)
		return nil, &errJoin{protocol.ChatErrRemoved, "the moderator removed you from this chat"}
	}
	if taken := r.roster[nameKey(clean)]; taken != nil {
		if m.owner == "" || taken.Owner != m.owner {
			r.mu.Unlock()
			h.mu.Unlock()
			h.closeIfEmpty(r)
			return nil, &errJoin{protocol.ChatErrNameTaken, fmt.Sprintf("%q is taken in this room", clean)}
		}
		e.Muted = e.Muted || taken.Muted
		if o := r.local[taken.Member]; o != nil {
			old = o
			delete(r.local, o.id)
		}
	}
	r.roster[nameKey(clean)] = e
	r.local[m.id] = m
	m.send(encode(protocol.ChatEvent{Type: protocol.ChatWelcome, Name: clean, Members: r.members(),
		History: append([]protocol.ChatEvent(nil), r.history...), Limits: &protocol.ChatLimits{
			MaxText: h.opts.MaxText, MaxName: h.opts.MaxName, PerSecond: h.opts.PerSecond,
			Burst: h.opts.Burst, History: h.opts.History}}))
	r.mu.Unlock()
	h.mu.Unlock()
	if old != nil {
		old.out.Finish(websocket.StatusNormalClosure, "replaced by a newer connection of this member")
	}
	if err := r.publish(ctx, wire{Kind: kindJoin, Member: m.id, Name: clean, Moderator: moderator, Owner: m.owner, Muted: e.Muted}); err != nil {
		h.leave(m, protocol.ChatLeftLeft, true)
		return nil, fmt.Errorf("join room %s: %w", roomName, err)
	}
	return m, nil
}

// members lists the roster sorted by name; r.mu is held.
func (r *room) members() []protocol.ChatMember {
	out := make([]protocol.ChatMember, 0, len(r.roster))
	for _, e := range r.roster {
		out = append(out, protocol.ChatMember{Name: e.Name, Moderator: e.Moderator, Muted: e.Muted})
	}
	sort.Slice(out, func(i, j int) bool { return nameKey(out[i].Name) < nameKey(out[j].Name) })
	return out
}

// leave takes m out of the room (it closed, or its hub refused it) and tells the others; finish
// closes its sink once what is queued is written.
func (h *Hub) leave(m *member, reason string, finish bool) {
	r := m.r
	r.mu.Lock()
	_, here := r.local[m.id]
	if here {
		// The roster keeps m until its leave comes back from the broker, which tells this hub's
		// members as it tells every other hub's.
		delete(r.local, m.id)
		if finish {
			m.out.Finish(websocket.StatusNormalClosure, "")
		}
	}
	r.mu.Unlock()
	if here {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.publish(ctx, wire{Kind: kindLeave, Member: m.id, Name: m.name, Reason: reason})
		cancel()
	}
	h.closeIfEmpty(r)
}

// tell queues a direct event for m alone.
func (m *member) tell(e protocol.ChatEvent) {
	m.r.mu.Lock()
	dropped := m.send(encode(e))
	m.r.mu.Unlock()
	if dropped {
		m.r.dropMembers([]*member{m})
	}
}

func (m *member) refuse(code, msg string) {
	m.tell(protocol.ChatEvent{Type: protocol.ChatError, Code: code, Error: msg})
}

// handle acts on one request of a joined member.
func (m *member) handle(ctx context.Context, req protocol.ChatRequest) {
	r, h := m.r, m.r.h
	r.mu.Lock()
	in := r.local[m.id] == m
	r.mu.Unlock()
	if !in {
		m.refuse(protocol.ChatErrNotJoined, "you are no longer in this chat (removed by the moderator, or joined on a newer connection)")
		return
	}
	switch req.Type {
	case protocol.ChatSay:
		r.mu.Lock()
		e := r.roster[nameKey(m.name)]
		muted := e != nil && e.Member == m.id && e.Muted
		r.mu.Unlock()
		text := cleanText(req.Text)
		switch {
		case muted:
			m.refuse(protocol.ChatErrMuted, "the moderator has muted you")
		case len(req.Text) > h.opts.MaxText:
			m.refuse(protocol.ChatErrTooLong, fmt.Sprintf("a message is at most %d bytes (this one is %d)", h.opts.MaxText, len(req.Text)))
		case text == "":
			m.refuse(protocol.ChatErrBadRequest, "empty message")
		case !m.limiter.Allow():
			m.refuse(protocol.ChatErrRateLimited, fmt.Sprintf("slow down: %d messages at once, then %g a second", h.opts.Burst, h.opts.PerSecond))
		default:
			r.mu.Lock()
			r.seq++
			id := m.id + "." + strconv.FormatUint(r.seq, 10)
			r.mu.Unlock()
			if err := r.publish(ctx, wire{Kind: kindSay, Member: m.id, ID: id, Name: m.name, Text: text,
				At: time.Now().UnixMilli()}); err != nil {
				m.refuse(protocol.ChatErrBadRequest, fmt.Sprintf("not sent: %v", err))
			}
		}
	case protocol.ChatMute, protocol.ChatUnmute, protocol.ChatRemove:
		if !m.moderator {
			m.refuse(protocol.ChatErrForbidden, "only the moderator can "+req.Type)
			return
		}
		r.mu.Lock()
		e := r.roster[nameKey(strings.TrimSpace(req.Name))]
		var target entry
		if e != nil {
			target = *e
		}
		r.mu.Unlock()
		if e == nil {
			m.refuse(protocol.ChatErrNoSuchMember, fmt.Sprintf("no member %q", req.Name))
			return
		}
		if target.Member == m.id {
			m.refuse(protocol.ChatErrBadRequest, "a moderator cannot "+req.Type+" themself")
			return
		}
		kind := map[string]string{protocol.ChatMute: kindMute, protocol.ChatUnmute: kindUnmute, protocol.ChatRemove: kindRemove}[req.Type]
		if err := r.publish(ctx, wire{Kind: kind, Member: target.Member, Name: target.Name, By: m.name}); err != nil {
			m.refuse(protocol.ChatErrBadRequest, fmt.Sprintf("not done: %v", err))
		}
	case protocol.ChatJoin:
		m.refuse(protocol.ChatErrJoined, "already joined as "+m.name)
	default:
		m.refuse(protocol.ChatErrBadRequest, fmt.Sprintf("unknown request type %q", req.Type))
	}
}

// deliver applies one room event from the broker and fans it out to this hub's members. The
// broker calls it from one goroutine, so events are applied in the order they arrive.
func (r *room) deliver(msg []byte) {
	var w wire
	if json.Unmarshal(msg, &w) != nil {
		return
	}
	h := r.h
	var slow []*member
	var reply *wire
	fanout := func(e protocol.ChatEvent, except string) {
		slow = append(slow, r.fanoutLocked(e, except)...)
	}
	r.mu.Lock()
	if r.local == nil {
		r.mu.Unlock()
		return
	}
	if w.Hub != h.id {
		r.heard[w.Hub] = time.Now()
	}
	key := nameKey(w.Name)
	switch w.Kind {
	case kindSay:
		ev := protocol.ChatEvent{Type: protocol.ChatMessage, ID: w.ID, From: w.Name, Text: w.Text, AtMillis: w.At}
		r.history = append(r.history, ev)
		if n := len(r.history) - h.opts.History; n > 0 {
			r.history = append(r.history[:0:0], r.history[n:]...)
		}
		fanout(ev, "")
	case kindJoin:
		e := r.roster[key]
		switch {
		case e == nil:
			r.roster[key] = &entry{Name: w.Name, Member: w.Member, Moderator: w.Moderator, Owner: w.Owner, Muted: w.Muted}
			fanout(protocol.ChatEvent{Type: protocol.ChatJoined, Name: w.Name}, w.Member)
		case e.Member == w.Member:
			fanout(protocol.ChatEvent{Type: protocol.ChatJoined, Name: w.Name}, w.Member)
		case w.Owner != "" && e.Owner == w.Owner:
			// The same participant on a newer connection (another hub's, or this one's whose
			// join came back after the newer one's: hubs publish in order, so the later is newer
			// unless two hubs raced). Its name and mute stay.
			if m := r.local[e.Member]; m != nil && w.Hub != h.id {
				delete(r.local, e.Member)
				m.out.Finish(websocket.StatusNormalClosure, "replaced by a newer connection of this member")
			}
			if w.Hub != h.id || r.local[w.Member] != nil {
				r.roster[key] = &entry{Name: w.Name, Member: w.Member, Moderator: w.Moderator, Owner: w.Owner, Muted: e.Muted || w.Muted}
			}
		case w.Member < e.Member:
			// Two hubs let one name in at the same moment: every hub keeps the smaller member id,
			// and the hub of the other refuses its member.
			loser := e.Member
			r.roster[key] = &entry{Name: w.Name, Member: w.Member, Moderator: w.Moderator}
			if m := r.local[loser]; m != nil {
				r.refuseLateName(m)
			}
		default:
			if m := r.local[w.Member]; m != nil {
				r.refuseLateName(m)
			}
		}
	case kindLeave:
		if e := r.roster[key]; e != nil && e.Member == w.Member {
			delete(r.roster, key)
			fanout(protocol.ChatEvent{Type: protocol.ChatLeft, Name: w.Name, Reason: w.Reason}, w.Member)
		}
	case kindMute, kindUnmute:
		if e := r.roster[key]; e != nil && e.Member == w.Member {
			e.Muted = w.Kind == kindMute
			if e.Owner != "" {
				r.muted[e.Owner] = e.Muted
			}
			t := protocol.ChatMuted
			if w.Kind == kindUnmute {
				t = protocol.ChatUnmuted
			}
			fanout(protocol.ChatEvent{Type: t, Name: w.Name, By: w.By}, "")
		}
	case kindRemove:
		if e := r.roster[key]; e != nil && e.Member == w.Member {
			delete(r.roster, key)
			if e.Owner != "" {
				r.removed[e.Owner] = true
			}
			fanout(protocol.ChatEvent{Type: protocol.ChatLeft, Name: w.Name, Reason: protocol.ChatLeftRemoved, By: w.By}, "")
			if m := r.local[w.Member]; m != nil {
				delete(r.local, w.Member)
				if !m.inRoom { // a room's member stays in the room, out of its chat
					m.out.Finish(websocket.StatusPolicyViolation, "removed by the moderator")
				}
			}
		}
	case kindSync:
		if w.Hub != h.id && len(r.local) > 0 {
			st := wire{Kind: kindState, To: w.Hub, History: append([]protocol.ChatEvent(nil), r.history...)}
			for o := range r.removed {
				st.Removed = append(st.Removed, o)
			}
			for o, on := range r.muted {
				if on {
					st.MutedOwn = append(st.MutedOwn, o)
				}
			}
			for _, m := range r.local {
				if e := r.roster[nameKey(m.name)]; e != nil && e.Member == m.id {
					st.Members = append(st.Members, *e)
				}
			}
			reply = &st
		}
	case kindState:
		if w.To == h.id {
			for _, o := range w.Removed {
				r.removed[o] = true
			}
			for _, o := range w.MutedOwn {
				r.muted[o] = true
			}
			for _, e := range w.Members {
				if r.roster[nameKey(e.Name)] == nil {
					e := e
					r.roster[nameKey(e.Name)] = &e
					fanout(protocol.ChatEvent{Type: protocol.ChatJoined, Name: e.Name}, "")
				}
			}
			if merged, changed := mergeHistory(w.History, r.history, h.opts.History); changed {
				r.history = merged
				fanout(protocol.ChatEvent{Type: protocol.ChatHistory, History: merged}, "")
			}
		}
	}
	emptied := len(r.local) == 0
	r.mu.Unlock()
	if reply != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.publish(ctx, *reply)
		cancel()
	}
	if len(slow) > 0 {
		r.dropMembers(slow)
		emptied = true // perhaps: closeIfEmpty looks
	}
	if emptied {
		h.closeIfEmpty(r)
	}
}

// refuseLateName tells m its name went to another member who joined on another hub at the same
// moment, and ends it; r.mu is held.
func (r *room) refuseLateName(m *member) {
	delete(r.local, m.id)
	m.send(encode(protocol.ChatEvent{Type: protocol.ChatError, Code: protocol.ChatErrNameTaken,
		Error: fmt.Sprintf("%q was taken in this room at the same moment", m.name)}))
	if !m.inRoom { // a room's member stays in the room; its page joins the chat again
		m.out.Finish(websocket.StatusPolicyViolation, "name taken")
	}
}

// mergeHistory puts the messages of theirs that ours lacks before ours, keeping the last n.
func mergeHistory(theirs, ours []protocol.ChatEvent, n int) ([]protocol.ChatEvent, bool) {
	have := make(map[string]bool, len(ours))
	for _, e := range ours {
		have[e.ID] = true
	}
	var merged []protocol.ChatEvent
	for _, e := range theirs {
		if !have[e.ID] {
			merged = append(merged, e)
		}
	}
	if len(merged) == 0 {
		return ours, false
	}
	merged = append(merged, ours...)
	if len(merged) > n {
		merged = merged[len(merged)-n:]
	}
	return merged, true
}

// dropMembers takes members whose queue was full out of the room and tells the others.
func (r *room) dropMembers(ms []*member) {
	r.mu.Lock()
	var gone []*member
	for _, m := range ms {
		if _, here := r.local[m.id]; here {
			delete(r.local, m.id)
			gone = append(gone, m)
		}
	}
	r.mu.Unlock()
	for _, m := range gone {
		if !m.inRoom { // a room's socket: its room counts the drop
			r.h.dropped.Add(1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.publish(ctx, wire{Kind: kindLeave, Member: m.id, Name: m.name, Reason: protocol.ChatLeftDropped})
		cancel()
	}
}
