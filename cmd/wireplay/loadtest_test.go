package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wireplay/wireplay/loadtest"
)

// TestLoadtestSelf runs `wireplay loadtest --self` with small numbers and checks what it counted
// (not its times, which are benchmarks: BENCHMARKS.md): every participant of both rooms got every
// lesson event and chat message in order, the flooder was refused, the non-reader was dropped (on one of its sockets at least: which one
// fills its queue first varies).
func TestLoadtestSelf(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"loadtest", "--self", "--rooms", "2", "--participants", "20", "--chat", "3", "--json"}, &out, &errOut)
	if code != 0 && code != 1 { // 1: a goal missed, which may be a time here
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	var res loadtest.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if res.Rooms != 2 || res.Participants != 20 || res.MemorySource != "heap" {
		t.Errorf("rooms %d, participants %d, memory %q", res.Rooms, res.Participants, res.MemorySource)
	}
	if res.LessonEvents == 0 || res.LessonFanout.N != 2*20*res.LessonEvents {
		t.Errorf("%d lesson events, %d receipts: want 2×20 each", res.LessonEvents, res.LessonFanout.N)
	}
	if res.ChatFanout.N != 2*20*3 {
		t.Errorf("%d chat receipts, want 2×20×3", res.ChatFanout.N)
	}
	if res.LessonLost+res.LessonReord+res.ChatLost+res.ChatReord != 0 {
		t.Errorf("lesson lost %d reordered %d, chat lost %d reordered %d", res.LessonLost, res.LessonReord, res.ChatLost, res.ChatReord)
	}
	if res.FlooderRateLimited == 0 || res.FlooderAccepted > res.FlooderSent-res.FlooderRateLimited {
		t.Errorf("flooder sent %d, accepted %d, rate_limited %d", res.FlooderSent, res.FlooderAccepted, res.FlooderRateLimited)
	}
	t.Logf("non-reader: room %s; chat %s; flooder %d of %d refused", res.NonReaderRoom, res.NonReaderChat, res.FlooderRateLimited, res.FlooderSent)
	if !res.NonReaderDropped() {
		t.Errorf("non-reader: room socket %q, chat socket %q: want one dropped (1008, or closed)", res.NonReaderRoom, res.NonReaderChat)
	}
	for _, g := range res.Goals {
		if strings.HasPrefix(g.Name, "server memory") {
			t.Errorf("goal %q with an in-process server (the heap holds the clients too)", g.Name)
		}
	}
}
