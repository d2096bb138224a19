package servermodels

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// TestMain lets the test binary be a Process server's child.
func TestMain(m *testing.M) {
	RunChild()
	os.Exit(m.Run())
}

func start(t *testing.T, m Model) *Server {
	t.Helper()
	s, err := Start(context.Background(), m, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp4", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo %q, want %q", got, msg)
	}
}

// waitFor polls cond (every millisecond, at most 10 s): the server's state is reached
// asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 10000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// seq finds the log's entry of kind for peer.
func seq(t *testing.T, ev []Event, kind EventKind, peer string) int {
	t.Helper()
	for _, e := range ev {
		if e.Kind == kind && e.Peer == peer {
			return e.Seq
		}
	}
	t.Fatalf("no %s of %s in %+v", kind, peer, ev)
	return -1
}

func TestEcho(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the servers' cleanups
	for _, m := range Models {
		t.Run(string(m), func(t *testing.T) {
			s := start(t, m)
			c := dial(t, s)
			roundTrip(t, c, "hello "+string(m))
			roundTrip(t, c, "again")
			c.Close()
			waitFor(t, "the close", func() bool { return s.Stats().Open == 0 })
			ev := s.Events()
			peer := c.LocalAddr().String()
			if a, cl := seq(t, ev, Accepted, peer), seq(t, ev, Closed, peer); a > cl {
				t.Errorf("close logged before accept: %+v", ev)
			}
			if m == Process && s.Stats().Spawned != 1 {
				t.Errorf("spawned %d children, want 1", s.Stats().Spawned)
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestIterativeWaits: while the first client holds its connection, the second's request waits
// in the kernel's accept queue; the server accepts it only after it has closed the first.
func TestIterativeWaits(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the servers' cleanups
	s := start(t, Iterative)
	c1 := dial(t, s)
	roundTrip(t, c1, "first")
	c2 := dial(t, s)
	if _, err := c2.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second connect in the accept queue", func() bool {
		q, _, err := s.AcceptQueue()
		return err == nil && q == 1
	})
	if a := s.Stats().Accepted; a != 1 {
		t.Fatalf("accepted %d while the first client holds, want 1", a)
	}
	c1.Close()
	got := make([]byte, 6)
	if _, err := io.ReadFull(c2, got); err != nil || string(got) != "second" {
		t.Fatalf("second client read %q, %v", got, err)
	}
	ev := s.Events()
	if cl1, a2 := seq(t, ev, Closed, c1.LocalAddr().String()), seq(t, ev, Accepted, c2.LocalAddr().String()); a2 < cl1 {
		t.Errorf("second client accepted (#%d) before the first was closed (#%d): %+v", a2, cl1, ev)
	}
}

// TestConcurrentModelsServeWhileSlow: in every model but the iterative one, a second client is
// accepted, served and closed while the first holds its connection open.
func TestConcurrentModelsServeWhileSlow(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the servers' cleanups
	for _, m := range []Model{Epoll, Goroutines, Pool, Process} {
		t.Run(string(m), func(t *testing.T) {
			s := start(t, m)
			slow := dial(t, s)
			roundTrip(t, slow, "x")
			c2 := dial(t, s)
			roundTrip(t, c2, "served while the first holds")
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
		})
	}
}

// TestNonblock: a read deadline fires with os.ErrDeadlineExceeded, a non-blocking read with
// nothing to read returns EAGAIN, and a write into a full send buffer takes only part.
func TestNonblock(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the servers' cleanups
	nb, err := Nonblock(context.Background(), 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", nb)
	if !errors.Is(nb.DeadlineErr, os.ErrDeadlineExceeded) {
		t.Errorf("deadline: %v", nb.DeadlineErr)
	}
	if nb.DeadlineWaited < nb.Deadline {
		t.Errorf("read returned after %v, before its %v deadline", nb.DeadlineWaited, nb.Deadline)
	}
	if !errors.Is(nb.ReadErr, unix.EAGAIN) {
		t.Errorf("non-blocking read: %v, want EAGAIN", nb.ReadErr)
	}
	if nb.WriteTook <= 0 || nb.WriteTook >= nb.WriteAsked {
		t.Errorf("partial write took %d of %d", nb.WriteTook, nb.WriteAsked)
	}
	if !errors.Is(nb.NextWriteErr, unix.EAGAIN) {
		t.Errorf("write after the partial one: %v, want EAGAIN", nb.NextWriteErr)
	}
}

// TestEpollPartialWrite: a client that sends much and reads nothing fills the server's send
// buffer; the loop's writes go in part, the rest waits for EPOLLOUT, and every byte comes back
// in order once the client reads.
func TestEpollPartialWrite(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the servers' cleanups
	s := start(t, Epoll)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<10) })
	}}
	c, err := d.Dial("tcp4", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	data := make([]byte, 16<<20)
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
