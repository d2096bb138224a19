// Package loadtest is `wireplay loadtest` (issue 10, "Load, measured"): it loads a running
// wireplay server's workshop rooms with simulated participants and measures what the issue's
// goals are about.
//
// Every participant is one real WebSocket connection on loopback, as a page is: the room's
// /r/CODE/ws, which carries the room's chat too (protocol.RoomChat), each participant from a
// source address of its own in 127.0.0.0/8
// (127.1.0.2, 127.1.0.3, …: Linux answers every address of 127/8 on lo), so the server's
// per-address caps (--max-room-per-ip) apply as they do to a real class. One process holds all of
// them, so every time is read on one clock (the monotonic one of this process).
//
// The run: each room is created (POST /api/rooms) and its instructor joins (room socket with the
// secret, its chat as moderator); a flooder and a member that never reads join the first
// room; the server's memory is read; the participants join, a Rooms × Participants of them, a
// few at a time; once every participant has seen the last join (the instructor shares a metric
// after the joins and everyone's "shared" is awaited: the room's events come in order) the memory
// is read again. Then each room's instructor runs the lesson (one room after the other: a server
// runs 2 lessons at most), then every instructor sends Chat messages at the chat's rate limit
// while the flooder sends far beyond it. Last, the non-reader reads what was left for it, to see
// how the server closed it.
//
// What is measured:
//
//   - Lesson fan-out: the protocol carries no server clock for a lesson event (its at_us counts
//     from the run's own epoch), so an event's latency to a participant is the time from the
//     first moment any member of the room (the instructor included) received it to the moment
//     that participant received it: the spread of one fan-out, not the time from the lesson's
//     emitting it to delivery (that part is the same for every member and not seen).
//   - Chat fan-out: from the instructor's Write of the "say" returning to each participant's Read
//     of the message returning (one process, one clock): the whole path through the server.
//   - Lost and reordered: every participant's lesson events against the instructor's sequence,
//     and its chat messages against the instructor's sent sequence.
//   - The flooder's rate_limited answers; the members the servers dropped for a full queue
//     (wireplay_room_members_dropped_total on their /metrics: only the non-reader does not read),
//     and, for information, the close code the non-reader's socket got
//     (1008: dropped for not reading; "closed" without a code: the server gave up writing;
//     "open": what it was sent fitted in the socket's buffers and the member's queue). Its
//     socket is narrowed (sockopt_linux.go: the MSS and buffers of an Ethernet client, not
//     loopback's megabytes), and a churner joining and leaving the first room Churn times at
//     the end sends it the events that fill its queue (the room's 1,024 events, its chat's
//     among them: a short run sends fewer).
//   - Server memory per idle participant: the growth of the server's RSS
//     (process_resident_memory_bytes on its /metrics) over the joins, divided by the
//     participants; with Config.Heap instead (an in-process server) the growth of this process's
//     heap, which holds the clients' side too.
package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/protocol"
)

// Config is one load test.
type Config struct {
	// Servers are the wireplay servers (http://HOST:PORT), all sharing their rooms (one NATS
	// broker) when there are several: rooms are created and their instructors join on the first,
	// participants are spread over all of them in turn.
	Servers []string
	Token   string
	// Rooms × Participants simulated participants (1 × 1000).
	Rooms, Participants int
	// Lesson is what each instructor runs ("boundaries"); Chat how many messages each
	// instructor sends (10).
	Lesson string
	Chat   int
	// Churn is how many times a member joins the first room and leaves it again at the end (1,500).
	Churn int
	// Settle is how long the joined participants idle before the memory is read again (0): the
	// server's garbage from the joins is collected within 2 minutes (Go's forced collection).
	Settle time.Duration
	// Concurrency is how many participants join at once (32).
	Concurrency int
	// Heap, when set, measures memory instead of the servers' /metrics (an in-process server:
	// the process's heap in use).
	Heap func() uint64
	// Timeout bounds each wait for the server (60 s).
	Timeout time.Duration
	// GCWait bounds the wait for the servers' first GC after the joins (130 s: Go forces one
	// every 2 minutes), which the live-heap reading needs; negative: do not wait.
	GCWait time.Duration
	// Progress, when set, is told what the run is doing.
	Progress io.Writer
}

// Goals of issue 10.
const (
	GoalFanoutP99      = 50 * time.Millisecond
	GoalBytesPerMember = 32 << 10
)

// Dist is a distribution of latencies in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func dist(d []time.Duration) Dist {
	if len(d) == 0 {
		return Dist{}
	}
	slices.Sort(d)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return ms(d[max(i, 0)])
	}
	return Dist{N: len(d), P50: q(0.50), P99: q(0.99), Max: ms(d[len(d)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Result is what a load test measured.
type Result struct {
	Servers      []string `json:"servers"`
	Rooms        int      `json:"rooms"`
	Participants int      `json:"participants_per_room"`
	Lesson       string   `json:"lesson"`
	JoinSeconds  float64  `json:"join_seconds"`

	LessonEvents int `json:"lesson_events"` // per room, as the instructor received them (the first room's)
	// LessonEventsAll is every room's lesson events summed: rooms run the same lesson, yet the
	// number of its events (packets seen, samples) differs from run to run.
	LessonEventsAll int  `json:"lesson_events_all"`
	LessonFanout    Dist `json:"lesson_fanout"`
	LessonLost      int  `json:"lesson_lost"`
	LessonReord     int  `json:"lesson_reordered"`

	ChatMessages int  `json:"chat_messages"` // per room
	ChatFanout   Dist `json:"chat_fanout"`
	ChatLost     int  `json:"chat_lost"`
	ChatReord    int  `json:"chat_reordered"`

	Churn              int `json:"churn"`
	FlooderSent        int `json:"flooder_sent"`
	FlooderAccepted    int `json:"flooder_accepted"`
	FlooderRateLimited int `json:"flooder_rate_limited"`

	// NonReader is how the non-reader's socket ended: "1008 …", "closed" (no close frame: the
	// server gave up writing), or "open".
	NonReader string `json:"non_reader"`
	// Dropped is the members the servers closed for a full queue during the run
	// (wireplay_room_members_dropped_total, both labels): the non-reader, as the servers saw it.
	Dropped uint64 `json:"dropped"`

	// Memory: MemorySource is "rss" (the servers' /metrics, summed) or "heap" (this process).
	MemorySource   string `json:"memory_source"`
	MemoryBefore   uint64 `json:"memory_before_bytes"`
	MemoryAfter    uint64 `json:"memory_after_bytes"`
	BytesPerMember int64  `json:"bytes_per_idle_participant"`
	// HeapInuse is the servers' go_memstats_heap_inuse_bytes at the same two moments (rss only).
	HeapInuse []uint64 `json:"heap_inuse_bytes,omitempty"`
	// Held is what the servers hold for the participants, without the garbage and the GC's
	// headroom RSS also counts: go_gc_heap_live_bytes (the heap the last GC found live) plus
	// go_memstats_stack_inuse_bytes, summed over the servers, each reading after a GC of its
	// own: before the joins and after them, the participants idle (HeldGCWaitSeconds: how long
	// the two waited for them; Go forces one every 2 minutes). HeldStale: a GC did not come
	// within GCWait, and a reading is as of an earlier one. rss only.
	HeldBefore        uint64  `json:"held_before_bytes,omitempty"`
	HeldAfter         uint64  `json:"held_after_bytes,omitempty"`
	HeldPerMember     int64   `json:"held_bytes_per_idle_participant,omitempty"`
	HeldGCWaitSeconds float64 `json:"held_gc_wait_seconds,omitempty"`
	HeldStale         bool    `json:"held_stale,omitempty"`
	// SettleSeconds is how long the participants idled before the second reading.
	SettleSeconds float64 `json:"settle_seconds"`

	Goals []Goal `json:"goals"`
}

// Goal is one of issue 10's goals and whether the run met it.
type Goal struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// Missed lists the goals the run missed.
func (r *Result) Missed() []string {
	var out []string
	for _, g := range r.Goals {
		if !g.Met {
			out = append(out, g.Name+": "+g.Got+" (want "+g.Want+")")
		}
	}
	return out
}

// NonReaderDropped says a server dropped the non-reader: it counted a member (only the
// non-reader does not read) closed for a full queue, or the non-reader's socket was closed by
// the server (1008; "closed": without a close frame, as after a write that stayed
// stuck for the server's write timeout, which the counter does not count).
func (r *Result) NonReaderDropped() bool {
	closed := func(s string) bool { return strings.HasPrefix(s, "1008") || s == "closed" }
	return r.Dropped > 0 || closed(r.NonReader)
}

var base = time.Now()

func now() time.Duration { return time.Since(base) }

// sources hands out source addresses 127.1.0.2, 127.1.0.3, … (skipping .0, .1 and .255 of
// each /24).
type sources struct {
	mu sync.Mutex
	n  int
}

func (s *sources) next() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		s.n++
		i := s.n + 1
		a := netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)})
		if b := a.As4()[3]; b > 1 && b < 255 {
			return a
		}
	}
}

// client is an HTTP client whose connections leave from src; narrowed, they are narrow's.
func client(src netip.Addr, narrowed bool) *http.Client {
	hc, _ := narrowClient(src, narrowed)
	return hc
}

// narrowClient is client, and a function that widens the receive buffer of every connection it
// made again (so that what the server left in them can be read at once: a narrowed socket
// that drops segments for want of buffer waits for retransmission timeouts).
func narrowClient(src netip.Addr, narrowed bool) (*http.Client, func()) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 10 * time.Second}
	if narrowed {
		d.Control = narrow
	}
	var mu sync.Mutex
	var conns []*net.TCPConn
	dialCtx := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && err == nil {
			mu.Lock()
			conns = append(conns, tc)
			mu.Unlock()
		}
		return c, err
	}
	widen := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.SetReadBuffer(4 << 20)
		}
	}
	return &http.Client{Transport: &http.Transport{DialContext: dialCtx}}, widen
}

func wsURL(srv string) string {
	if s, ok := strings.CutPrefix(srv, "https://"); ok {
		return "wss://" + s
	}
	return "ws://" + strings.TrimPrefix(srv, "http://")
}

func newMember() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "lt" + hex.EncodeToString(b[:])
}

func dial(ctx context.Context, hc *http.Client, url string) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(protocol.RoomMaxEvent)
	return c, nil
}

func writeJSON(ctx context.Context, c *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

// joinRoom joins the room socket and returns the connection and the "room" state.
func joinRoom(ctx context.Context, hc *http.Client, srv, code, name, member, secret string) (*websocket.Conn, *protocol.RoomInfo, error) {
	c, err := dial(ctx, hc, wsURL(srv)+"/r/"+code+"/ws")
	if err != nil {
		return nil, nil, fmt.Errorf("dial room: %w", err)
	}
	if err := writeJSON(ctx, c, protocol.RoomRequest{V: protocol.Version, Type: protocol.RoomJoin, Name: name, Member: member, Secret: secret}); err != nil {
		c.CloseNow()
		return nil, nil, fmt.Errorf("join room: %w", err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			c.CloseNow()
			return nil, nil, fmt.Errorf("join room: %w", err)
		}
		var ev protocol.RoomEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			c.CloseNow()
			return nil, nil, fmt.Errorf("join room: %w", err)
		}
		switch ev.Type {
		case protocol.RoomState:
			return c, ev.Room, nil
		case protocol.RoomError:
			c.CloseNow()
			return nil, nil, fmt.Errorf("join room: %s: %s", ev.Code, ev.Error)
		}
	}
}

// joinChat joins the room's chat on c, the member's room socket, and returns its limits. The
// room's events that come first are skipped (nothing is measured before the chat is joined).
func joinChat(ctx context.Context, c *websocket.Conn) (*protocol.ChatLimits, error) {
	if err := writeChat(ctx, c, protocol.ChatRequest{Type: protocol.ChatJoin}); err != nil {
		return nil, fmt.Errorf("join chat: %w", err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("join chat: %w", err)
		}
		if typeOf(b) != protocol.RoomChat {
			continue
		}
		var ev protocol.RoomEvent
		if err := json.Unmarshal(b, &ev); err != nil || ev.Chat == nil {
			return nil, fmt.Errorf("join chat: a chat event %.200q: %v", b, err)
		}
		switch ev.Chat.Type {
		case protocol.ChatWelcome:
			return ev.Chat.Limits, nil
		case protocol.ChatError:
			return nil, fmt.Errorf("join chat: %s: %s", ev.Chat.Code, ev.Chat.Error)
		}
	}
}

// writeChat sends a chat request on a room socket.
func writeChat(ctx context.Context, c *websocket.Conn, req protocol.ChatRequest) error {
	req.V = protocol.Version
	return writeJSON(ctx, c, protocol.RoomRequest{V: protocol.Version, Type: protocol.RoomChat, Chat: &req})
}

// chatHead starts every "chat" event on a room socket (protocol.ChatInRoom of nothing, without
// its closing brace).
var chatHead = bytes.TrimSuffix(protocol.ChatInRoom(nil), []byte("}"))

// chatOf is the chat event a room socket's "chat" event carries (b itself for any other event:
// the server writes them as protocol.ChatInRoom does).
func chatOf(b []byte) []byte {
	if inner, ok := bytes.CutPrefix(b, chatHead); ok && len(inner) > 0 {
		return inner[:len(inner)-1]
	}
	return b
}

// typeOf is the "type" of an encoded event, found without decoding it all (the server writes
// "v" then "type").
func typeOf(b []byte) string {
	i := bytes.Index(b, []byte(`"type":"`))
	if i < 0 {
		return ""
	}
	rest := b[i+8:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

var seed = maphash.MakeSeed()

// recv is one lesson event as one member received it.
type recv struct {
	at   time.Duration
	hash uint64
}

// chatText is the text of the instructor's i-th message.
func chatText(i int) string { return "lt " + strconv.Itoa(i) }

// listener reads one member's socket and keeps what the measurements need.
type listener struct {
	mu       sync.Mutex
	events   []recv          // lesson_event, in order
	done     int             // lesson_done seen
	shared   int             // "shared" seen
	chat     []int           // the instructor's messages' numbers, in order
	chatAt   []time.Duration // when each came
	syncSeen bool
	roomB    int64 // bytes of room events read
	err      error
	changed  chan struct{} // closed and replaced on every change
}

func newListener() *listener { return &listener{changed: make(chan struct{})} }

func (l *listener) bump() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// read reads the member's room socket until it ends; the chat messages from instructor (the
// load test's) are kept.
func (l *listener) read(c *websocket.Conn, instructor string) {
	for {
		_, b, err := c.Read(context.Background())
		at := now()
		if err != nil {
			l.mu.Lock()
			if l.err == nil {
				l.err = fmt.Errorf("room socket: %w", err)
			}
			l.bump()
			l.mu.Unlock()
			return
		}
		l.mu.Lock()
		l.roomB += int64(len(b))
		l.mu.Unlock()
		switch typeOf(b) {
		case protocol.RoomLessonEvent:
			h := maphash.Bytes(seed, b)
			l.mu.Lock()
			l.events = append(l.events, recv{at, h})
			l.mu.Unlock()
		case protocol.RoomLessonDone:
			l.mu.Lock()
			l.done++
			l.bump()
			l.mu.Unlock()
		case protocol.RoomShared:
			l.mu.Lock()
			l.shared++
			l.bump()
			l.mu.Unlock()
		case protocol.RoomChat:
			l.chatMessage(chatOf(b), at, instructor)
		}
	}
}

// chatMessage keeps one chat event's message from instructor.
func (l *listener) chatMessage(b []byte, at time.Duration, instructor string) {
	if typeOf(b) != protocol.ChatMessage {
		return
	}
	var ev protocol.ChatEvent
	if json.Unmarshal(b, &ev) != nil || ev.From != instructor {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ev.Text == "lt sync" {
		l.syncSeen = true
	} else if n, ok := strings.CutPrefix(ev.Text, "lt "); ok {
		if i, err := strconv.Atoi(n); err == nil {
			l.chat = append(l.chat, i)
			l.chatAt = append(l.chatAt, at)
		}
	}
	l.bump()
}

// await waits until cond (called with l.mu held) holds, l's sockets fail, or ctx ends.
func (l *listener) await(ctx context.Context, what string, cond func() bool) error {
	for {
		l.mu.Lock()
		ok, err, ch := cond(), l.err, l.changed
		l.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
}

// room is one room of the load test.
type room struct {
	code, secret string
	instr        *listener
	instrRoom    *websocket.Conn
	limits       *protocol.ChatLimits
	members      []*listener
	sent         []time.Duration // when each chat message's Write returned
}

const instructorName = "Instructor"

func (cfg *Config) withDefaults() Config {
	c := *cfg
	if c.Rooms <= 0 {
		c.Rooms = 1
	}
	if c.Participants <= 0 {
		c.Participants = 1000
	}
	if c.Lesson == "" {
		c.Lesson = "boundaries"
	}
	if c.Chat <= 0 {
		c.Chat = 10
	}
	if c.Churn <= 0 {
		c.Churn = 1500
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.GCWait == 0 {
		c.GCWait = 130 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Run runs one load test. Its sockets are closed when it returns.
func Run(ctx context.Context, config Config) (*Result, error) {
	cfg := config.withDefaults()
	if len(cfg.Servers) == 0 {
		return nil, errors.New("no server")
	}
	for i, s := range cfg.Servers {
		s = strings.TrimSuffix(s, "/")
		if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
			s = "http://" + s
		}
		cfg.Servers[i] = s
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var conns []*websocket.Conn
	var cmu sync.Mutex
	keep := func(cs ...*websocket.Conn) {
		cmu.Lock()
		conns = append(conns, cs...)
		cmu.Unlock()
	}
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	wait := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, cfg.Timeout) }
	var src sources
	res := &Result{Servers: cfg.Servers, Rooms: cfg.Rooms, Participants: cfg.Participants, Lesson: cfg.Lesson}

	// Rooms and their instructors.
	rooms := make([]*room, cfg.Rooms)
	for i := range rooms {
		wctx, wcancel := wait()
		created, err := CreateRoom(wctx, cfg.Servers[0], cfg.Token)
		if err != nil {
			wcancel()
			return nil, fmt.Errorf("create room: %w", err)
		}
		r := &room{code: created.Code, secret: created.Secret, instr: newListener()}
		hc := client(src.next(), false)
		member := newMember()
		r.instrRoom, _, err = joinRoom(wctx, hc, cfg.Servers[0], r.code, instructorName, member, r.secret)
		if err != nil {
			wcancel()
			return nil, fmt.Errorf("instructor: %w", err)
		}
		keep(r.instrRoom)
		r.limits, err = joinChat(wctx, r.instrRoom)
		wcancel()
		if err != nil {
			return nil, fmt.Errorf("instructor: %w", err)
		}
		go r.instr.read(r.instrRoom, "")
		rooms[i] = r
	}
	fmt.Fprintf(cfg.Progress, "loadtest: %d %s created on %s\n", len(rooms), plural(len(rooms), "room", "rooms"), cfg.Servers[0])

	// The flooder and the non-reader, in the first room, on the last server.
	last := cfg.Servers[len(cfg.Servers)-1]
	r0 := rooms[0]
	wctx, wcancel := wait()
	nrHC, nrWiden := narrowClient(src.next(), true)
	nrMember := newMember()
	nrRoom, _, err := joinRoom(wctx, nrHC, last, r0.code, "Non-reader", nrMember, "")
	if err != nil {
		wcancel()
		return nil, fmt.Errorf("non-reader: %w", err)
	}
	keep(nrRoom)
	if _, err := joinChat(wctx, nrRoom); err != nil {
		wcancel()
		return nil, fmt.Errorf("non-reader: %w", err)
	}
	flHC := client(src.next(), false)
	flMember := newMember()
	flRoom, _, err := joinRoom(wctx, flHC, last, r0.code, "Flooder", flMember, "")
	if err != nil {
		wcancel()
		return nil, fmt.Errorf("flooder: %w", err)
	}
	keep(flRoom)
	_, err = joinChat(wctx, flRoom)
	wcancel()
	if err != nil {
		return nil, fmt.Errorf("flooder: %w", err)
	}
	fl := startFlooder(flRoom) // it reads all along, so only its own sends are measured of it

	dropped0, err := cfg.dropped(ctx)
	if err != nil {
		return nil, err
	}
	before, err := cfg.memory(ctx, res)
	if err != nil {
		return nil, err
	}
	var held0 uint64
	if cfg.Heap == nil {
		var waited float64
		var stale bool
		if held0, waited, stale, err = cfg.heldAfterGC(ctx); err != nil {
			return nil, err
		}
		res.HeldGCWaitSeconds += waited
		res.HeldStale = stale
	}

	// The participants.
	start := time.Now()
	type job struct{ r, i int }
	jobs := make(chan job)
	errs := make(chan error, cfg.Concurrency)
	var joined atomic.Int64
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for j := range jobs {
				r := rooms[j.r]
				srv := cfg.Servers[(j.r*cfg.Participants+j.i)%len(cfg.Servers)]
				hc := client(src.next(), false)
				name, member := fmt.Sprintf("P%d-%d", j.r, j.i), newMember()
				wctx, wcancel := wait()
				rc, _, err := joinRoom(wctx, hc, srv, r.code, name, member, "")
				if err == nil {
					keep(rc)
					_, err = joinChat(wctx, rc)
				}
				wcancel()
				if err != nil {
					select {
					case errs <- fmt.Errorf("participant %s: %w", name, err):
					default:
					}
					cancel()
					continue
				}
				l := newListener()
				go l.read(rc, instructorName)
				r.members[j.i] = l
				if n := joined.Add(1); n%200 == 0 {
					fmt.Fprintf(cfg.Progress, "loadtest: %d participants joined\n", n)
				}
			}
		})
	}
	for _, r := range rooms {
		r.members = make([]*listener, cfg.Participants)
	}
feed:
	for i := range cfg.Participants {
		for ri := range rooms {
			select {
			case jobs <- job{ri, i}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.JoinSeconds = math.Round(time.Since(start).Seconds()*100) / 100

	// Every participant has seen every join once it has seen a "shared" the instructor sent
	// after them (one room's events reach a member in order), and every chat join once it saw
	// a message sent after them.
	for _, r := range rooms {
		share := protocol.RoomRequest{V: protocol.Version, Type: protocol.RoomShare, Share: &protocol.RoomShareData{Lesson: cfg.Lesson,
			Metrics: []protocol.Metric{{Transport: "tcp", Name: "loadtest", Unit: "n", Value: 1}}}}
		if err := writeJSON(ctx, r.instrRoom, share); err != nil {
			return nil, fmt.Errorf("share: %w", err)
		}
		if err := writeChat(ctx, r.instrRoom, protocol.ChatRequest{Type: protocol.ChatSay, Text: "lt sync"}); err != nil {
			return nil, fmt.Errorf("chat: %w", err)
		}
	}
	for _, r := range rooms {
		for _, l := range r.members {
			wctx, wcancel := wait()
			err := l.await(wctx, "settle", func() bool { return l.shared > 0 && l.syncSeen })
			wcancel()
			if err != nil {
				return nil, err
			}
		}
	}
	if cfg.Settle > 0 {
		fmt.Fprintf(cfg.Progress, "loadtest: idling %v before reading the memory again\n", cfg.Settle)
		select {
		case <-time.After(cfg.Settle):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		res.SettleSeconds = cfg.Settle.Seconds()
	}
	after, err := cfg.memory(ctx, res)
	if err != nil {
		return nil, err
	}
	res.MemoryBefore, res.MemoryAfter = before, after
	res.BytesPerMember = (int64(after) - int64(before)) / int64(cfg.Rooms*cfg.Participants)
	fmt.Fprintf(cfg.Progress, "loadtest: %d participants joined in %.1f s; %s %d → %d bytes\n", cfg.Rooms*cfg.Participants, res.JoinSeconds, res.MemorySource, before, after)
	if cfg.Heap == nil {
		held1, waited, stale, err := cfg.heldAfterGC(ctx)
		if err != nil {
			return nil, err
		}
		res.HeldGCWaitSeconds += waited
		res.HeldStale = res.HeldStale || stale
		res.HeldBefore, res.HeldAfter = held0, held1
		res.HeldPerMember = (int64(held1) - int64(held0)) / int64(cfg.Rooms*cfg.Participants)
	}

	// The lessons, one room at a time.
	var lessonLat []time.Duration
	for ri, r := range rooms {
		run := protocol.RoomRequest{V: protocol.Version, Type: protocol.RoomRun, Run: &protocol.ScenarioRequest{Name: cfg.Lesson}}
		if err := writeJSON(ctx, r.instrRoom, run); err != nil {
			return nil, fmt.Errorf("run: %w", err)
		}
		all := append([]*listener{r.instr}, r.members...)
		for _, l := range all {
			wctx, wcancel := wait()
			err := l.await(wctx, "lesson", func() bool { return l.done > 0 })
			wcancel()
			if err != nil {
				return nil, err
			}
		}
		r.instr.mu.Lock()
		b0 := r.instr.roomB
		r.instr.mu.Unlock()
		lat, n, lost, reord := lessonFanout(r.instr, r.members)
		fmt.Fprintf(cfg.Progress, "loadtest: the instructor read %d bytes of room events\n", b0)
		lessonLat = append(lessonLat, lat...)
		res.LessonLost += lost
		res.LessonReord += reord
		if ri == 0 {
			res.LessonEvents = n
		}
		res.LessonEventsAll += n
		fmt.Fprintf(cfg.Progress, "loadtest: room %s: lesson %s, %d events\n", r.code, cfg.Lesson, n)
	}
	res.LessonFanout = dist(lessonLat)

	// The chat, every room at once, with the flooder.
	res.ChatMessages = cfg.Chat
	floodCtx, floodStop := context.WithCancel(ctx)
	var fwg sync.WaitGroup
	fwg.Go(func() { fl.flood(floodCtx, flRoom, res) })
	var chatWG sync.WaitGroup
	chatErrs := make(chan error, len(rooms))
	for _, r := range rooms {
		chatWG.Go(func() {
			every := time.Second
			if r.limits != nil && r.limits.PerSecond > 0 {
				every = time.Duration(float64(time.Second) / r.limits.PerSecond)
			}
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := range cfg.Chat {
				if i > 0 {
					select {
					case <-tick.C:
					case <-ctx.Done():
						return
					}
				}
				err := writeChat(ctx, r.instrRoom, protocol.ChatRequest{Type: protocol.ChatSay, Text: chatText(i)})
				if err != nil {
					chatErrs <- fmt.Errorf("chat: %w", err)
					return
				}
				r.sent = append(r.sent, now())
			}
		})
	}
	chatWG.Wait()
	select {
	case err := <-chatErrs:
		floodStop()
		return nil, err
	default:
	}
	var chatLat []time.Duration
	for _, r := range rooms {
		for _, l := range r.members {
			wctx, wcancel := wait()
			_ = l.await(wctx, "chat", func() bool { return len(l.chat) > 0 && l.chat[len(l.chat)-1] == cfg.Chat-1 })
			wcancel()
			l.mu.Lock()
			lat, lost, reord := chatFanout(r.sent, l.chat, l.chatAt)
			l.mu.Unlock()
			chatLat = append(chatLat, lat...)
			res.ChatLost += lost
			res.ChatReord += reord
		}
	}
	res.ChatFanout = dist(chatLat)
	floodStop()
	fwg.Wait()

	// A member whose connection keeps dropping joins and leaves the first room Churn times (a
	// member_joined and a member_left, a chat joined and left, to every member each time): the
	// load that leaves the non-reader's queue full.
	chHC := client(src.next(), false)
	chMember := newMember()
	for i := range cfg.Churn {
		wctx, wcancel := wait()
		rc, _, err := joinRoom(wctx, chHC, last, r0.code, "Churner", chMember, "")
		if err != nil {
			wcancel()
			return nil, fmt.Errorf("churner: %w", err)
		}
		_, err = joinChat(wctx, rc)
		wcancel()
		rc.CloseNow()
		if err != nil {
			return nil, fmt.Errorf("churner %d: %w", i, err)
		}
	}
	res.Churn = cfg.Churn

	// How the non-reader was treated.
	nrWiden()
	res.NonReader = ending(ctx, nrRoom)
	dropped1, err := cfg.dropped(ctx)
	if err != nil {
		return nil, err
	}
	res.Dropped = dropped1[0] - dropped0[0] + dropped1[1] - dropped0[1]

	res.goals()
	return res, nil
}

// lessonFanout compares each member's lesson events with the instructor's: the latency of each
// event to each member from the first receipt of it, and the events lost and reordered.
func lessonFanout(instr *listener, members []*listener) (lat []time.Duration, n, lost, reord int) {
	instr.mu.Lock()
	ref := slices.Clone(instr.events)
	instr.mu.Unlock()
	type key struct {
		h uint64
		k int // the k-th event with this hash
	}
	index := make(map[key]int, len(ref))
	seen := map[uint64]int{}
	first := make([]time.Duration, len(ref))
	for i, e := range ref {
		index[key{e.hash, seen[e.hash]}] = i
		seen[e.hash]++
		first[i] = e.at
	}
	got := make([][]int, len(members)) // per member, the ref index of each event, -1 unknown
	for mi, l := range members {
		l.mu.Lock()
		evs := slices.Clone(l.events)
		l.mu.Unlock()
		clear(seen)
		idx := make([]int, len(evs))
		for i, e := range evs {
			j, ok := index[key{e.hash, seen[e.hash]}]
			seen[e.hash]++
			if !ok {
				j = -1
			} else if e.at < first[j] {
				first[j] = e.at
			}
			idx[i] = j
		}
		got[mi] = idx
	}
	for mi, l := range members {
		l.mu.Lock()
		evs := l.events
		have := make([]bool, len(ref))
		prev := -1
		for i, j := range got[mi] {
			if j < 0 {
				continue
			}
			if j < prev {
				reord++
			}
			prev = max(prev, j)
			have[j] = true
			lat = append(lat, evs[i].at-first[j])
		}
		l.mu.Unlock()
		for _, h := range have {
			if !h {
				lost++
			}
		}
	}
	return lat, len(ref), lost, reord
}

// chatFanout compares one member's messages with those sent.
func chatFanout(sent []time.Duration, got []int, at []time.Duration) (lat []time.Duration, lost, reord int) {
	have := make([]bool, len(sent))
	prev := -1
	for i, n := range got {
		if n < 0 || n >= len(sent) {
			continue
		}
		if n < prev {
			reord++
		}
		prev = max(prev, n)
		have[n] = true
		lat = append(lat, at[i]-sent[n])
	}
	for _, h := range have {
		if !h {
			lost++
		}
	}
	return lat, lost, reord
}

// flooder counts the answers to the flooder's "say"s, reading its room socket from its join.
type flooder struct {
	accepted, limited atomic.Int64
	done              chan struct{}
}

func startFlooder(c *websocket.Conn) *flooder {
	f := &flooder{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if typeOf(b) != protocol.RoomChat {
				continue
			}
			switch b = chatOf(b); typeOf(b) {
			case protocol.ChatMessage:
				if bytes.Contains(b, []byte(`"from":"Flooder"`)) {
					f.accepted.Add(1)
				}
			case protocol.ChatError:
				if bytes.Contains(b, []byte(`"code":"`+protocol.ChatErrRateLimited+`"`)) {
					f.limited.Add(1)
				}
			}
		}
	}()
	return f
}

// flood sends "say" every millisecond until ctx ends and counts the answers.
func (f *flooder) flood(ctx context.Context, c *websocket.Conn, res *Result) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	sent := 0
	msg := []byte(`{"v":1,"type":"chat","chat":{"v":1,"type":"say","text":"flood"}}`)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		if c.Write(ctx, websocket.MessageText, msg) != nil {
			break
		}
		sent++
	}
	// The answers to the last ones: the server answers in order, so once a say sent after
	// them is answered they are all in.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if c.Write(wctx, websocket.MessageText, msg) == nil {
		sent++
		for f.accepted.Load()+f.limited.Load() < int64(sent) && wctx.Err() == nil {
			select {
			case <-f.done:
				wcancel()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	res.FlooderSent, res.FlooderAccepted, res.FlooderRateLimited = sent, int(f.accepted.Load()), int(f.limited.Load())
}

// ending reads what the server left on c (which was not read since its join) and says how c
// ended: "1008 reason", "closed", or "open" when nothing more came for 30 s (a narrowed socket
// that dropped segments may also wait that long for their retransmission: "open" is not proof).
func ending(ctx context.Context, c *websocket.Conn) string {
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, _, err := c.Read(rctx)
		cancel()
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != -1 {
			var ce websocket.CloseError
			errors.As(err, &ce)
			return fmt.Sprintf("%d %s", int(code), ce.Reason)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return "open"
		}
		return "closed"
	}
}

func (cfg *Config) memory(ctx context.Context, res *Result) (uint64, error) {
	if cfg.Heap != nil {
		res.MemorySource = "heap"
		return cfg.Heap(), nil
	}
	res.MemorySource = "rss"
	var sum, heap uint64
	for _, s := range cfg.Servers {
		v, err := rss(ctx, s)
		if err != nil {
			return 0, fmt.Errorf("memory of %s: %w", s, err)
		}
		sum += v
		h, err := metric(ctx, s, "go_memstats_heap_inuse_bytes")
		if err != nil {
			return 0, fmt.Errorf("memory of %s: %w", s, err)
		}
		heap += h
	}
	res.HeapInuse = append(res.HeapInuse, heap)
	return sum, nil
}

// held sums the servers' live heap (as of their last GC) and stacks, and their GC cycles.
func (cfg *Config) held(ctx context.Context) (held, cycles uint64, err error) {
	for _, s := range cfg.Servers {
		for _, name := range []string{"go_gc_heap_live_bytes", "go_memstats_stack_inuse_bytes"} {
			v, err := metric(ctx, s, name)
			if err != nil {
				return 0, 0, fmt.Errorf("memory of %s: %w", s, err)
			}
			held += v
		}
		c, err := metric(ctx, s, "go_gc_cycles_total")
		if err != nil {
			return 0, 0, fmt.Errorf("memory of %s: %w", s, err)
		}
		cycles += c
	}
	return held, cycles, nil
}

// heldAfterGC waits, nothing happening, until every server has completed a GC cycle since now
// (up to GCWait: Go forces one every 2 minutes), and reads what they hold; stale says none came.
func (cfg *Config) heldAfterGC(ctx context.Context) (held uint64, waited float64, stale bool, err error) {
	cycles0 := make([]uint64, len(cfg.Servers))
	for i, s := range cfg.Servers {
		c, err := metric(ctx, s, "go_gc_cycles_total")
		if err != nil {
			return 0, 0, false, fmt.Errorf("memory of %s: %w", s, err)
		}
		cycles0[i] = c
	}
	start := time.Now()
	if cfg.GCWait > 0 {
		fmt.Fprintf(cfg.Progress, "loadtest: waiting up to %v for the servers' next GC (the live heap is as of one)\n", cfg.GCWait)
	}
	stale = true
	for cfg.GCWait > 0 && time.Since(start) < cfg.GCWait {
		all := true
		for i, s := range cfg.Servers {
			c, err := metric(ctx, s, "go_gc_cycles_total")
			if err != nil {
				return 0, 0, false, fmt.Errorf("memory of %s: %w", s, err)
			}
			all = all && c > cycles0[i]
		}
		if all {
			stale = false
			break
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return 0, 0, false, ctx.Err()
		}
	}
	held, _, err = cfg.held(ctx)
	return held, math.Round(time.Since(start).Seconds()*10) / 10, stale, err
}

// dropped sums the servers' wireplay_room_members_dropped_total, room and chat.
func (cfg *Config) dropped(ctx context.Context) ([2]uint64, error) {
	var out [2]uint64
	for _, s := range cfg.Servers {
		for i, sock := range []string{"room", "chat"} {
			v, err := metric(ctx, s, `wireplay_room_members_dropped_total{socket="`+sock+`"}`)
			if err != nil {
				return out, fmt.Errorf("drops of %s: %w", s, err)
			}
			out[i] += v
		}
	}
	return out, nil
}

// rss reads process_resident_memory_bytes from srv's /metrics.
func rss(ctx context.Context, srv string) (uint64, error) {
	return metric(ctx, srv, "process_resident_memory_bytes")
}

// metric reads one gauge from srv's /metrics.
func metric(ctx context.Context, srv, name string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", name, err)
			}
			return uint64(f), nil
		}
	}
	return 0, fmt.Errorf("/metrics has no %s", name)
}

// CreateRoom asks the server at base (http://HOST:PORT) for a room with the instructor token
// (POST /api/rooms, protocol.RoomCreated); `wireplay room create` and the load test use it.
func CreateRoom(ctx context.Context, base, token string) (protocol.RoomCreated, error) {
	var out protocol.RoomCreated
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/rooms", nil)
	if err != nil {
		return out, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return out, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil {
		return out, fmt.Errorf("read answer: %w", err)
	}
	return out, nil
}

func (r *Result) goals() {
	add := func(name, want, got string, met bool) {
		r.Goals = append(r.Goals, Goal{Name: name, Want: want, Got: got, Met: met})
	}
	p99 := ms(GoalFanoutP99)
	add("lesson fan-out p99", fmt.Sprintf("≤ %g ms", p99), fmt.Sprintf("%g ms", r.LessonFanout.P99), r.LessonFanout.N > 0 && r.LessonFanout.P99 <= p99)
	add("chat fan-out p99", fmt.Sprintf("≤ %g ms", p99), fmt.Sprintf("%g ms", r.ChatFanout.P99), r.ChatFanout.N > 0 && r.ChatFanout.P99 <= p99)
	add("lost or reordered", "0", fmt.Sprint(r.LessonLost+r.LessonReord+r.ChatLost+r.ChatReord), r.LessonLost+r.LessonReord+r.ChatLost+r.ChatReord == 0)
	add("flooder throttled", "rate_limited > 0", fmt.Sprint(r.FlooderRateLimited), r.FlooderRateLimited > 0)
	add("non-reader dropped", "a full queue counted, or its socket closed by the server", fmt.Sprintf("counted %d; socket %s", r.Dropped, r.NonReader), r.NonReaderDropped())
	if r.MemorySource == "rss" {
		got := fmt.Sprintf("%.1f KB live heap and stacks (RSS grew %.1f KB)", float64(r.HeldPerMember)/1024, float64(r.BytesPerMember)/1024)
		if r.HeldStale {
			got += ", stale: a GC did not come within --gc-wait"
		}
		add("server memory per idle participant", fmt.Sprintf("≤ %d KB", GoalBytesPerMember>>10), got, !r.HeldStale && r.HeldPerMember <= GoalBytesPerMember)
	}
}

// Print writes r as text.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "wireplay loadtest: %d %s × %d participants on %s, lesson %s\n", r.Rooms, plural(r.Rooms, "room", "rooms"), r.Participants, strings.Join(r.Servers, " + "), r.Lesson)
	fmt.Fprintf(w, "  joined            %d participants in %.2f s (one socket each, the room's with its chat; one source address each)\n", r.Rooms*r.Participants, r.JoinSeconds)
	fmt.Fprintf(w, "  lesson fan-out    p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d events × members; from the first member's receipt)\n", r.LessonFanout.P50, r.LessonFanout.P99, r.LessonFanout.Max, r.LessonFanout.N)
	fmt.Fprintf(w, "  chat fan-out      p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d messages × members; from the instructor's send)\n", r.ChatFanout.P50, r.ChatFanout.P99, r.ChatFanout.Max, r.ChatFanout.N)
	fmt.Fprintf(w, "  lost / reordered  lesson %d / %d, chat %d / %d (%d lesson events and %d chat messages per room)\n", r.LessonLost, r.LessonReord, r.ChatLost, r.ChatReord, r.LessonEvents, r.ChatMessages)
	fmt.Fprintf(w, "  flooder           sent %d, accepted %d, rate_limited %d\n", r.FlooderSent, r.FlooderAccepted, r.FlooderRateLimited)
	fmt.Fprintf(w, "  non-reader        its socket: %s (it read at the end: the close it got)\n", r.NonReader)
	fmt.Fprintf(w, "                    the servers dropped %d members for a full queue\n", r.Dropped)
	what := "server RSS (/metrics process_resident_memory_bytes)"
	if r.MemorySource == "heap" {
		what = "this process's heap objects and stacks: the in-process server AND the clients"
	}
	fmt.Fprintf(w, "  memory            %.1f KB per idle participant (%s, %d → %d bytes, %g s after the joins)\n", float64(r.BytesPerMember)/1024, what, r.MemoryBefore, r.MemoryAfter, r.SettleSeconds)
	if len(r.HeapInuse) == 2 {
		fmt.Fprintf(w, "                    heap in use %d → %d bytes: %.1f KB per idle participant\n", r.HeapInuse[0], r.HeapInuse[1], (float64(r.HeapInuse[1])-float64(r.HeapInuse[0]))/float64(r.Rooms*r.Participants)/1024)
	}
	if r.MemorySource == "rss" {
		when := fmt.Sprintf("each after a GC of its own (waited %.1f s for them)", r.HeldGCWaitSeconds)
		if r.HeldStale {
			when = fmt.Sprintf("STALE: a GC did not come within --gc-wait (waited %.1f s)", r.HeldGCWaitSeconds)
		}
		fmt.Fprintf(w, "                    held (live heap + stacks) %d → %d bytes, %s: %.1f KB per idle participant\n", r.HeldBefore, r.HeldAfter, when, float64(r.HeldPerMember)/1024)
	}
	for _, g := range r.Goals {
		mark := "ok  "
		if !g.Met {
			mark = "MISS"
		}
		fmt.Fprintf(w, "  %s %s: %s (goal %s)\n", mark, g.Name, g.Got, g.Want)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
