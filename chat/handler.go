package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/protocol"
)

// Handler serves a chat room over WebSocket: one connection is one member, speaking the protocol
// documented at protocol.ChatJoin.
type Handler struct {
	Hub *Hub
	// Room names the room a request joins and whether its member is the room's moderator; an
	// error refuses the request with 403. Nil: the room is the "room" query parameter and nobody
	// is moderator.
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
	h := hd.Hub

	// Until it has joined, the client is answered directly, up to maxRefusedJoins times.
	var m *member
	for refused := 0; m == nil; refused++ {
		if refused == maxRefusedJoins {
			c.Close(websocket.StatusPolicyViolation, "too many refused requests before joining")
			return
		}
		req, ok, rerr := read(ctx, c)
		if !ok {
			c.CloseNow()
			return
		}
		if rerr == nil && req.Type != protocol.ChatJoin {
			rerr = &errJoin{protocol.ChatErrNotJoined, "join first: {\"v\":1,\"type\":\"join\",\"name\":\"...\"}"}
		}
		if rerr == nil {
			m, rerr = h.join(ctx, roomName, req.Name, moderator, func() {
				c.Close(websocket.StatusPolicyViolation, "too slow to keep up with the room's messages")
			})
		}
		if rerr != nil {
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
				return
			}
		}
	}

	written := make(chan struct{})
	go func() {
		defer close(written)
		m.write(c)
	}()
	for {
		req, ok, rerr := read(ctx, c)
		if !ok {
			break
		}
		if rerr != nil {
			m.refuse(protocol.ChatErrBadRequest, rerr.Error())
			continue
		}
		m.handle(ctx, req)
	}
	h.leave(m, protocol.ChatLeftLeft)
	<-written
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

// write sends m's queue to its connection until the queue is closed, then closes the connection
// with the code finish chose. A dropped member's connection is closed by closeSlow instead.
func (m *member) write(c *websocket.Conn) {
	timeout := m.r.h.opts.WriteTimeout
	for {
		select {
		case <-m.slow:
			return
		default:
		}
		msg, open := <-m.queue
		if !open {
			select {
			case <-m.slow:
			default:
				c.Close(websocket.StatusCode(m.closeCode), m.closeReason)
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := c.Write(ctx, websocket.MessageText, msg)
		cancel()
		if err != nil {
			c.CloseNow()
			return
		}
	}
}
