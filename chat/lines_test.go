package chat_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/chat"
	"github.com/wireplay/wireplay/protocol"
)

// lineClient is an nc-like client of the line protocol.
type lineClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialLines(t *testing.T, addr string) *lineClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &lineClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (lc *lineClient) send(line string) {
	lc.t.Helper()
	if _, err := lc.c.Write([]byte(line + "\n")); err != nil {
		lc.t.Fatal(err)
	}
}

// until reads lines until one starts with prefix, and returns it.
func (lc *lineClient) until(prefix string) string {
	lc.t.Helper()
	_ = lc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for range 1000 {
		line, err := lc.br.ReadString('\n')
		if err != nil {
			lc.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if line = strings.TrimRight(line, "\n"); strings.HasPrefix(line, prefix) {
			return line
		}
	}
	lc.t.Fatalf("no line %q in 1000", prefix)
	return ""
}

// TestLines: a plain TCP client (the line protocol, as nc speaks it) and a WebSocket member are
// in one room: each sees the other's messages and presence; refusals come as "!" lines and only
// that client is told; a line over the limit is refused without growing the server's buffer.
func TestLines(t *testing.T) {
	bus := broker.NewMemory()
	t.Cleanup(func() { bus.Close() })
	s := newServer(t, bus, chat.Options{Burst: 100, PerSecond: 100})
	ls := &chat.LineServer{Hub: s.hub, Room: func(name string) error {
		if name != "R1" {
			return errNoRoom
		}
		return nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ls.Serve(ln)
	t.Cleanup(func() {
		ln.Close()
		ls.Close()
	})

	bo, _ := join(t, s, "R1", "Bo", false)
	ada := dialLines(t, ln.Addr().String())
	ada.until("wireplay chat")
	ada.send("NOPE")
	ada.until("! no_such_room")
	ada.until("wireplay chat")
	ada.send("R1")
	ada.until("your name?")
	ada.send("bo")
	ada.until("! " + protocol.ChatErrNameTaken)
	ada.until("wireplay chat")
	ada.send("R1")
	ada.until("your name?")
	ada.send("Ada")
	if w := ada.until("* you are Ada"); !strings.Contains(w, "Ada") || !strings.Contains(w, "Bo") {
		t.Fatalf("welcome line %q", w)
	}
	bo.waitFor("Ada joined", about(protocol.ChatJoined, "Ada"))

	bo.say("hi Ada\nsecond line")
	ada.until("<Bo> hi Ada second line")
	ada.send("hello <b>Bo</b>")
	fromAda := func(e protocol.ChatEvent) bool { return e.Type == protocol.ChatMessage && e.From == "Ada" }
	if e := bo.waitFor("Ada's message", fromAda); e.Text != "hello <b>Bo</b>" {
		t.Fatalf("Bo got %+v", e)
	}
	ada.until("<Ada> hello <b>Bo</b>") // her own, back from the room

	ada.send(strings.Repeat("x", 5000))
	ada.until("! " + protocol.ChatErrTooLong)
	ada.send("/mute Bo")
	ada.until("! " + protocol.ChatErrForbidden)
	ada.send("/who")
	ada.until("* you are Ada; here: Ada, Bo")

	ada.send("/quit")
	if e := bo.waitFor("Ada left", about(protocol.ChatLeft, "Ada")); e.Reason != protocol.ChatLeftLeft {
		t.Fatalf("Ada left with %+v", e)
	}
}

var errNoRoom = errorString("no such room")

type errorString string

func (e errorString) Error() string { return string(e) }
