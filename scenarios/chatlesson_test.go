package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestChatLesson: one room, WebSocket and line members: every member gets every member's
// messages in each sender's order (counted, not timed); each WebSocket read is one message; a
// read buffer smaller than a line makes line reads end mid-message; the conclusion states this
// run's counts.
func TestChatLesson(t *testing.T) {
	sc := Lookup("chat")
	if sc == nil {
		t.Fatal("chat lesson not registered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, sc, Options{Params: map[string]string{"ws_members": "3", "line_members": "2", "messages": "4", "read_buffer": "16"}})
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Runs[0]
	metric := func(kind, name string) float64 {
		for _, m := range res.Metrics {
			if m.Transport == kind && m.Name == name {
				return m.Value
			}
		}
		t.Fatalf("no metric %s %s", kind, name)
		return 0
	}
	const members, msgs = 5, 4
	for kind, n := range map[string]int{clWS: 3, clLine: 2} {
		if got := metric(kind, "messages_received"); got != float64(n*members*msgs) {
			t.Errorf("%s members received %v messages, want %d", kind, got, n*members*msgs)
		}
		if l, r := metric(kind, "lost"), metric(kind, "reordered"); l != 0 || r != 0 {
			t.Errorf("%s: %v lost, %v out of order", kind, l, r)
		}
	}
	if reads := metric(clWS, "reads"); reads != float64(3*members*msgs) {
		t.Errorf("WebSocket members made %v reads for %d messages: one read is one message", reads, 3*members*msgs)
	}
	// Every line is longer than 16 bytes ("<ws1> ws1 says hello #0"): a 16-byte read cannot hold one.
	split := metric(clLine, "reads_mid_message")
	if split < float64(2*members*msgs) {
		t.Errorf("line members' reads ended mid-message %v times, want at least one per message (%d)", split, 2*members*msgs)
	}
	// A line costs its text and its newline, and nothing else: "<ws1> ws1 says hello #0\n".
	if got, want := metric(clLine, "bytes_per_message"), float64(len("<ws1> "+clText("ws1", 0)+"\n")); got != want {
		t.Errorf("a line cost %v bytes read, want %v (its text and newline)", got, want)
	}
	for _, want := range []string{"all 20", "read 60 messages in 60 reads", "part of a line"} {
		if !strings.Contains(res.Conclusion, want) {
			t.Errorf("conclusion lacks %q: %s", want, res.Conclusion)
		}
	}
}
