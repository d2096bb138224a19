package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/rooms"
	"github.com/wireplay/wireplay/scenarios"
)

// Workshop rooms (package rooms, protocol.RoomJoin): POST /api/rooms, the page in room mode at
// /r/{code}, its WebSocket at /r/{code}/ws (the page's chat rides it) and its chat on its own at
// /r/{code}/chat. Rooms and chat go
// through Config.Broker, or an in-process broker of the server's own.

// startRooms makes the rooms and the chat hub; Start calls it before routes.
func (s *Server) startRooms() {
	b := s.cfg.Broker
	if b == nil {
		s.ownBroker = broker.NewMemory()
		b = s.ownBroker
	}
	accept := &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowOrigins}
	s.chat = chat.NewHub(b, chat.Options{Grace: s.cfg.RoomGrace})
	s.rooms = rooms.New(b, rooms.Options{Token: s.cfg.InstructorToken, Grace: s.cfg.RoomGrace, Shared: s.cfg.Broker != nil,
		Runner: s.relay.roomLesson, Sender: s.relay.roomSend, Chat: s.chat, MaxPerIP: s.cfg.MaxRoomPerIP, AcceptOptions: accept, Logger: s.log})
}

// mountRooms adds the rooms' routes to mux.
func (s *Server) mountRooms(mux *http.ServeMux, info pageInfo) {
	mux.HandleFunc("POST /api/rooms", s.rooms.ServeCreate)
	mux.HandleFunc("GET /join", func(w http.ResponseWriter, r *http.Request) {
		code := normalizeCode(r.URL.Query().Get("code"))
		if !s.rooms.Exists(r.Context(), code) {
			roomNotFound(w, code, s.cfg.RoomGrace)
			return
		}
		http.Redirect(w, r, "/r/"+code, http.StatusSeeOther)
	})
	mux.HandleFunc("GET /r/{code}", func(w http.ResponseWriter, r *http.Request) {
		code := r.PathValue("code")
		if up := normalizeCode(code); up != code && protocol.ValidRoomCode(up) {
			// A code typed by hand: /r/k7qw3m is /r/K7QW3M (the fragment, the instructor's
			// secret, stays with the browser across the redirect).
			http.Redirect(w, r, "/r/"+up, http.StatusPermanentRedirect)
			return
		}
		if !s.rooms.Exists(r.Context(), code) {
			roomNotFound(w, code, s.cfg.RoomGrace)
			return
		}
		info := info
		info.Room = code
		newPageHandler(info).ServeHTTP(w, r)
	})
	mux.Handle("GET /r/{code}/ws", s.refusedWhileDraining(narrowSendBuffer(http.HandlerFunc(s.rooms.ServeWS))))
	mux.Handle("GET /r/{code}/chat", s.refusedWhileDraining(narrowSendBuffer(s.rooms.Capped(&chat.Handler{Hub: s.chat, Room: s.rooms.ChatRoom,
		AcceptOptions: &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowOrigins}}))))
}

// roomSendBuffer is the kernel send buffer of a room or chat socket (Linux doubles it). Left
// alone, Linux grows a socket's send buffer up to tcp_wmem's maximum (4 MiB here) for a
// member that does not read: 1,000 of them could hold gigabytes of the server's kernel memory,
// and such a member's own queue, bounded, would be the last to notice. With it narrowed, what a
// non-reader holds is bounded in the kernel too, and its queue fills and drops it (1008) soon
// after. Room events are small; a bigger one (a room's state, a report) is written as the
// member reads it.
const roomSendBuffer = 64 << 10

// narrowSendBuffer sets the request's connection's send buffer to roomSendBuffer (the server's
// ConnContext puts the connection in the request's context).
func narrowSendBuffer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSendBuffer(r.Context().Value(netConnKey{}))
		h.ServeHTTP(w, r)
	})
}

// setSendBuffer sets c's kernel send buffer to roomSendBuffer when c is a TCP connection (or TLS
// on one).
func setSendBuffer(c any) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(interface{ SetWriteBuffer(int) error }); ok {
		_ = tc.SetWriteBuffer(roomSendBuffer)
	}
}

// refusedWhileDraining answers 503 once the server drains (as /relay does); the sockets already
// open are closed (1001) by Shutdown.
func (s *Server) refusedWhileDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// normalizeCode is a room code as someone typed it, in the form codes take: capitals, without
// the spaces and dashes a code read out may be written with.
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return unicode.ToUpper(r)
	}, strings.TrimSpace(code))
}

// roomNotFound is the 404 page of an unknown or expired room code.
func roomNotFound(w http.ResponseWriter, code string, grace time.Duration) {
	if grace <= 0 {
		grace = 10 * time.Minute
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>No such room</title></head>`+
		`<body><h1>No room %s</h1><p data-testid="room-not-found">There is no workshop room with the code %s on this server: `+
		`check the code, or it may have expired (a room ends %s after its last member left).</p>`+
		`<form action="/join" method="get" data-testid="room-code-form"><label for="join-code">Another code</label> `+
		`<input id="join-code" name="code" data-testid="room-code-input" maxlength="12" autocomplete="off" spellcheck="false"> `+
		`<button type="submit" data-testid="room-code-go">Join</button></form>`+
		`<p><a href="/">wireplay</a></p></body></html>`, html.EscapeString(code), html.EscapeString(code), grace)
}

// closeRooms closes the room and chat sockets (1001) and stops the rooms' lessons; Shutdown
// calls it.
func (s *Server) closeRooms() {
	if s.rooms != nil {
		s.rooms.Close()
	}
	if s.chat != nil {
		s.chat.Close()
	}
	if s.ownBroker != nil {
		s.ownBroker.Close()
	}
}

// roomLesson is the rooms' Runner: a lesson run as /relay runs one (handleScenario), in one of the
// same server-wide lesson slots, its events passed to the room. It takes a free slot or none: a
// room's run is one for the whole room, so it does not wait in the pages' queue behind them, and
// the instructor is told the server is busy when every slot runs.
func (r *relay) roomLesson(sr protocol.ScenarioRequest) (func(context.Context, func(protocol.Event)) (*protocol.ScenarioReport, error), error) {
	sc := scenarios.Lookup(sr.Name)
	if sc == nil {
		return nil, fmt.Errorf("scenario: unknown scenario %q", sr.Name)
	}
	ls, err := linkspec.Resolve(linkspec.Spec{Preset: sr.Preset, Up: sr.Up, Down: sr.Down, Seed: sr.Seed}, sc.Preset)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if !r.lessons.claim() {
		return nil, busyError(fmt.Sprintf("scenario: %d lessons are already running on this server; try again in a moment", maxScenarioRuns))
	}
	return func(ctx context.Context, progress func(protocol.Event)) (*protocol.ScenarioReport, error) {
		defer r.lessons.release()
		ctx, cancel := context.WithTimeout(ctx, scenarioRunLimit)
		defer cancel()
		stop := context.AfterFunc(r.ctx, cancel) // the relay's shutdown ends it too
		defer stop()
		opt := scenarios.Options{Preset: ls.Name(), Settings: &ls.Settings, Seed: ls.Seed, Repeat: sr.Repeat, Params: sr.Params,
			Progress: progress, Epoch: time.Now()}
		rep, err := scenarios.Run(ctx, sc, opt)
		if err != nil && r.ctx.Err() != nil {
			return nil, errors.New("the server is shutting down")
		}
		return rep, err
	}, nil
}

// busyError is a refusal for want of a lesson slot: it is rooms.ErrBusy.
type busyError string

func (e busyError) Error() string { return string(e) }
func (e busyError) Unwrap() error { return rooms.ErrBusy }

// claim takes a lesson slot for a room's lesson, outside the queue: false when every slot is
// taken.
func (q *lessonQueue) claim() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running >= maxScenarioRuns {
		return false
	}
	q.running++
	return true
}

// release gives back a slot claim took, and starts whoever waits.
func (q *lessonQueue) release() {
	q.mu.Lock()
	q.running--
	told := q.advance()
	q.mu.Unlock()
	flushAll(told)
}

// roomSendPreset is the room page's link for the instructor's message by default: clear delays,
// no loss.
const roomSendPreset = "lab-25ms"

// roomSendPresets are the links the room page offers for the instructor's message.
func roomSendPresets() []protocol.PresetInfo { return presetInfos }
