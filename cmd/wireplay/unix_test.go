package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// TestServeProbeUnix runs `wireplay serve --unix-path` as a process and probes its Unix stream
// echo with `wireplay probe --transport unix`: every message comes back, the summary names the
// transport and what its "handshake" was, and after SIGTERM the server exits 0 and the socket file
// is gone.
func TestServeProbeUnix(t *testing.T) {
	dir, err := os.MkdirTemp("", "wpunix") // a socket path is at most 108 bytes; t.TempDir's can be longer
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "echo.sock")
	sp := startServe(t, "--unix-path", path)
	code, msgs, sum, errOut := probeJSON(t, "--transport", "unix", "--addr", path, "--count", "20", "--size", "300")
	if code != 0 {
		t.Fatalf("probe exit %d: %s", code, errOut)
	}
	if len(msgs) != 20 {
		t.Errorf("%d message lines, want 20", len(msgs))
	}
	for i, m := range msgs {
		if m["msg"] != float64(i+1) || m["lost"] == true || m["bytes"] != float64(300) {
			t.Errorf("message line %d: %v", i, m)
		}
	}
	if sum["transport"] != "unix" || sum["addr"] != path || sum["sent"] != float64(20) || sum["received"] != float64(20) ||
		sum["lost"] != float64(0) || sum["out_of_order"] != float64(0) || sum["handshake"] != protocol.HandshakeUnix {
		t.Errorf("summary %v", sum)
	}
	if err := sp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sp.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v; stderr:\n%s", err, sp.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit within 15 s of SIGTERM")
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file after shutdown: %v", err)
	}
}

// TestProbeUnixUsage: --transport unix needs the socket's path and cannot go over --link; a path
// nobody listens on fails the probe, saying so once.
func TestProbeUnixUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"probe", "--transport", "unix"}, 2, "--addr must be the socket's path"},
		{[]string{"probe", "--transport", "unix", "--link"}, 2, "cannot cross the emulated link"},
		{[]string{"probe", "--transport", "unix", "--addr", filepath.Join(t.TempDir(), "none.sock"), "--count", "1"}, 1, "dial unix"},
	} {
		var out bytes.Buffer
		if code := run(tt.args, &out, &out); code != tt.code || !strings.Contains(out.String(), tt.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tt.args, code, tt.code, tt.want, out.String())
		}
		if n := strings.Count(out.String(), "dial unix"); n > 1 {
			t.Errorf("%v: the error is said %d times:\n%s", tt.args, n, out.String())
		}
	}
}
