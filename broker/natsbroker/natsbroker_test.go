package natsbroker_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/broker/brokertest"
	"github.com/wireplay/wireplay/broker/natsbroker"
)

// startServer runs a real nats-server in this process, listening on a loopback TCP port, and
// returns its client URL.
func startServer(t *testing.T) string { return startServerPayload(t, 0) }

// startServerPayload is startServer with the server's max_payload set (0: the default, 1 MB).
func startServerPayload(t *testing.T, maxPayload int32) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func dial(t *testing.T, url string, opts ...broker.Option) *natsbroker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := natsbroker.Dial(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNATSContract(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) brokertest.Connect {
		url := startServer(t)
		return func(opts ...broker.Option) broker.Broker { return dial(t, url, opts...) }
	})
}

// The contract again on a server whose max_payload is 64 KiB: a 16 MiB message is 257 fragments.
func TestNATSContractSmallPayload(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) brokertest.Connect {
		url := startServerPayload(t, smallPayload)
		return func(opts ...broker.Option) broker.Broker { return dial(t, url, opts...) }
	})
}

func TestDialRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := natsbroker.Dial(ctx, "nats://127.0.0.1:1"); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

const smallPayload = 64 << 10

// rawConn is a plain nats.go connection, to see and make the wire format by hand.
func rawConn(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// collector passes on what a broker subscription delivers.
type collector struct{ ch chan []byte }

func collect(t *testing.T, b broker.Broker, subject string) (*collector, broker.Subscription) {
	t.Helper()
	c := &collector{ch: make(chan []byte, 100)}
	s, err := b.Subscribe(testCtx(t), subject, func(m []byte) { c.ch <- m })
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// next waits for the next delivered message.
func (c *collector) next(t *testing.T) []byte {
	t.Helper()
	select {
	case m := <-c.ch:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message delivered")
		return nil
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{seed})
	_, _ = r.Read(b)
	return b
}

// A small message goes as it is, one NATS message with no header; a large one as fragments of at
// most max_payload each, with the documented FragmentHeader.
func TestWireFormat(t *testing.T) {
	url := startServerPayload(t, smallPayload)
	b := dial(t, url)
	t.Cleanup(func() { b.Close() })
	raw := rawConn(t, url)
	ch := make(chan *nats.Msg, 64)
	rs, err := raw.ChanSubscribe("room.wire", ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Unsubscribe() })
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	small := pattern(1, smallPayload) // exactly max_payload still fits
	big := pattern(2, 3*smallPayload)
	for _, m := range [][]byte{small, big} {
		if err := b.Publish(testCtx(t), "room.wire", m); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() *nats.Msg {
		select {
		case m := <-ch:
			return m
		case <-time.After(20 * time.Second):
			t.Fatal("nothing on the raw subscription")
			return nil
		}
	}
	if m := recv(); len(m.Header) != 0 || !bytes.Equal(m.Data, small) {
		t.Fatalf("small message: header %v, %d bytes; want no header and the %d bytes as they are", m.Header, len(m.Data), len(small))
	}
	var joined []byte
	var pub string
	for i := 0; i < 4; i++ { // 3×64 KiB in fragments of 64 KiB less a header's room: 4
		m := recv()
		f := strings.Fields(m.Header.Get(natsbroker.FragmentHeader))
		if len(f) != 5 || f[1] != "1" || f[2] != strconv.Itoa(i) || f[3] != "4" || f[4] != strconv.Itoa(len(big)) {
			t.Fatalf("fragment %d: header %q, want \"PUB 1 %d 4 %d\"", i, m.Header.Get(natsbroker.FragmentHeader), i, len(big))
		}
		if i == 0 {
			pub = f[0]
		} else if f[0] != pub {
			t.Fatalf("fragment %d from %q, fragment 0 from %q", i, f[0], pub)
		}
		if size := len(m.Data) + len(m.Header.Get(natsbroker.FragmentHeader)); size > smallPayload {
			t.Fatalf("fragment %d: %d bytes over max_payload", i, size)
		}
		joined = append(joined, m.Data...)
	}
	if !bytes.Equal(joined, big) {
		t.Fatal("fragments do not make the message")
	}
}

// fragments splits msg as natsbroker does on a 64 KiB server: 4 fragments for 3×64 KiB.
func fragments(pub string, seq int, msg []byte, count int) []*nats.Msg {
	size := (len(msg) + count - 1) / count
	var out []*nats.Msg
	for i := range count {
		v := fmt.Sprintf("%s %d %d %d %d", pub, seq, i, count, len(msg))
		out = append(out, &nats.Msg{Subject: "room.lost", Data: msg[i*size : min((i+1)*size, len(msg))],
			Header: nats.Header{natsbroker.FragmentHeader: []string{v}}})
	}
	return out
}

// A message missing a fragment is never delivered, in part or whole, and counts once in Dropped;
// the same publisher's next messages, small and large, arrive whole. Fragments are sent by hand
// on the raw subject, leaving one out: the middle one, then the first, then the last (found out by
// the next fragmented message).
func TestLostFragment(t *testing.T) {
	url := startServerPayload(t, smallPayload)
	b := dial(t, url)
	t.Cleanup(func() { b.Close() })
	got, s := collect(t, b, "room.lost")
	raw := rawConn(t, url)
	send := func(ms ...*nats.Msg) {
		t.Helper()
		for _, m := range ms {
			if err := raw.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	small := func(s string) *nats.Msg { return &nats.Msg{Subject: "room.lost", Data: []byte(s)} }
	const pub = "00000000000000ff"
	lost, whole := pattern(3, 3*smallPayload), pattern(4, 3*smallPayload)
	f := func(seq int, msg []byte) []*nats.Msg { return fragments(pub, seq, msg, 4) }
	cases := []struct {
		name string
		sent []*nats.Msg // the lost message's fragments that are sent
	}{
		{"middle", append(f(1, lost)[:2:2], f(1, lost)[3])},
		{"first", f(3, lost)[1:]},
		{"last", f(5, lost)[:3]},
	}
	for i, c := range cases {
		seq := 2*i + 1
		send(small("before " + c.name))
		send(c.sent...)
		send(small("between " + c.name)) // small messages carry no publisher: they do not end it
		send(f(seq+1, whole)...)
		send(small("after " + c.name))
		for _, want := range [][]byte{[]byte("before " + c.name), []byte("between " + c.name), whole, []byte("after " + c.name)} {
			if m := got.next(t); !bytes.Equal(m, want) {
				t.Fatalf("%s lost: delivered %d bytes %q…, want %d bytes %q…", c.name, len(m), m[:min(8, len(m))], len(want), want[:min(8, len(want))])
			}
		}
		if d := s.Dropped(); d != uint64(i+1) {
			t.Errorf("%s lost: Dropped %d, want %d", c.name, d, i+1)
		}
	}
}

// A partial message whose last fragment never comes, and no later fragmented message from its
// publisher, is discarded after PartialTimeout and counted; the room it held is free again.
func TestPartialTimeout(t *testing.T) {
	defer natsbroker.SetPartialTimeout(50 * time.Millisecond)()
	url := startServerPayload(t, smallPayload)
	// Room for one partial 3×64 KiB message and little more.
	b := dial(t, url, broker.WithBuffer(0, 3*smallPayload+1024))
	t.Cleanup(func() { b.Close() })
	got, s := collect(t, b, "room.lost")
	raw := rawConn(t, url)
	for _, m := range fragments("00000000000000aa", 1, pattern(5, 3*smallPayload), 4)[:3] {
		if err := raw.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// Waiting for the sweep: Dropped is read until it counts the message (bounded by the test's
	// deadline); no message may be delivered meanwhile.
	deadline := time.Now().Add(20 * time.Second)
	for s.Dropped() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the partial message was never discarded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	whole := pattern(6, 3*smallPayload)
	for _, m := range fragments("00000000000000aa", 2, whole, 4) {
		if err := raw.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if m := got.next(t); !bytes.Equal(m, whole) {
		t.Fatalf("delivered %d bytes, want the next whole message of %d", len(m), len(whole))
	}
	if n := len(got.ch); n != 0 {
		t.Errorf("%d more messages delivered", n)
	}
	if d := s.Dropped(); d != 1 {
		t.Errorf("Dropped %d, want 1", d)
	}
}

// A message larger than the subscription's BufferBytes is dropped at its first fragment and
// counted once, its other fragments ignored; a smaller one after it arrives whole. The large one's
// fragments are sent by hand, each followed by a small marker that is waited for, so that no
// burst of them overflows nats.go's queue (which would count each fragment it drops).
func TestPartialCountsAgainstBuffer(t *testing.T) {
	url := startServerPayload(t, smallPayload)
	pub := dial(t, url)
	t.Cleanup(func() { pub.Close() })
	b := dial(t, url, broker.WithBuffer(0, 200<<10))
	t.Cleanup(func() { b.Close() })
	got, s := collect(t, b, "room.lost")
	raw := rawConn(t, url)
	tooBig, fits := pattern(7, 300<<10), pattern(8, 150<<10)
	for i, m := range fragments("00000000000000bb", 1, tooBig, 5) {
		marker := []byte("marker " + strconv.Itoa(i))
		if err := raw.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		if err := raw.Publish("room.lost", marker); err != nil {
			t.Fatal(err)
		}
		if m := got.next(t); !bytes.Equal(m, marker) {
			t.Fatalf("delivered %d bytes %q…, want %q", len(m), m[:min(8, len(m))], marker)
		}
	}
	if err := pub.Publish(testCtx(t), "room.lost", fits); err != nil {
		t.Fatal(err)
	}
	if m := got.next(t); !bytes.Equal(m, fits) {
		t.Fatalf("delivered %d bytes, want the %d that fit", len(m), len(fits))
	}
	if d := s.Dropped(); d != 1 {
		t.Errorf("Dropped %d, want 1 (the %d-byte message)", d, len(tooBig))
	}
}

// Two goroutines of one instance publish small and large messages at the same time: the large
// ones' fragments are sent one message at a time, so every message arrives whole and each
// goroutine's messages in the order it published them (the two goroutines' interleave).
func TestConcurrentPublishOneInstance(t *testing.T) {
	url := startServerPayload(t, smallPayload)
	pub := dial(t, url)
	t.Cleanup(func() { pub.Close() })
	b := dial(t, url)
	t.Cleanup(func() { b.Close() })
	const rounds = 20
	got := make(chan []byte, 4*rounds)
	s, err := b.Subscribe(testCtx(t), "room.conc", func(m []byte) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	msgs := func(g byte) [][]byte {
		var out [][]byte
		for i := range rounds {
			big := pattern(g+byte(i), 1<<20)
			big[0], big[1] = g, byte(i)
			out = append(out, []byte{g, byte(i), 's'}, big)
		}
		return out
	}
	want := map[byte][][]byte{'x': msgs('x'), 'y': msgs('y')}
	done := make(chan error, 2)
	for _, ms := range want {
		go func() {
			for _, m := range ms {
				if err := pub.Publish(context.Background(), "room.conc", m); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	next := map[byte]int{}
	for range 4 * rounds {
		var m []byte
		select {
		case m = <-got:
		case <-time.After(20 * time.Second):
			t.Fatalf("delivered %d of %d", next['x']+next['y'], 4*rounds)
		}
		g := m[0]
		if w := want[g]; next[g] >= len(w) || !bytes.Equal(m, w[next[g]]) {
			t.Fatalf("goroutine %c's message %d: got %d bytes, not the one it published next", g, next[g], len(m))
		}
		next[g]++
	}
	if d := s.Dropped(); d != 0 {
		t.Errorf("Dropped %d", d)
	}
}

// A subscriber stuck in deliver while large messages arrive: its buffer (256 KiB) overflows, so
// fragments are dropped. What it gets once unstuck is whole messages only, in publish order;
// every message not delivered is counted in Dropped (a message cut by the full buffer may count
// once per fragment dropped and once more, so Dropped is at least the number lost); the next
// message arrives.
func TestSlowSubscriberLargeMessages(t *testing.T) {
	url := startServerPayload(t, smallPayload)
	pub := dial(t, url)
	t.Cleanup(func() { pub.Close() })
	b := dial(t, url, broker.WithBuffer(0, 256<<10))
	t.Cleanup(func() { b.Close() })
	entered, release := make(chan struct{}), make(chan struct{})
	got := make(chan []byte, 64)
	first := true
	s, err := b.Subscribe(testCtx(t), "room.slow", func(m []byte) {
		if first {
			first = false
			close(entered)
			<-release
		}
		got <- m
	})
	if err != nil {
		t.Fatal(err)
	}
	marker, _ := collect(t, b, "room.marker")
	publish := func(subject string, m []byte) {
		t.Helper()
		if err := pub.Publish(testCtx(t), subject, m); err != nil {
			t.Fatal(err)
		}
	}
	publish("room.slow", []byte("stuck"))
	<-entered
	var sent [][]byte
	for i := range 6 {
		m := pattern(byte(10+i), 200<<10)
		sent = append(sent, m)
		publish("room.slow", m)
	}
	// The marker reached b after them: b has taken in or dropped every fragment.
	publish("room.marker", []byte("done"))
	marker.next(t)
	close(release)
	if m := <-got; string(m) != "stuck" {
		t.Fatalf("first delivery %d bytes", len(m))
	}
	last := pattern(99, 200<<10)
	publish("room.slow", last)
	delivered, j := 0, 0
	for {
		m := <-got
		if bytes.Equal(m, last) {
			break
		}
		for j < len(sent) && !bytes.Equal(m, sent[j]) {
			j++
		}
		if j == len(sent) {
			t.Fatalf("delivered %d bytes that are not a published message in order", len(m))
		}
		j++
		delivered++
	}
	lost := len(sent) - delivered
	if lost == 0 {
		t.Fatalf("all %d large messages fit a 256 KiB buffer behind a stuck deliver", len(sent))
	}
	d := s.Dropped()
	t.Logf("%d of %d large messages delivered behind a stuck deliver, Dropped %d", delivered, len(sent), d)
	if d < uint64(lost) {
		t.Errorf("Dropped %d, but %d messages were not delivered", d, lost)
	}
}
