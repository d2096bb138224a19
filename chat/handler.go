package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/internal/wsqueue"
	"github.com/wireplay/wireplay/protocol"
)

// Handler serves a chat room over WebSocket: one connection is one member, speaking the protocol
// documented at protocol.ChatJoin.
type Handler struct {
	Hub *Hub
	// Room names the room a request joins and whether its member is the room's moderator; an
	// error refuses the request with 403. Nil: the room is the "room" query parameter and nobody
	// is moderator. The hub opens any valid room name it is given, so Room should refuse the
	// rooms that do not exist.
	Room func(r *http.Request) (room string, moderator bool, err error)
	// AcceptOptions are passed to websocket.Accept (nil: same origin only).
	AcceptOptions *websocket.AcceptOptions
}

// maxRefusedJoins bounds the requests refused before a client has joined.
const maxRefusedJoins = 20

// ServeHTTP upgrades the request to a WebSocket and serves one member until it leaves.
func (hd *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	roomName, moderator := r.URL.Query().Get("room"), false
	if hd.Room != nil {
		var err error
		if roomName, moderator, err = hd.Room(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
	}
	if !ValidRoom(roomName) {
		http.Error(w, "a room is named by 1 to 64 of A-Z a-z 0-9 _ -", http.StatusBadRequest)
		return
	}
	c, err := websocket.Accept(w, r, hd.AcceptOptions)
	if err != nil {
		return
	}
	c.SetReadLimit(protocol.ChatMaxFrame)
	ctx := context.WithoutCancel(r.Context())
	if m := hd.awaitJoin(ctx, c, roomName, moderator); m != nil {
		m.serve(ctx)
	}
}

// awaitJoin answers the client directly until it has joined, up to maxRefusedJoins times. It
// returns nil, the connection closed, when the client never joined. (A function of its own: the
// stack it grows is given back while the member idles in serve.)
func (hd *Handler) awaitJoin(ctx context.Context, c *websocket.Conn, roomName string, moderator bool) *member {
	h := hd.Hub
	for refused := 0; refused < maxRefusedJoins; refused++ {
		req, ok, rerr := read(ctx, c)
		if !ok {
			c.CloseNow()
			return nil
		}
		if rerr == nil && req.Type != protocol.ChatJoin {
			rerr = &errJoin{protocol.ChatErrNotJoined, "join first: {\"v\":1,\"type\":\"join\",\"name\":\"...\"}"}
		}
		if rerr == nil {
			m, err := h.join(ctx, roomName, req.Name, moderator, func(m *member) {
				m.conn = c
				m.out = &wsqueue.Writer{Conn: c, Max: h.opts.Queue, WriteTimeout: h.opts.WriteTimeout,
					SlowReason: "too slow to keep up with the room's messages"}
			})
			if err == nil {
				return m
			}
			rerr = err
		}
		e := protocol.ChatEvent{Type: protocol.ChatError, Code: protocol.ChatErrBadRequest, Error: rerr.Error()}
		var ej *errJoin
		if errors.As(rerr, &ej) {
			e.Code = ej.code
		}
		wctx, cancel := context.WithTimeout(ctx, h.opts.WriteTimeout)
		err := c.Write(wctx, websocket.MessageText, encode(e))
		cancel()
		if err != nil {
			c.CloseNow()
			return nil
		}
	}
	c.Close(websocket.StatusPolicyViolation, "too many refused requests before joining")
	return nil
}

// serve reads the member's requests until its connection ends, then takes it out of the room.
func (m *member) serve(ctx context.Context) {
	for {
		req, ok, rerr := read(ctx, m.conn)
		if !ok {
			break
		}
		if rerr != nil {
			m.refuse(protocol.ChatErrBadRequest, rerr.Error())
			continue
		}
		m.handle(ctx, req)
	}
	m.r.h.leave(m, protocol.ChatLeftLeft, true)
}

// read reads one request; ok is false once the connection is done, and bad says why a request
// is refused.
func read(ctx context.Context, c *websocket.Conn) (req protocol.ChatRequest, ok bool, bad error) {
	typ, data, err := c.Read(ctx)
	if err != nil {
		return req, false, nil
	}
	if typ != websocket.MessageText {
		return req, true, errors.New("requests are JSON text frames")
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return req, true, fmt.Errorf("not a chat request: %v", err)
	}
	if req.V != protocol.Version {
		return req, true, fmt.Errorf("unsupported protocol version %d (want %d)", req.V, protocol.Version)
	}
	return req, true, nil
}
