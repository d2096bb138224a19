package zeromq

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// libzmqScript is a libzmq client (pyzmq): a REQ sends one two-frame request and prints the reply;
// a SUB on one topic prints each message it receives, n of them.
const libzmqScript = `
import json, sys, zmq
rep_ep, pub_ep, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = zmq.Context()
req = ctx.socket(zmq.REQ)
req.setsockopt(zmq.RCVTIMEO, 5000)
req.setsockopt(zmq.LINGER, 0)
req.connect(rep_ep)
req.send_multipart([b"hello", b"libzmq " + zmq.zmq_version().encode()])
print(json.dumps({"reply": [f.decode() for f in req.recv_multipart()]}), flush=True)
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.RCVTIMEO, 5000)
sub.setsockopt(zmq.LINGER, 0)
sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
sub.connect(pub_ep)
for _ in range(n):
    print(json.dumps({"sub": [f.decode() for f in sub.recv_multipart()]}), flush=True)
ctx.destroy(linger=0)
`

// python is /usr/bin/python3 with pyzmq; without it the test is skipped, except on CI
// (CI=true), where .ci/run installs python3-zmq and its absence is a failure.
func python(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	out, err := exec.Command(py, "-c", "import zmq; print(zmq.zmq_version())").CombinedOutput()
	if err != nil {
		msg := "libzmq interop needs /usr/bin/python3 with pyzmq (Debian python3-zmq): " + strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Logf("libzmq %s", strings.TrimSpace(string(out)))
	return py
}

// TestLibzmqInterop: a libzmq REQ gets its request back from the REP echo, frame for frame, and a
// libzmq SUB on "news" receives messages on "news" alone, numbered in rising order.
func TestLibzmqInterop(t *testing.T) {
	py := python(t)
	echo, err := ListenEcho("tcp://127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go echo.Serve()
	pub, err := ListenPub("tcp://127.0.0.1:0", PubConfig{Topics: []string{"clock", "news", "newsletter", "weather"}, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	go pub.Serve()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 20
	cmd := exec.CommandContext(ctx, py, "-c", libzmqScript, "tcp://"+echo.Addr().String(), "tcp://"+pub.Addr().String(), "news", "20")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("libzmq client: %v\n%s", err, out)
	}
	var reply []string
	var subs [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var v struct {
			Reply []string `json:"reply"`
			Sub   []string `json:"sub"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if v.Reply != nil {
			reply = v.Reply
		}
		if v.Sub != nil {
			subs = append(subs, v.Sub)
		}
	}
	if len(reply) != 2 || reply[0] != "hello" || !strings.HasPrefix(reply[1], "libzmq ") {
		t.Errorf("REQ reply %q, want the request [hello, libzmq …]", reply)
	}
	if echo.Served() != 1 {
		t.Errorf("echo served %d requests, want 1", echo.Served())
	}
	if len(subs) != n {
		t.Fatalf("SUB received %d messages, want %d", len(subs), n)
	}
	// "news" is a prefix of "newsletter": ZeroMQ's subscriptions match prefixes.
	topics := map[string]int{}
	last := map[string]int{}
	for _, m := range subs {
		if len(m) != 2 {
			t.Fatalf("message %q: want [topic, n]", m)
		}
		topics[m[0]]++
		var k int
		if err := json.Unmarshal([]byte(m[1]), &k); err != nil {
			t.Fatalf("message %q: n: %v", m, err)
		}
		if k <= last[m[0]] {
			t.Errorf("message %q after round %d on the same topic", m, last[m[0]])
		}
		last[m[0]] = k
	}
	t.Logf("SUB news: %v", topics)
	for tp := range topics {
		if tp != "news" && tp != "newsletter" {
			t.Errorf("SUB on news received topic %q", tp)
		}
	}
	if topics["news"] == 0 || topics["newsletter"] == 0 {
		t.Errorf("SUB on news: %v, want both news and newsletter (prefix match)", topics)
	}
}
