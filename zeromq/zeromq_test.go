package zeromq

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// TestEchoTransports: a zmq4 REQ gets each of its requests back from the echo over tcp, ipc and
// the in-process pipe transport, in lockstep. (zmq4's own inproc:// leaks goroutines: its reads
// never end on Close and its Accept returns a pipe before anyone dials — see Pipe.)
func TestEchoTransports(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:0", "ipc://" + filepath.Join(t.TempDir(), "echo.sock"), "pipe://zeromq-test-echo"} {
		t.Run(ep[:3], func(t *testing.T) {
			echo, err := ListenEcho(ep, nil)
			if err != nil {
				t.Fatal(err)
			}
			go echo.Serve()
			dial := ep
			if a := echo.Addr(); a != nil && a.Network() == "tcp" {
				dial = "tcp://" + a.String()
			}
			req := zmq4.NewReq(context.Background())
			if err := req.Dial(dial); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for i := range 5 {
				want := fmt.Sprint("ping ", i)
				if err := Send(ctx, req, []byte(want)); err != nil {
					t.Fatal(err)
				}
				m, err := Recv(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if got := Frames(m); len(got) != 1 || got[0] != want {
					t.Fatalf("reply %q, want [%s]", got, want)
				}
			}
			Close(req)
			if err := echo.Close(); err != nil {
				t.Error(err)
			}
			if echo.Served() != 5 {
				t.Errorf("served %d, want 5", echo.Served())
			}
		})
	}
}

// TestPubRestart makes the PUB socket again, as the watchdog does when zmq4#151 bites: the new
// socket listens on the same port, and a subscriber dialled afterwards receives rounds numbered
// after the ones before the restart.
func TestPubRestart(t *testing.T) {
	p, err := ListenPub("tcp://127.0.0.1:0", PubConfig{Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	go p.Serve()
	addr := p.Addr().String()
	time.Sleep(50 * time.Millisecond)
	if err := p.restart(); err != nil {
		t.Fatal(err)
	}
	if got := p.Addr().String(); got != addr {
		t.Fatalf("restarted on %s, want %s", got, addr)
	}
	before := p.Rounds()
	sub := zmq4.NewSub(context.Background())
	defer Close(sub)
	if err := sub.Dial("tcp://" + addr); err != nil {
		t.Fatal(err)
	}
	sub.SetOption(zmq4.OptionSubscribe, "news")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := Recv(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	f := Frames(m)
	n, _ := strconv.ParseInt(f[1], 10, 64)
	if f[0] != "news" || n < before {
		t.Errorf("after restart got %q, want news with round ≥ %d", f, before)
	}
	if p.Restarts() != 1 {
		t.Errorf("restarts %d, want 1", p.Restarts())
	}
}

// TestPubWatchdog: when the publisher's own subscriber stops hearing it (here its connection is
// cut, as zmq4#151 leaves a PUB that delivers nothing), the publisher makes its socket again and
// delivers to new subscribers.
func TestPubWatchdog(t *testing.T) {
	p, err := ListenPub("tcp://127.0.0.1:0", PubConfig{Interval: 10 * time.Millisecond, Check: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	go p.Serve()
	p.mu.Lock()
	Close(p.canary)
	p.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for p.Restarts() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Restarts() == 0 {
		t.Fatal("the publisher did not notice that its own subscriber hears nothing")
	}
	sub := zmq4.NewSub(context.Background())
	defer Close(sub)
	if err := sub.Dial("tcp://" + p.Addr().String()); err != nil {
		t.Fatal(err)
	}
	sub.SetOption(zmq4.OptionSubscribe, "clock")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Recv(ctx, sub); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}
