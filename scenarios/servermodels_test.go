package scenarios

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestServerModelsDefault: with one client holding its connection, the iterative server accepts
// none of the others until it has closed it (its log's order) and their first reply takes over
// ten times the concurrent models' (longer than the process model's, whose first replies wait
// for a child to start); every concurrent model accepts all of them meanwhile. For
// idle connections a goroutine per connection holds one goroutine each and the epoll loop none,
// the process model one child each, and an idle connection costs the loop less memory than a
// goroutine and a goroutine less than a process.
func TestServerModelsDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := runDefault(t, "server-models")
	others := 7.0 // clients 8, one slow
	if v := mvMetric(t, r, "iterative", "others_accepted_during_hold"); v != 0 {
		t.Errorf("iterative accepted %g others while the slow client held", v)
	}
	if v := mvMetric(t, r, "iterative", "accept_queue_max"); v < 1 {
		t.Errorf("iterative: longest accept queue %g, want the waiting clients in it", v)
	}
	it := mvMetric(t, r, "iterative", "first_reply_p50_ms")
	for _, m := range []string{"epoll", "goroutine", "pool", "process"} {
		if v := mvMetric(t, r, m, "others_accepted_during_hold"); v != others {
			t.Errorf("%s accepted %g of %g others while the slow client held", m, v, others)
		}
		// A child process's start is in each of its first replies (tens of ms, more under
		// -race): it is only held to being quicker than waiting for the slow client.
		ratio := 10.0
		if m == "process" {
			ratio = 1
		}
		if v := mvMetric(t, r, m, "first_reply_p50_ms"); it <= ratio*v {
			t.Errorf("iterative first reply p50 %g ms is not over %g× %s's %g ms", it, ratio, m, v)
		}
	}
	for _, m := range []string{"iterative", "epoll", "goroutine", "pool", "process"} {
		if v := mvMetric(t, r, m, "clients_failed"); v != 0 {
			t.Errorf("%s: %g clients failed", m, v)
		}
		want := 0.0
		if m == "process" {
			want = 1
		}
		if v := mvMetric(t, r, m, "processes_per_conn"); v != want {
			t.Errorf("%s: %g processes per connection, want %g", m, v, want)
		}
	}
	if v := mvMetric(t, r, "goroutine", "goroutines_per_conn"); v < 0.9 {
		t.Errorf("goroutine per connection: %g goroutines per idle connection", v)
	}
	if v := mvMetric(t, r, "epoll", "goroutines_per_conn"); v > 0.1 {
		t.Errorf("epoll loop: %g goroutines per idle connection", v)
	}
	ep, gr, pr := mvMetric(t, r, "epoll", "bytes_per_idle_conn"), mvMetric(t, r, "goroutine", "bytes_per_idle_conn"), mvMetric(t, r, "process", "bytes_per_idle_conn")
	if ep >= gr || gr >= pr {
		t.Errorf("bytes per idle connection: epoll %g, goroutine %g, process %g: want increasing", ep, gr, pr)
	}
	if w, a := mvMetric(t, r, "tcp", "partial_write_bytes"), mvMetric(t, r, "tcp", "partial_write_asked_bytes"); w <= 0 || w >= a {
		t.Errorf("partial write took %g of %g bytes", w, a)
	}
}

// TestServerModelsPoolSaturated: with one worker, the slow client — trickling a byte now and
// then, each echoed — holds the whole pool, and the others wait as they do for the iterative
// server: over ten times a goroutine per connection's first reply in the same run.
func TestServerModelsPoolSaturated(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, err := Run(context.Background(), Lookup("server-models"), Options{Seed: 1, Params: map[string]string{"models": "pool,goroutine", "workers": "1", "idle": "20", "slow": "trickle", "trickle": "50ms"}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	t.Log(r.Conclusion)
	p, g := mvMetric(t, r, "pool", "first_reply_p50_ms"), mvMetric(t, r, "goroutine", "first_reply_p50_ms")
	if p < 10*g {
		t.Errorf("one-worker pool's first reply p50 %g ms is not over 10× goroutine's %g ms", p, g)
	}
	if v := mvMetric(t, r, "pool", "slow_bytes_echoed"); v < 1 {
		t.Errorf("the trickling slow client had %g bytes echoed while it held the worker", v)
	}
	// The acceptor takes one connection and waits with it for the busy worker: at most one.
	if v := mvMetric(t, r, "pool", "others_accepted_during_hold"); v > 1 {
		t.Errorf("one-worker pool accepted %g others while the slow client held", v)
	}
}

// TestServerModelsOnLink: on the emulated link, with the readiness loop on netstack's waiter
// queues, the same holds: the iterative server accepts none of the others while the slow client
// holds, the loop accepts them all, with no goroutine per connection, and their first reply is
// over ten times quicker than the iterative server's.
func TestServerModelsOnLink(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, err := Run(context.Background(), Lookup("server-models"), Options{Seed: 1, Params: map[string]string{"network": "link", "models": "iterative,epoll,goroutine,process", "idle": "50"}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	t.Log(r.Conclusion)
	if v := mvMetric(t, r, "iterative", "others_accepted_during_hold"); v != 0 {
		t.Errorf("iterative accepted %g others while the slow client held", v)
	}
	if v := mvMetric(t, r, "epoll", "others_accepted_during_hold"); v != 7 {
		t.Errorf("netstack loop accepted %g of 7 others while the slow client held", v)
	}
	if it, ep := mvMetric(t, r, "iterative", "first_reply_p50_ms"), mvMetric(t, r, "epoll", "first_reply_p50_ms"); it < 10*ep {
		t.Errorf("iterative first reply p50 %g ms is not over 10× the loop's %g ms", it, ep)
	}
	if v := mvMetric(t, r, "epoll", "goroutines_per_conn"); v > 0.1 {
		t.Errorf("netstack loop: %g goroutines per idle connection", v)
	}
	if v := mvMetric(t, r, "goroutine", "goroutines_per_conn"); v < 0.9 {
		t.Errorf("goroutine per connection on the link: %g goroutines per idle connection", v)
	}
	for _, m := range r.Metrics {
		if m.Transport == "process" {
			t.Errorf("the process model ran on the link: %+v", m)
		}
	}
	if w, a := mvMetric(t, r, "link", "partial_write_bytes"), mvMetric(t, r, "link", "partial_write_asked_bytes"); w <= 0 || w >= a {
		t.Errorf("netstack partial write took %g of %g bytes", w, a)
	}
	if !strings.Contains(r.Conclusion, "Not run on the link: the process model") {
		t.Error("the conclusion does not say the process model was left out")
	}
}
