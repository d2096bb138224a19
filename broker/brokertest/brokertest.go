// Package brokertest is the contract test suite every broker.Broker implementation passes: the
// delivery guarantees that package broker documents, checked on a real bus.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wireplay/wireplay/broker"
)

// Connect returns a new instance on the test's bus (a new connection to the same NATS server, or
// another Memory instance on the same in-process bus), with opts applied. The suite closes it.
type Connect func(opts ...broker.Option) broker.Broker

// Run runs the contract. newBus is called once per subtest; each Connect it returns shares one bus.
func Run(t *testing.T, newBus func(t *testing.T) Connect) {
	tests := []struct {
		name string
		f    func(t *testing.T, c Connect)
	}{
		{"OrderAcrossInstances", testOrderAcrossInstances},
		{"OwnMessages", testOwnMessages},
		{"OnlyAfterSubscribe", testOnlyAfterSubscribe},
		{"TwoPublishers", testTwoPublishers},
		{"SubjectsApart", testSubjectsApart},
		{"Unsubscribe", testUnsubscribe},
		{"Close", testClose},
		{"SlowSubscriberDropped", testSlowSubscriberDropped},
		{"InvalidSubject", testInvalidSubject},
		{"LargeMessages", testLargeMessages},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bus := newBus(t)
			var mu sync.Mutex
			var opened []broker.Broker
			t.Cleanup(func() {
				mu.Lock()
				defer mu.Unlock()
				for _, b := range opened {
					b.Close()
				}
			})
			tc.f(t, func(opts ...broker.Option) broker.Broker {
				b := bus(opts...)
				mu.Lock()
				opened = append(opened, b)
				mu.Unlock()
				return b
			})
		})
	}
}

// wait bounds every wait of the suite; it is a guard against a hang, not a measurement.
const wait = 20 * time.Second

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

// recorder collects what a subscription delivers.
type recorder struct {
	mu   sync.Mutex
	msgs []string
	ch   chan struct{} // signalled after each message
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1)} }

func (r *recorder) deliver(msg []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(msg))
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// waitFor waits until r holds n messages and returns them.
func (r *recorder) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(wait)
	for {
		if got := r.got(); len(got) >= n {
			return got
		}
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("got %d messages, waited for %d", len(r.got()), n)
		}
	}
}

func subscribe(t *testing.T, b broker.Broker, subject string, r *recorder) broker.Subscription {
	t.Helper()
	s, err := b.Subscribe(ctx(t), subject, r.deliver)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	return s
}

func publish(t *testing.T, b broker.Broker, subject, msg string) {
	t.Helper()
	if err := b.Publish(ctx(t), subject, []byte(msg)); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A subscriber on one instance gets every message another instance publishes after it
// subscribed, in publish order, with nothing dropped under its buffer.
func testOrderAcrossInstances(t *testing.T, c Connect) {
	a, b := c(), c()
	r := newRecorder()
	s := subscribe(t, b, "room.order", r)
	want := numbered("m", 1000)
	for _, m := range want {
		publish(t, a, "room.order", m)
	}
	if got := r.waitFor(t, len(want)); !equal(got, want) {
		t.Fatalf("received %d messages out of order; first %q", len(got), got[:min(5, len(got))])
	}
	if d := s.Dropped(); d != 0 {
		t.Errorf("dropped %d under the buffer", d)
	}
}

// An instance's own subscriptions receive what it publishes.
func testOwnMessages(t *testing.T, c Connect) {
	a := c()
	r := newRecorder()
	subscribe(t, a, "room.own", r)
	publish(t, a, "room.own", "hello")
	if got := r.waitFor(t, 1); got[0] != "hello" {
		t.Fatalf("got %q", got)
	}
}

// What an instance published before subscribing does not reach the new subscription.
func testOnlyAfterSubscribe(t *testing.T, c Connect) {
	a := c()
	publish(t, a, "room.late", "early")
	r := newRecorder()
	subscribe(t, a, "room.late", r)
	publish(t, a, "room.late", "late")
	// "early" went first on the same instance, so it would have come first.
	if got := r.waitFor(t, 1); !equal(got, []string{"late"}) {
		t.Fatalf("got %q, want only the message published after subscribing", got)
	}
}

// Two publishers' messages all arrive, each publisher's in its own order.
func testTwoPublishers(t *testing.T, c Connect) {
	a, b, sink := c(), c(), c()
	r := newRecorder()
	subscribe(t, sink, "room.two", r)
	var wg sync.WaitGroup
	for _, p := range []struct {
		b      broker.Broker
		prefix string
	}{{a, "a"}, {b, "b"}} {
		wg.Go(func() {
			for _, m := range numbered(p.prefix, 300) {
				if err := p.b.Publish(context.Background(), "room.two", []byte(m)); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := r.waitFor(t, 600)
	var fromA, fromB []string
	for _, m := range got {
		if m[0] == 'a' {
			fromA = append(fromA, m)
		} else {
			fromB = append(fromB, m)
		}
	}
	if !equal(fromA, numbered("a", 300)) || !equal(fromB, numbered("b", 300)) {
		t.Fatalf("per-publisher order broken: %d from a, %d from b", len(fromA), len(fromB))
	}
}

// A subscription gets its subject only.
func testSubjectsApart(t *testing.T, c Connect) {
	a, b := c(), c()
	one, two := newRecorder(), newRecorder()
	subscribe(t, b, "room.one", one)
	subscribe(t, b, "room.two", two)
	publish(t, a, "room.one", "1")
	publish(t, a, "room.two", "2")
	publish(t, a, "room.one", "3")
	if got := one.waitFor(t, 2); !equal(got, []string{"1", "3"}) {
		t.Errorf("room.one got %q", got)
	}
	if got := two.waitFor(t, 1); !equal(got, []string{"2"}) {
		t.Errorf("room.two got %q", got)
	}
}

// After Unsubscribe returns, nothing more is delivered; a second subscription on the same
// instance, which receives what is published after, shows the bus passed the messages on.
func testUnsubscribe(t *testing.T, c Connect) {
	a, b := c(), c()
	gone, stays := newRecorder(), newRecorder()
	s := subscribe(t, b, "room.unsub", gone)
	subscribe(t, b, "room.unsub", stays)
	publish(t, a, "room.unsub", "before")
	gone.waitFor(t, 1)
	stays.waitFor(t, 1)
	if err := s.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(); err != nil {
		t.Fatalf("second Unsubscribe: %v", err)
	}
	for _, m := range numbered("after", 50) {
		publish(t, a, "room.unsub", m)
	}
	stays.waitFor(t, 51)
	if got := gone.got(); !equal(got, []string{"before"}) {
		t.Fatalf("unsubscribed subscription got %q", got)
	}
}

// Close ends the instance's subscriptions and refuses Publish and Subscribe; the other instances
// on the bus go on.
func testClose(t *testing.T, c Connect) {
	a, b, other := c(), c(), c()
	closed, stays := newRecorder(), newRecorder()
	subscribe(t, b, "room.close", closed)
	subscribe(t, other, "room.close", stays)
	publish(t, a, "room.close", "before")
	closed.waitFor(t, 1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, m := range numbered("after", 20) {
		publish(t, a, "room.close", m)
	}
	stays.waitFor(t, 21)
	if got := closed.got(); !equal(got, []string{"before"}) {
		t.Fatalf("closed instance's subscription got %q", got)
	}
	if err := b.Publish(ctx(t), "room.close", []byte("x")); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe(ctx(t), "room.close", func([]byte) {}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
}

// A subscriber whose deliver is stuck holds Buffer messages (counting the one being delivered);
// the rest are dropped and counted, and what it holds comes out in order once it is unstuck.
// The publisher never waits, and another subscription of the same instance loses nothing.
func testSlowSubscriberDropped(t *testing.T, c Connect) {
	const buffer, extra = 8, 5
	a, b := c(), c(broker.WithBuffer(buffer, 0))
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow := newRecorder()
	s, err := b.Subscribe(ctx(t), "room.slow", func(msg []byte) {
		once.Do(func() { close(entered); <-release })
		slow.deliver(msg)
	})
	if err != nil {
		t.Fatal(err)
	}
	marker := newRecorder()
	subscribe(t, b, "room.marker", marker)
	all := numbered("m", buffer+extra)
	publish(t, a, "room.slow", all[0])
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("first message never delivered")
	}
	for _, m := range all[1:] {
		publish(t, a, "room.slow", m)
	}
	// The marker was published after the rest by the same instance and reached b after them:
	// b has taken in (or dropped) every message by the time it is delivered.
	publish(t, a, "room.marker", "done")
	marker.waitFor(t, 1)
	if d := s.Dropped(); d != uint64(len(all)-buffer) {
		t.Errorf("dropped %d, want %d (published %d, buffer %d)", d, len(all)-buffer, len(all), buffer)
	}
	close(release)
	got := slow.waitFor(t, buffer)
	if !equal(got, all[:buffer]) {
		t.Errorf("slow subscriber got %q, want the first %d in order", got, buffer)
	}
	// Nothing more arrives: the marker goes round once more after them.
	publish(t, a, "room.marker", "again")
	marker.waitFor(t, 2)
	if got := slow.got(); len(got) != buffer {
		t.Errorf("slow subscriber got %d messages, want %d", len(got), buffer)
	}
}

// Subjects that are not valid on every broker are refused by both calls.
func testInvalidSubject(t *testing.T, c Connect) {
	a := c()
	for _, subj := range []string{"", "a..b", ".a", "a.", "a.*", "a.>", "a b", "a\tb", "a*"} {
		if err := a.Publish(ctx(t), subj, []byte("x")); err == nil {
			t.Errorf("Publish(%q) succeeded", subj)
		}
		if _, err := a.Subscribe(ctx(t), subj, func([]byte) {}); err == nil {
			t.Errorf("Subscribe(%q) succeeded", subj)
		}
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Publish(canceled, "a.b", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a canceled context: %v", err)
	}
}

// large returns n bytes, prefix then bytes that depend on seed, so that a fragment out of place
// changes them.
func large(prefix string, seed byte, n int) string {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{prefix[0], seed})
	_, _ = r.Read(b)
	copy(b, prefix)
	return string(b)
}

// describe names messages by length and first bytes, for a failure message.
func describe(msgs []string) string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = fmt.Sprintf("%d:%q", len(m), m[:min(len(m), 6)])
	}
	return fmt.Sprint(out)
}

// Messages larger than NATS's default max_payload (1 MiB) arrive whole, byte-identical and in
// order among the same publisher's small ones, up to MaxMessage, at another instance's
// subscription and at the publisher's own, while a second publisher sends the same mix at the same
// time; a message over MaxMessage is refused with ErrTooLarge.
func testLargeMessages(t *testing.T, c Connect) {
	room := broker.WithBuffer(0, 4*broker.MaxMessage) // both publishers' largest at once
	a, b, sink := c(room), c(room), c(room)
	mix := func(p string) []string {
		return []string{p + "0", large(p, 1, 3<<20), p + "1", large(p, 2, 1<<20+1), p + "2",
			large(p, 3, broker.MaxMessage), p + "3"}
	}
	mixA, mixB := mix("a"), mix("b")
	own, other := newRecorder(), newRecorder()
	subscribe(t, a, "room.large", own)
	subscribe(t, sink, "room.large", other)
	var wg sync.WaitGroup
	for p, msgs := range map[broker.Broker][]string{a: mixA, b: mixB} {
		wg.Go(func() {
			for _, m := range msgs {
				if err := p.Publish(context.Background(), "room.large", []byte(m)); err != nil {
					t.Errorf("publish %d bytes: %v", len(m), err)
					return
				}
			}
		})
	}
	wg.Wait()
	for name, r := range map[string]*recorder{"own": own, "other instance": other} {
		got := r.waitFor(t, len(mixA)+len(mixB))
		var fromA, fromB []string
		for _, m := range got {
			if m[0] == 'a' {
				fromA = append(fromA, m)
			} else {
				fromB = append(fromB, m)
			}
		}
		if !equal(fromA, mixA) || !equal(fromB, mixB) {
			t.Errorf("%s subscription got %s, want each publisher's %s in order", name, describe(got), describe(mixA))
		}
	}
	if err := a.Publish(ctx(t), "room.large", make([]byte, broker.MaxMessage+1)); !errors.Is(err, broker.ErrTooLarge) {
		t.Errorf("Publish of MaxMessage+1 bytes: %v, want ErrTooLarge", err)
	}
}
