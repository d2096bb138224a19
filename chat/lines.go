package chat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wireplay/wireplay/internal/wsqueue"
	"github.com/wireplay/wireplay/protocol"
)

// LineServer serves the hub's rooms over plain TCP, one text line per message, so that `nc` can
// join (protocol.ChatLines documents it). It is the same room as Handler's WebSocket members
// and a workshop room's pages: what one says, all see.
type LineServer struct {
	Hub *Hub
	// Room checks the room a client asks for; an error refuses it (told, then asked again).
	// Nil: any valid room name.
	Room func(name string) error
	// Admit, when set, is asked for each connection accepted: an error refuses it (told in a
	// line, then closed); release is called when it closes.
	Admit func(c net.Conn) (release func(), err error)

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// maxLineTries bounds the room and name answers refused before a client has joined.
const maxLineTries = 5

// Serve accepts connections on ln until it fails (ln closed) and serves each.
func (ls *LineServer) Serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		release := func() {}
		if ls.Admit != nil {
			if release, err = ls.Admit(c); err != nil {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = io.WriteString(c, "! refused: "+err.Error()+"\n")
				c.Close()
				continue
			}
		}
		ls.mu.Lock()
		if ls.conns == nil {
			ls.conns = map[net.Conn]struct{}{}
		}
		ls.conns[c] = struct{}{}
		ls.mu.Unlock()
		go func() {
			defer func() {
				ls.mu.Lock()
				delete(ls.conns, c)
				ls.mu.Unlock()
				c.Close()
				release()
			}()
			ls.serve(c)
		}()
	}
}

// Close closes every connection being served (Serve's listener is the caller's).
func (ls *LineServer) Close() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for c := range ls.conns {
		c.Close()
	}
}

func (ls *LineServer) serve(nc net.Conn) {
	h := ls.Hub
	lc := &lineConn{c: nc}
	br := bufio.NewReaderSize(nc, 512)
	maxLine := h.opts.MaxText + 64
	ctx := context.Background()
	say := func(s string) bool { return lc.writeLine(ctx, s) == nil }
	ask := func(prompt string) (string, bool) {
		if !say(prompt) {
			return "", false
		}
		_ = nc.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := readLine(br, maxLine)
		_ = nc.SetReadDeadline(time.Time{})
		return line, err == nil
	}
	var m *member
	for tries := 0; m == nil; tries++ {
		if tries == maxLineTries {
			say("! too many tries: bye")
			return
		}
		room, ok := ask("wireplay chat · which room? (a workshop room's code)")
		if !ok {
			return
		}
		room = strings.TrimSpace(room)
		if err := ls.checkRoom(room); err != nil {
			say("! " + err.Error())
			continue
		}
		name, ok := ask("your name?")
		if !ok {
			return
		}
		var err error
		m, err = h.join(ctx, room, name, false, func(m *member) {
			m.out = &wsqueue.Writer{Conn: lc, Max: h.opts.Queue, WriteTimeout: h.opts.WriteTimeout,
				SlowReason: "too slow to keep up with the room's messages"}
		})
		if err != nil {
			say("! " + Refusal(err) + ": " + err.Error())
		}
	}
	for {
		line, err := readLine(br, maxLine)
		if errors.Is(err, errLongLine) {
			m.refuse(protocol.ChatErrTooLong, fmt.Sprintf("a line is at most %d bytes", maxLine))
			continue
		}
		if err != nil {
			break
		}
		switch cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " "); cmd {
		case "":
		case "/quit":
			h.leave(m, protocol.ChatLeftLeft, true)
			return
		case "/who":
			m.r.mu.Lock()
			ms := m.r.members()
			m.r.mu.Unlock()
			m.tell(protocol.ChatEvent{Type: protocol.ChatWelcome, Name: m.name, Members: ms})
		case "/mute", "/unmute", "/remove":
			m.handle(ctx, protocol.ChatRequest{Type: cmd[1:], Name: arg})
		default:
			m.handle(ctx, protocol.ChatRequest{Type: protocol.ChatSay, Text: line})
		}
	}
	h.leave(m, protocol.ChatLeftLeft, true)
}

func (ls *LineServer) checkRoom(room string) error {
	if !ValidRoom(room) {
		return errors.New("bad_request: a room is named by 1 to 64 of A-Z a-z 0-9 _ -")
	}
	if ls.Room != nil {
		if err := ls.Room(room); err != nil {
			return fmt.Errorf("no_such_room: %w", err)
		}
	}
	return nil
}

var errLongLine = errors.New("line too long")

// readLine reads one line (without its "\n" or "\r\n"); a line longer than max is read to its
// end and refused (errLongLine), so one client cannot grow the buffer.
func readLine(br *bufio.Reader, max int) (string, error) {
	var b []byte
	long := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(b)+len(chunk) > max+2 {
				long, b = true, nil
			} else {
				b = append(b, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if err == io.EOF && len(b) > 0 && !long {
				return strings.TrimRight(string(b), "\r\n"), nil
			}
			return "", err
		}
		if long {
			return "", errLongLine
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

// lineConn writes a member's chat events as text lines (wsqueue.Conn: the member's bounded
// queue is the WebSocket members' own).
type lineConn struct {
	c  net.Conn
	mu sync.Mutex
}

func (lc *lineConn) writeLine(ctx context.Context, s string) error {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if d, ok := ctx.Deadline(); ok {
		_ = lc.c.SetWriteDeadline(d)
	} else {
		_ = lc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	}
	_, err := io.WriteString(lc.c, s+"\n")
	return err
}

// Write renders one encoded chat event as lines.
func (lc *lineConn) Write(ctx context.Context, _ websocket.MessageType, msg []byte) error {
	var e protocol.ChatEvent
	if err := json.Unmarshal(msg, &e); err != nil {
		return fmt.Errorf("chat line: %w", err)
	}
	return lc.writeLine(ctx, LineOf(e))
}

func (lc *lineConn) Close(_ websocket.StatusCode, reason string) error {
	if reason != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = lc.writeLine(ctx, "! closed: "+reason)
		cancel()
	}
	return lc.c.Close()
}

func (lc *lineConn) CloseNow() error { return lc.c.Close() }

// LineOf is a chat event as the line protocol writes it (protocol.ChatLines), without its "\n".
func LineOf(e protocol.ChatEvent) string {
	oneLine := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ") }
	switch e.Type {
	case protocol.ChatMessage:
		return "<" + e.From + "> " + oneLine(e.Text)
	case protocol.ChatWelcome:
		var names []string
		for _, m := range e.Members {
			names = append(names, m.Name)
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "* you are %s; here: %s", e.Name, strings.Join(names, ", "))
		if e.Limits != nil {
			fmt.Fprintf(&b, " (a line: %d bytes at most; %d at once, then %g a second; /who, /quit)", e.Limits.MaxText, e.Limits.Burst, e.Limits.PerSecond)
		}
		for _, h := range e.History {
			b.WriteString("\n<" + h.From + "> " + oneLine(h.Text))
		}
		return b.String()
	case protocol.ChatHistory:
		var lines []string
		for _, h := range e.History {
			lines = append(lines, "<"+h.From+"> "+oneLine(h.Text))
		}
		return strings.Join(lines, "\n")
	case protocol.ChatJoined:
		return "* " + e.Name + " joined"
	case protocol.ChatLeft:
		s := "* " + e.Name + " left"
		if e.Reason != "" && e.Reason != protocol.ChatLeftLeft {
			s += " (" + e.Reason + ")"
		}
		return s
	case protocol.ChatMuted:
		return "* " + e.Name + " was muted by " + e.By
	case protocol.ChatUnmuted:
		return "* " + e.Name + " may write again (" + e.By + ")"
	case protocol.ChatError:
		return "! " + e.Code + ": " + e.Error
	}
	return "* " + e.Type
}
