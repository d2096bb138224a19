package chat_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/broker/natsbroker"
	"github.com/wireplay/wireplay/protocol"
)

// natsBus runs a real nats-server in this process on a loopback TCP port and returns a function
// that dials a new connection to it.
func natsBus(t *testing.T) func() broker.Broker { return natsBusTB(t) }

func natsBusB(b *testing.B) func() broker.Broker { return natsBusTB(b) }

func natsBusTB(t testing.TB) func() broker.Broker {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return func() broker.Broker {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		b, err := natsbroker.Dial(ctx, ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
}

func memoryBus(t *testing.T) func() broker.Broker {
	m := broker.NewMemory()
	return func() broker.Broker {
		b := m.Connect()
		t.Cleanup(func() { b.Close() })
		return b
	}
}

// presence follows a client's view of who is in the room: the welcome's list, then joined and
// left.
func presence(evs []protocol.ChatEvent) string {
	in := map[string]bool{}
	for _, e := range evs {
		switch e.Type {
		case protocol.ChatWelcome:
			for _, m := range e.Members {
				in[m.Name] = true
			}
		case protocol.ChatJoined:
			in[e.Name] = true
		case protocol.ChatLeft:
			delete(in, e.Name)
		}
	}
	var out []string
	for n := range in {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// fromEach splits message texts "<sender>-<n>" by sender.
func fromEach(texts []string) map[string][]string {
	out := map[string][]string{}
	for _, s := range texts {
		who, _, _ := strings.Cut(s, "-")
		out[who] = append(out[who], s)
	}
	return out
}

func seq(who string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%03d", who, i))
	}
	return out
}

// Hubs on different broker instances (two connections to one nats-server, or two instances of
// one Memory bus) share a room: presence, messages in each sender's order, mutes and removals
// cross, and a hub that opens the room late learns its members and history from the others.
func TestCrossInstance(t *testing.T) {
	for name, bus := range map[string]func(*testing.T) func() broker.Broker{"nats": natsBus, "memory": memoryBus} {
		t.Run(name, func(t *testing.T) {
			connect := bus(t)
			a := newServer(t, connect(), fast)
			b := newServer(t, connect(), fast)
			teacher, _ := join(t, a, "R1", "Teacher", true)
			ada, _ := join(t, a, "R1", "Ada", false)
			bo, _ := join(t, b, "R1", "Bo", false)
			for _, cl := range []*client{teacher, ada, bo} {
				cl.waitUntil("everyone present", func(evs []protocol.ChatEvent) bool { return presence(evs) == "Ada,Bo,Teacher" })
			}
			// The name is taken across instances too.
			dup := dial(t, b, "room=R1", true, nil)
			dup.send(protocol.ChatRequest{Type: protocol.ChatJoin, Name: "ada"})
			dup.waitFor("name_taken", isError(protocol.ChatErrNameTaken))

			var wg sync.WaitGroup
			for _, p := range []struct {
				cl  *client
				who string
			}{{ada, "ada"}, {bo, "bo"}} {
				wg.Go(func() {
					for _, m := range seq(p.who, 50) {
						p.cl.say(m)
					}
				})
			}
			wg.Wait()
			for _, cl := range []*client{teacher, ada, bo} {
				evs := cl.waitUntil("100 messages", func(evs []protocol.ChatEvent) bool { return len(messages(evs)) == 100 })
				got := fromEach(messages(evs))
				if !equal(got["ada"], seq("ada", 50)) || !equal(got["bo"], seq("bo", 50)) {
					t.Fatalf("per-sender order broken: %d from ada, %d from bo", len(got["ada"]), len(got["bo"]))
				}
			}

			// The moderator on instance A mutes a member on instance B; B enforces it.
			teacher.send(protocol.ChatRequest{Type: protocol.ChatMute, Name: "Bo"})
			bo.waitFor("muted", about(protocol.ChatMuted, "Bo"))
			bo.say("still here?")
			bo.waitFor("refused", isError(protocol.ChatErrMuted))

			// A third instance opens the room late: it asks the others and merges their state.
			c := newServer(t, connect(), fast)
			cy, _ := join(t, c, "R1", "Cy", false)
			evs := cy.waitUntil("the room's members and history", func(evs []protocol.ChatEvent) bool {
				var h []protocol.ChatEvent
				for _, e := range evs {
					if e.Type == protocol.ChatWelcome || e.Type == protocol.ChatHistory {
						h = e.History
					}
				}
				return presence(evs) == "Ada,Bo,Cy,Teacher" && len(h) == 100
			})
			for _, e := range evs {
				if e.Type == protocol.ChatHistory {
					got := fromEach(messages(e.History))
					if !equal(got["ada"], seq("ada", 50)) || !equal(got["bo"], seq("bo", 50)) {
						t.Fatal("merged history lost per-sender order")
					}
				}
			}
			teacher.waitFor("joined Cy", about(protocol.ChatJoined, "Cy"))

			// Removal crosses instances: the member on C is closed with 1008.
			teacher.send(protocol.ChatRequest{Type: protocol.ChatRemove, Name: "Cy"})
			if st := cy.closeStatus(); st != websocket.StatusPolicyViolation {
				t.Fatalf("removed member on another instance closed with %v", st)
			}
			// Leaving crosses too.
			bo.c.Close(websocket.StatusNormalClosure, "")
			for _, cl := range []*client{teacher, ada} {
				cl.waitUntil("Bo and Cy gone", func(evs []protocol.ChatEvent) bool { return presence(evs) == "Ada,Teacher" })
			}
		})
	}
}

// Two hubs that let one name in at the same moment settle it the same way everywhere: the member
// with the smaller id keeps it, and the other's hub refuses its member (name_taken, then 1008).
// The other hub's join is forged here on the broker, as that hub would publish it, with id "0",
// smaller than any real member id.
func TestNameRaceAcrossInstances(t *testing.T) {
	m := broker.NewMemory()
	s := newServer(t, m, fast)
	ada, _ := join(t, s, "R1", "Ada", false)
	bo, _ := join(t, s, "R1", "Bo", false)
	ada.waitFor("joined Bo", about(protocol.ChatJoined, "Bo"))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := m.Connect().Publish(ctx, "wireplay.chat.R1", []byte(`{"k":"join","hub":"other","member":"0","name":"ada"}`)); err != nil {
		t.Fatal(err)
	}
	ada.waitFor("name_taken", isError(protocol.ChatErrNameTaken))
	if st := ada.closeStatus(); st != websocket.StatusPolicyViolation {
		t.Fatalf("losing member closed with %v, want 1008", st)
	}
	// Bo sees no one leave: the name stays in the room, held by the winner.
	bo.say("still two of us")
	evs := bo.waitUntil("own message", func(evs []protocol.ChatEvent) bool { return len(messages(evs)) == 1 })
	if count(evs, is(protocol.ChatLeft)) != 0 || presence(evs) != "Ada,Bo" {
		t.Fatalf("Bo's view %+v", evs)
	}
}

// TestHubLost: a hub that dies without Close (its connection to the bus cut, so it can neither
// say its members left nor beat) has its members taken out of the room by the other hubs, with
// reason "lost".
func TestHubLost(t *testing.T) {
	for name, bus := range map[string]func(*testing.T) func() broker.Broker{"nats": natsBus, "memory": memoryBus} {
		t.Run(name, func(t *testing.T) {
			connect := bus(t)
			opts := fast
			opts.Beat = 50 * time.Millisecond
			a := newServer(t, connect(), opts)
			bb := connect()
			b := newServer(t, bb, opts)
			ada, _ := join(t, a, "R1", "Ada", false)
			bo, _ := join(t, b, "R1", "Bo", false)
			for _, cl := range []*client{ada, bo} {
				cl.waitUntil("both present", func(evs []protocol.ChatEvent) bool { return presence(evs) == "Ada,Bo" })
			}
			if err := bb.Close(); err != nil {
				t.Fatal(err)
			}
			e := ada.waitFor("Bo lost", about(protocol.ChatLeft, "Bo"))
			if e.Reason != protocol.ChatLeftLost {
				t.Fatalf("Bo left with %+v, want reason lost", e)
			}
			// Ada's hub goes on beating: she stays, and a newcomer on it sees her alone.
			_, w := join(t, a, "R1", "Cy", false)
			if names(w.Members) != "Ada,Cy" {
				t.Fatalf("the room after B was lost: %s", names(w.Members))
			}
		})
	}
}
