package scenarios

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestPatternsDefault checks the lesson's claims on the counts of a default run (tcp over the
// link and inproc), and that no goroutine of zmq4's outlives it.
func TestPatternsDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := runDefault(t, "patterns")
	ptCheck(t, r, []string{"tcp", "inproc"}, 8, 3, 40, 10, 3)
	// Plain TCP: the application filters (it read every message) and shares tasks by turn.
	if v := mvMetric(t, r, "tcp", "sub_a_discarded"); v != 20 {
		t.Errorf("plain TCP subscriber on A discarded %g messages, want the 20 on B", v)
	}
	if v := mvMetric(t, r, "tcp", "push_spread"); v > 1 {
		t.Errorf("plain TCP round-robin spread %g, want at most 1", v)
	}
	if v := mvMetric(t, r, "tcp", "push_results"); v != 40 {
		t.Errorf("plain TCP tasks done %g, want 40", v)
	}
	if v := mvMetric(t, r, "tcp", "client_first_failed_dials"); v != 1 {
		t.Errorf("plain TCP connect before the server: %g failed, want 1", v)
	}
	if v := mvMetric(t, r, "zmq-tcp", "client_first_refused_dials"); v < 1 {
		t.Errorf("ZeroMQ client before server: %g refused dials, want at least 1", v)
	}
	if v := mvMetric(t, r, "zmq-tcp", "client_first_answered"); v != 1 {
		t.Errorf("ZeroMQ client before server: %g answered, want 1", v)
	}
	// High-water mark: ZeroMQ drops silently, TCP holds the writer back and loses nothing.
	sent, got := mvMetric(t, r, "zmq-tcp", "hwm_sent"), mvMetric(t, r, "zmq-tcp", "hwm_received")
	if e := mvMetric(t, r, "zmq-tcp", "hwm_send_errors"); e != 0 || got >= sent || got < 1 {
		t.Errorf("PUB past its HWM: %g of %g received with %g send errors; want some dropped, none refused", got, sent, e)
	}
	if w, g := mvMetric(t, r, "tcp", "hwm_written"), mvMetric(t, r, "tcp", "hwm_received"); w >= sent || g != w {
		t.Errorf("plain TCP burst: %g of %g written, %g read; want the writer blocked and nothing lost", w, sent, g)
	}
	if !strings.Contains(r.Conclusion, "stuck at request 3") {
		t.Errorf("conclusion does not say where the plain client was stuck: %s", r.Conclusion)
	}
}

// TestPatternsIPC runs the patterns over Unix sockets with other counts.
func TestPatternsIPC(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, err := Run(context.Background(), Lookup("patterns"), Options{Seed: 1, Params: map[string]string{
		"transports": "ipc", "requests": "5", "lost": "2", "messages": "21", "late": "7", "workers": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	ptCheck(t, rep.Runs[0], []string{"ipc"}, 5, 2, 21, 7, 2)
}

func ptCheck(t *testing.T, r *Result, trs []string, requests, lost, messages, late, workers int) {
	t.Helper()
	for _, tr := range append(trs, "") {
		m := func(name string) float64 {
			if tr == "" {
				return mvMetric(t, r, "tcp", name)
			}
			return mvMetric(t, r, "zmq-"+tr, name)
		}
		name := "ZeroMQ " + tr
		if tr == "" {
			name = "plain TCP"
		}
		// Request/reply: the plain client is stuck at the lost reply, the lazy pirate gets
		// everything answered with one retry on a second socket; every reply is its request's.
		if v := m("plain_stuck_at"); v != float64(lost) {
			t.Errorf("%s: plain client stuck at %g, want %d", name, v, lost)
		}
		if v := m("plain_answered"); v != float64(lost-1) {
			t.Errorf("%s: plain client answered %g, want %d", name, v, lost-1)
		}
		if a, rt, s := m("pirate_answered"), m("pirate_retries"), m("pirate_sockets"); a != float64(requests) || rt != 1 || s != 2 {
			t.Errorf("%s: lazy pirate answered %g with %g retries on %g sockets, want %d, 1, 2", name, a, rt, s, requests)
		}
		if v := m("plain_wrong_replies") + m("pirate_wrong_replies"); v != 0 {
			t.Errorf("%s: %g replies were not their request's", name, v)
		}
		// Broker: every request answered by its own reply, each by one worker.
		total := float64((workers + 1) * requests)
		if a, w, sum := m("broker_answered"), m("broker_wrong_replies"), m("broker_worker_sum"); a != total || w != 0 || sum != total {
			t.Errorf("%s: broker answered %g of %g (%g wrong), workers did %g", name, a, total, w, sum)
		}
		if tr == "" {
			continue
		}
		// Publish/subscribe: the ready subscriber gets every message on its topic and none
		// other; the late one misses at least those sent before it connected.
		onA := float64((messages + 1) / 2)
		if v := m("sub_a_received"); v != onA {
			t.Errorf("%s: subscriber on A received %g, want all %g on A", name, v, onA)
		}
		if v := m("sub_a_off_topic"); v != 0 {
			t.Errorf("%s: subscriber on A received %g on other topics", name, v)
		}
		if v, f := m("sub_late_missed"), m("sub_late_first"); v < float64(late) || f <= float64(late) {
			t.Errorf("%s: late subscriber missed %g, first #%g; want at least the %d sent before it", name, v, f, late)
		}
		// Pipeline: zmq4's PUSH copies each task to every worker (libzmq's would not); the
		// ROUTER by demand has each task done exactly once.
		if v := m("push_max_copies"); v != float64(workers) {
			t.Errorf("%s: PUSH task done by up to %g workers, want %d (zmq4 v0.17.0 copies to all)", name, v, workers)
		}
		if v := m("push_distinct_tasks"); v != float64(messages) {
			t.Errorf("%s: PUSH distinct tasks %g, want %d", name, v, messages)
		}
		if d, res, c := m("router_distinct_tasks"), m("router_results"), m("router_max_copies"); d != float64(messages) || res != float64(messages) || c != 1 {
			t.Errorf("%s: ROUTER %g distinct of %g results, up to %g copies; want %d, %d, 1", name, d, res, c, messages, messages)
		}
	}
}
