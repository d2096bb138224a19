package servermodels

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wireplay/wireplay/link"
)

func newLink(t *testing.T) *link.Link {
	t.Helper()
	l, err := link.New(link.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func linkDial(t *testing.T, l *link.Link, addr string) net.Conn {
	t.Helper()
	c, err := l.Client().Dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// TestNetstackLoopServesWhileSlow: the readiness loop on netstack's waiter queues accepts, serves
// and closes a second client while the first holds its connection; its log's order says so.
func TestNetstackLoopServesWhileSlow(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	l := newLink(t)
	ep, wq, err := l.Server().ListenEndpoint(context.Background(), "tcp", net.JoinHostPort(l.ServerAddr().String(), "0"), 16)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ServeNetstack(ep, wq)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	slow := linkDial(t, l, s.Addr())
	roundTrip(t, slow, "x")
	c2 := linkDial(t, l, s.Addr())
	roundTrip(t, c2, "served while the first holds")
	roundTrip(t, c2, "and again")
	c2.Close()
	waitFor(t, "the second close", func() bool { return s.Stats().Open == 1 })
	slow.Close()
	waitFor(t, "the slow close", func() bool { return s.Stats().Open == 0 })
	ev := s.Events()
	sp, cp := slow.LocalAddr().String(), c2.LocalAddr().String()
	order := []int{seq(t, ev, Accepted, sp), seq(t, ev, Accepted, cp), seq(t, ev, Closed, cp), seq(t, ev, Closed, sp)}
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			t.Fatalf("want slow accept < second accept < second close < slow close, got seqs %v: %+v", order, ev)
		}
	}
}

// TestNetstackLoopPartialWrite: a client that sends 8 MiB before reading fills the endpoints'
// buffers; the loop's writes go in part, wait for a writable event, and every byte comes back in
// order.
func TestNetstackLoopPartialWrite(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	l := newLink(t)
	ep, wq, err := l.Server().ListenEndpoint(context.Background(), "tcp", net.JoinHostPort(l.ServerAddr().String(), "0"), 16)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ServeNetstack(ep, wq)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := linkDial(t, l, s.Addr())
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	werr := make(chan error, 1)
	go func() { _, err := c.Write(data); werr <- err }()
	waitFor(t, "a partial write in the loop", func() bool { return s.Stats().PartialWrites > 0 })
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echo differs from what was sent")
	}
	t.Logf("%d partial writes", s.Stats().PartialWrites)
}

// TestServeOnLink: the blocking models serve from the link's listener as from the kernel's.
func TestServeOnLink(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	l := newLink(t)
	for _, m := range []Model{Iterative, Goroutines, Pool} {
		ln, err := l.Server().Listen(context.Background(), "tcp", net.JoinHostPort(l.ServerAddr().String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Serve(m, ln, Options{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		c := linkDial(t, l, s.Addr())
		roundTrip(t, c, "hello "+string(m))
		c.Close()
		waitFor(t, "the close", func() bool { return s.Stats().Open == 0 })
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestNonblockNetstack: a netstack endpoint's Read with nothing to read answers ErrWouldBlock,
// and a Write into a full buffer takes part, then answers ErrWouldBlock.
func TestNonblockNetstack(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	l := newLink(t)
	nb, err := NonblockNetstack(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", nb)
	if nb.WriteTook <= 0 || nb.WriteTook >= nb.WriteAsked {
		t.Errorf("partial write took %d of %d", nb.WriteTook, nb.WriteAsked)
	}
}
