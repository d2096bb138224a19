package server_test

import (
	"strings"
	"testing"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// TestRelayLocalTransports: in kernel mode the welcome offers the Unix stream and the pipe beside
// the five; a send that names them comes back intact over each (what the page's col-unix and
// col-pipe show); one that names none reaches the five alone; on the emulated link they are
// refused, each with one error naming it.
func TestRelayLocalTransports(t *testing.T) {
	s := startServer(t, server.Config{})
	rc, w := dialRelayWelcome(t, s)
	if strings.Join(trNames(w.Local), ",") != "unix,pipe" {
		t.Fatalf("welcome offers local %v, want unix,pipe", w.Local)
	}
	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 1, Text: "beside the network", Transports: []protocol.Transport{protocol.Unix, protocol.Pipe}})
	complete := map[protocol.Transport]protocol.Event{}
	connected := map[protocol.Transport]string{}
	rc.until(func(e protocol.Event) bool {
		switch e.Type {
		case protocol.EventConnected:
			connected[e.Transport] = e.Handshake
		case protocol.EventComplete:
			complete[e.Transport] = e
		case protocol.EventError:
			t.Errorf("error event: %+v", e)
		}
		if e.Transport != protocol.Unix && e.Transport != protocol.Pipe {
			t.Errorf("event for a transport not asked for: %+v", e)
		}
		return len(complete) == 2
	})
	for tr, hs := range map[protocol.Transport]string{protocol.Unix: protocol.HandshakeUnix, protocol.Pipe: protocol.HandshakePipe} {
		if e := complete[tr]; e.Text != "beside the network" || e.Req != 1 || e.DurMicros <= 0 {
			t.Errorf("%s: complete %+v", tr, e)
		}
		if connected[tr] != hs {
			t.Errorf("%s: handshake %q, want %q", tr, connected[tr], hs)
		}
	}

	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 2, Text: "the five"})
	done := map[protocol.Transport]bool{}
	rc.until(func(e protocol.Event) bool {
		if e.Transport.IsLocal() {
			t.Errorf("a send naming no transport reached %s: %+v", e.Transport, e)
		}
		if e.Type == protocol.EventComplete && e.Req == 2 {
			done[e.Transport] = true
		}
		return len(done) == len(protocol.Transports)
	})

	rc.switchLink(3, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "clean"}, nil)
	rc.send(protocol.Request{Type: protocol.TypeSend, ID: 4, Text: "on the link", Transports: []protocol.Transport{protocol.Unix, protocol.Pipe, protocol.TCP}})
	refused := map[protocol.Transport]int{}
	tcpDone := false
	rc.until(func(e protocol.Event) bool {
		if e.Req != 4 {
			return false
		}
		switch {
		case e.Type == protocol.EventError && e.Transport.IsLocal():
			refused[e.Transport]++
			if !strings.Contains(e.Error, "does not cross the emulated link") {
				t.Errorf("%s refused with %q", e.Transport, e.Error)
			}
		case e.Transport.IsLocal():
			t.Errorf("a local transport on the link: %+v", e)
		case e.Type == protocol.EventComplete && e.Transport == protocol.TCP:
			tcpDone = true
		}
		return tcpDone && len(refused) == 2
	})
	if refused[protocol.Unix] != 1 || refused[protocol.Pipe] != 1 {
		t.Errorf("refusals %v, want one each", refused)
	}
}

func trNames(ts []protocol.Transport) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t))
	}
	return out
}
