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
// lesson event and chat message in order, the flooder was refused, no member but the non-reader was dropped.
func TestLoadtestSelf(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"loadtest", "--self", "--rooms", "2", "--participants", "20", "--chat", "3", "--json"}, &out, &errOut)
	if code != 0 && code != 1 { // 1: a goal missed, which may be a time here
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	var res loadtest.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v (stderr %q)", out.String(), err, errOut.String())
	}
	if res.Rooms != 2 || res.Participants != 20 || res.MemorySource != "heap" {
		t.Errorf("rooms %d, participants %d, memory %q", res.Rooms, res.Participants, res.MemorySource)
	}
	// Each room's run makes its own number of events (the lesson's packets differ run to run):
	// every participant of a room receives each of its room's.
	if res.LessonEvents == 0 || res.LessonFanout.N != 20*res.LessonEventsAll {
		t.Errorf("%d lesson events in both rooms, %d receipts: want 20 participants × each", res.LessonEventsAll, res.LessonFanout.N)
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
	t.Logf("non-reader: socket %s; dropped %d; flooder %d of %d refused", res.NonReader, res.Dropped, res.FlooderRateLimited, res.FlooderSent)
	// The churn sends the non-reader more than the kernel's buffers of its socket hold (the
	// server narrows a room socket's send buffer): its queue fills (1008, counted) or its stuck
	// write times out (closed); no one else may be dropped.
	if res.Dropped > 1 {
		t.Errorf("the server dropped %d members for a full queue: only the non-reader does not read", res.Dropped)
	}
	if !res.NonReaderDropped() {
		t.Errorf("the non-reader was not dropped: counted %d, its socket %s", res.Dropped, res.NonReader)
	}
	for _, g := range res.Goals {
		if strings.HasPrefix(g.Name, "server memory") {
			t.Errorf("goal %q with an in-process server (the heap holds the clients too)", g.Name)
		}
	}
}
