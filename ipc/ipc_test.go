package ipc

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// shortDir is a temporary directory with a path short enough for a socket (108 bytes at most on
// Linux; t.TempDir's can be longer).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wpipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// roundTrip writes msg and reads back as many bytes (a stream) or one datagram, with a deadline.
func roundTrip(t *testing.T, c interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
}, msg []byte, datagram bool) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg)+16)
	if datagram {
		n, err := c.Read(got)
		if err != nil {
			t.Fatal(err)
		}
		return got[:n]
	}
	if _, err := io.ReadFull(c, got[:len(msg)]); err != nil {
		t.Fatal(err)
	}
	return got[:len(msg)]
}

// TestUnixEcho: two clients of one Unix stream echo each get their own bytes back; Close removes
// the socket file and a listener after it finds the path free again.
func TestUnixEcho(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(shortDir(t), "echo.sock")
	e, err := ListenUnixEcho(context.Background(), path, UnixEchoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Serve() }()
	for i := range 2 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte{byte('a' + i)}, 100_000) // more than one echo read
		if got := roundTrip(t, c.(*net.UnixConn), msg, false); !bytes.Equal(got, msg) {
			t.Errorf("client %d: echo differs", i)
		}
		c.Close()
	}
	if err := e.Close(); err != nil {
		t.Error(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file after Close: %v", err)
	}
}

// TestListenUnixStale: a socket file nobody listens on is replaced; one a server listens on, or
// a path that is not a socket, is refused.
func TestListenUnixStale(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := shortDir(t)
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays: as after a crash
	e, err := ListenUnixEcho(context.Background(), stale, UnixEchoConfig{})
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	defer e.Close()
	if _, err := ListenUnixEcho(context.Background(), stale, UnixEchoConfig{}); err == nil || !strings.Contains(err.Error(), "another server") {
		t.Errorf("over a live socket: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := ListenUnixEcho(context.Background(), file, UnixEchoConfig{}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("over a file: %v", err)
	}
}

// TestUnixEchoMaxConns: a connection over MaxConns is closed at once and counted.
func TestUnixEchoMaxConns(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(shortDir(t), "max.sock")
	e, err := ListenUnixEcho(context.Background(), path, UnixEchoConfig{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	go e.Serve()
	defer e.Close()
	first, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	roundTrip(t, first.(*net.UnixConn), []byte("one"), false) // served: it holds the one slot
	second, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := second.Read(make([]byte, 8)); err != io.EOF {
		t.Errorf("second connection read %d, %v; want EOF", n, err)
	}
	if e.Refused() != 1 {
		t.Errorf("refused %d, want 1", e.Refused())
	}
}

// TestUnixgramEcho: datagrams come back whole, one per send, to the client's bound path; a
// sender with no path is counted, not answered; closing removes both paths.
func TestUnixgramEcho(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := shortDir(t)
	path, local := filepath.Join(dir, "g.sock"), filepath.Join(dir, "c.sock")
	e, err := ListenUnixgramEcho(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Serve() }()
	c, err := DialUnixgram(context.Background(), local, path)
	if err != nil {
		t.Fatal(err)
	}
	uc := c.(interface {
		io.ReadWriter
		SetReadDeadline(time.Time) error
	})
	for _, size := range []int{1, 100, 8192, 60_000} {
		msg := bytes.Repeat([]byte{byte(size)}, size)
		if got := roundTrip(t, uc, msg, true); !bytes.Equal(got, msg) {
			t.Errorf("%d-byte datagram came back as %d bytes", size, len(got))
		}
	}
	anon, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	anon.Write([]byte("no path"))
	anon.Close()
	roundTrip(t, uc, []byte("after"), true) // the anonymous one was read before this one
	if n := e.Unanswerable(); n != 1 {
		t.Errorf("unanswerable %d, want 1", n)
	}
	c.Close()
	e.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	for _, p := range []string{path, local} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s after Close: %v", p, err)
		}
	}
}

// TestPipeEcho: bytes written come back in order, more than a pipe's buffer at once when the
// writer and reader run together; Close ends the echo goroutine even with bytes unread.
func TestPipeEcho(t *testing.T) {
	defer goleak.VerifyNone(t)
	p, err := StartPipeEcho()
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, p, []byte("hello"), false); string(got) != "hello" {
		t.Errorf("echo %q", got)
	}
	msg := make([]byte, 1<<20)
	for i := range msg {
		msg[i] = byte(i % 251)
	}
	wrote := make(chan error, 1)
	go func() { _, err := p.Write(msg); wrote <- err }()
	got := make([]byte, len(msg))
	p.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(p, got); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Error("1 MiB echo differs")
	}
	p.Write(bytes.Repeat([]byte("x"), 100_000)) // more than the return pipe holds: the echo blocks writing
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
