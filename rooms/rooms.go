// Package rooms serves wireplay's workshop rooms (issue 10) with the protocol documented at
// protocol.RoomJoin: an instructor creates a room (POST /api/rooms, with the server's instructor
// token), participants join it by its code with a display name, the instructor runs a lesson
// once on the server and every member watches its events live (or sends one message across an
// emulated link, Options.Sender, whose link-mode events every member gets), and participants
// share the metrics of their own runs, which the room aggregates.
//
// Rooms holds one instance's rooms. Everything a room does goes through a broker.Broker (subject
// SubjectPrefix.CODE), this instance's own members' joins and the instructor's run's events too:
// each instance that has members in a room keeps its own copy of the room's state, built from the
// room's events on the broker, and fans them out to its members. So two `wireplay serve`
// instances on one NATS server share their rooms: an instance asked for a code it does not know
// asks the others ("sync") and takes the state one of them answers with (Options.Shared).
//
// A room lives while one of its members is connected to this instance, or a lesson or message it
// started runs here, and for Options.Grace after that. A member is the id its page made up and keeps
// (protocol.RoomMember…): when it reconnects within the grace period it resumes, with its name;
// its older connection, if any, is closed. Each member has a bounded queue (Options.Queue
// events); a member whose queue is full is closed with 1008 and the others lose nothing. The room
// sockets of one client address (with its chat sockets, Capped) are capped (transports.ConnLimit,
// Options.MaxPerIP).
//
// Delivery between instances is at most once (package broker): an event lost between instances
// is not sent again; a page that reconnects gets the room's whole state anew. Not done: a name
// taken on two instances at the same moment is not refused on either; an instance that dies
// without Close leaves its members listed on the others until they reconnect.
package rooms

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// Runner starts a lesson for a room: it checks req and takes one of the server's lesson slots,
// or says why not (an error wrapping ErrBusy when no slot is free); run then runs the lesson,
// passing its live events to progress (from one goroutine at a time), and gives the slot back.
// Rooms always calls run once Runner succeeded.
type Runner func(req protocol.ScenarioRequest) (run func(ctx context.Context, progress func(protocol.Event)) (*protocol.ScenarioReport, error), err error)

// Sender starts the instructor's message for a room: it checks the message and its link and
// takes an emulated link, or says why not (an error wrapping ErrBusy when the server has no link
// to spare); send then sends the message over every transport across the link, passing the
// events to emit (from one goroutine at a time), and gives the link back. Rooms always calls send
// once Sender succeeded.
type Sender func(msg protocol.RoomSendData) (send func(ctx context.Context, emit func(protocol.Event)) error, err error)

// ErrBusy is wrapped by a Runner's error when every lesson slot is taken.
var ErrBusy = errors.New("busy")

// Options configure Rooms; zero fields take the defaults.
type Options struct {
	// Token is the instructor token that POST /api/rooms must carry; "" turns rooms off (404).
	Token string
	// Grace is how long a room outlives its last member (10 min); a member's name stays its own
	// as long after it went.
	Grace time.Duration
	// Shared says other instances share the broker: a code this instance does not know is asked
	// for there, waiting up to SyncWait (2 s) for an answer.
	Shared   bool
	SyncWait time.Duration
	// Runner runs the instructor's lessons; nil: "run" is refused.
	Runner Runner
	// Sender sends the instructor's messages across an emulated link; nil: "send" is refused.
	Sender Sender
	// Chat is the hub whose room named by the room's code is the room's chat on its socket
	// (protocol.RoomChat); nil: "chat" is refused.
	Chat *chat.Hub
	// MaxName is the longest display name in runes (32, as chat's).
	MaxName int
	// MaxMembers caps the members of one room (2,000); MaxRooms the rooms of this instance
	// (1,000).
	MaxMembers, MaxRooms int
	// MaxPerIP caps one client address's room sockets (64), MaxConns all of them (4,096).
	MaxPerIP, MaxConns int
	// Queue is how many events wait for a member to read them before it is closed (1,024).
	Queue int
	// WriteTimeout bounds one write to a member (10 s).
	WriteTimeout time.Duration
	// SharesPerSecond and ShareBurst rate-limit a member's shares (1, 5).
	SharesPerSecond float64
	ShareBurst      int
	// SubjectPrefix starts every room's broker subject ("wireplay.room").
	SubjectPrefix string
	// AcceptOptions are passed to websocket.Accept (nil: same origin only).
	AcceptOptions *websocket.AcceptOptions
	// Logger receives the rooms' log (slog.Default()).
	Logger *slog.Logger
	// OnExpire, when set, is called with the code of each room this instance forgets at the
	// end of its grace period.
	OnExpire func(code string)
	// Beat is how often an instance tells the others, on each room where it has members (or a
	// run, a message), that it is alive (5 s). One not heard from for 3 beats (it died without
	// Close, or lost its broker) has its members taken offline and its run and message ended.
	Beat time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxName, 32)
	def(&o.MaxMembers, 2000)
	def(&o.MaxRooms, 1000)
	def(&o.MaxPerIP, 64)
	def(&o.MaxConns, 4096)
	def(&o.Queue, 1024)
	def(&o.ShareBurst, 5)
	if o.Grace <= 0 {
		o.Grace = 10 * time.Minute
	}
	if o.SyncWait <= 0 {
		o.SyncWait = 2 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.SharesPerSecond <= 0 {
		o.SharesPerSecond = 1
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = "wireplay.room"
	}
	if o.Beat <= 0 {
		o.Beat = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Rooms is one instance's part of the workshop rooms.
type Rooms struct {
	b     broker.Broker
	opts  Options
	id    string
	limit *transports.ConnLimit
	log   *slog.Logger

	ctx    context.Context // cancelled by Close: ends the lessons running here
	cancel context.CancelFunc
	work   sync.WaitGroup

	mu      sync.Mutex
	rooms   map[string]*room
	running map[string]context.CancelCauseFunc // run id → its cancel, for the runs on this instance
	closed  bool

	seq     atomic.Uint64
	dropped atomic.Uint64 // members closed for a full queue
}

// Dropped counts the members this instance closed because their queue was full.
func (rs *Rooms) Dropped() uint64 { return rs.dropped.Load() }

// New returns the rooms of one instance, going through b. The caller closes b after Close.
func New(b broker.Broker, opts Options) *Rooms {
	var id [4]byte
	_, _ = rand.Read(id[:])
	opts = opts.withDefaults()
	rs := &Rooms{b: b, opts: opts, id: hex.EncodeToString(id[:]), limit: transports.NewConnLimit(opts.MaxPerIP, opts.MaxConns),
		log: opts.Logger, rooms: map[string]*room{}, running: map[string]context.CancelCauseFunc{}}
	rs.ctx, rs.cancel = context.WithCancel(context.Background())
	rs.work.Go(rs.beats)
	return rs
}

// beats runs room.beat on every room every Options.Beat until Close.
func (rs *Rooms) beats() {
	t := time.NewTicker(rs.opts.Beat)
	defer t.Stop()
	for {
		select {
		case <-rs.ctx.Done():
			return
		case now := <-t.C:
			rs.mu.Lock()
			rooms := make([]*room, 0, len(rs.rooms))
			for _, r := range rs.rooms {
				rooms = append(rooms, r)
			}
			rs.mu.Unlock()
			for _, r := range rooms {
				r.beat(now)
			}
		}
	}
}

// Enabled reports whether rooms can be created (an instructor token is set).
func (rs *Rooms) Enabled() bool { return rs.opts.Token != "" }

// Open counts the room sockets open on this instance.
func (rs *Rooms) Open() int { return rs.limit.Open() }

func (rs *Rooms) next() string { return rs.id + "." + strconv.FormatUint(rs.seq.Add(1), 10) }

// Close closes every member's connection (1001), stops the lessons running here and leaves the
// rooms. It does not close the broker.
func (rs *Rooms) Close() {
	rs.mu.Lock()
	rs.closed = true
	rooms := rs.rooms
	rs.rooms = map[string]*room{}
	rs.mu.Unlock()
	rs.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, r := range rooms {
		r.mu.Lock()
		local := r.local
		r.local = map[string]*member{}
		r.gone = true
		if r.expiry != nil {
			r.expiry.Stop()
		}
		r.mu.Unlock()
		for _, m := range local {
			m.Finish(websocket.StatusGoingAway, "server going away")
			_ = r.publish(ctx, wire{Kind: kindLeave, Member: &protocol.RoomMember{ID: m.pub, Name: m.name}, Conn: m.connID})
		}
	}
	rs.work.Wait() // the runs publish their lesson_done
	for _, r := range rooms {
		if r.sub != nil {
			r.sub.Unsubscribe()
		}
	}
}

// ErrTooMany is Create's error when this instance holds Options.MaxRooms rooms.
var ErrTooMany = errors.New("too many rooms on this server")

// Create makes a new room, which lives for Options.Grace unless someone joins it.
func (rs *Rooms) Create(ctx context.Context) (protocol.RoomCreated, error) {
	var out protocol.RoomCreated
	var sec [16]byte
	_, _ = rand.Read(sec[:])
	secret := base64.RawURLEncoding.EncodeToString(sec[:])
	rs.mu.Lock()
	if rs.closed {
		rs.mu.Unlock()
		return out, errors.New("create room: server closing")
	}
	if len(rs.rooms) >= rs.opts.MaxRooms {
		rs.mu.Unlock()
		return out, fmt.Errorf("create room: %w (%d)", ErrTooMany, rs.opts.MaxRooms)
	}
	code := newCode()
	for rs.rooms[code] != nil {
		code = newCode()
	}
	r := rs.newRoom(code)
	r.secretHash = sha256.Sum256([]byte(secret))
	r.known = true
	close(r.done)
	rs.rooms[code] = r
	rs.mu.Unlock()
	sub, err := rs.b.Subscribe(ctx, r.subject, r.deliver)
	if err != nil {
		rs.mu.Lock()
		delete(rs.rooms, code)
		rs.mu.Unlock()
		return out, fmt.Errorf("create room: %w", err)
	}
	r.mu.Lock()
	r.sub = sub
	r.idleLocked()
	r.mu.Unlock()
	rs.log.Info("room created", "room", code)
	return protocol.RoomCreated{Code: code, Secret: secret, URL: "/r/" + code, InstructorURL: "/r/" + code + "#instructor=" + secret}, nil
}

// newCode draws a room code from protocol.RoomCodeAlphabet with crypto/rand.
func newCode() string {
	var b [protocol.RoomCodeLen]byte
	alpha := protocol.RoomCodeAlphabet
	limit := byte(256 - 256%len(alpha)) // no modulo bias
	for i := 0; i < len(b); {
		var x [1]byte
		_, _ = rand.Read(x[:])
		if x[0] < limit {
			b[i] = alpha[int(x[0])%len(alpha)]
			i++
		}
	}
	return string(b[:])
}

// publicID is how a member is listed: derived from its id (which resumes it), never the id.
func publicID(code, member string) string {
	sum := sha256.Sum256([]byte(code + "\x00" + member))
	return hex.EncodeToString(sum[:8])
}

// Exists reports whether code names a live room, on this instance or (Shared) another.
func (rs *Rooms) Exists(ctx context.Context, code string) bool {
	r, err := rs.lookup(ctx, code)
	return err == nil && r != nil
}

// lookup returns the room of code, asking the other instances for it when this one does not
// know it (Options.Shared); nil when nobody does.
func (rs *Rooms) lookup(ctx context.Context, code string) (*room, error) {
	if !protocol.ValidRoomCode(code) {
		return nil, nil
	}
	rs.mu.Lock()
	if rs.closed {
		rs.mu.Unlock()
		return nil, errors.New("rooms closed")
	}
	if r := rs.rooms[code]; r != nil {
		rs.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !r.isKnown() {
			return nil, nil
		}
		return r, nil
	}
	if !rs.opts.Shared || len(rs.rooms) >= rs.opts.MaxRooms {
		rs.mu.Unlock()
		return nil, nil
	}
	r := rs.newRoom(code)
	rs.rooms[code] = r
	rs.mu.Unlock()
	forget := func() {
		rs.mu.Lock()
		if rs.rooms[code] == r {
			delete(rs.rooms, code)
		}
		rs.mu.Unlock()
		r.mu.Lock()
		r.gone = true
		r.mu.Unlock()
		close(r.done)
	}
	sub, err := rs.b.Subscribe(ctx, r.subject, r.deliver)
	if err != nil {
		forget()
		return nil, fmt.Errorf("look up room: %w", err)
	}
	r.mu.Lock()
	r.sub = sub
	r.mu.Unlock()
	if err := r.publish(ctx, wire{Kind: kindSync}); err != nil {
		sub.Unsubscribe()
		forget()
		return nil, fmt.Errorf("look up room: %w", err)
	}
	t := time.NewTimer(rs.opts.SyncWait)
	defer t.Stop()
	select {
	case <-r.stateCh:
	case <-t.C:
	case <-ctx.Done():
	}
	r.mu.Lock()
	known := r.known
	if !known {
		r.gone = true
	} else {
		r.idleLocked()
	}
	r.mu.Unlock()
	if !known {
		sub.Unsubscribe()
		rs.mu.Lock()
		if rs.rooms[code] == r {
			delete(rs.rooms, code)
		}
		rs.mu.Unlock()
		close(r.done)
		return nil, ctx.Err()
	}
	close(r.done)
	return r, nil
}

// checkSecret reports whether secret is r's instructor secret.
func (r *room) checkSecret(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	r.mu.Lock()
	want := r.secretHash
	r.mu.Unlock()
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// ChatRoom is chat.Handler's Room for /r/{code}/chat: the room's code names the chat room, and
// the member (?member=) is moderator when it is in the room as instructor. Unknown rooms are
// refused.
func (rs *Rooms) ChatRoom(req *http.Request) (string, bool, error) {
	code := req.PathValue("code")
	r, err := rs.lookup(req.Context(), code)
	if err != nil || r == nil {
		return "", false, fmt.Errorf("no room %q here (it may have expired)", code)
	}
	member := req.URL.Query().Get("member")
	if member == "" {
		return code, false, nil
	}
	pub := publicID(code, member)
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.roster[pub]
	return code, e != nil && e.Online && e.Instructor, nil
}
