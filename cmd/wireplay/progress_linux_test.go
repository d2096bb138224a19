package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: what the command writes to the returned terminal side
// can be read from the controller side.
func openPTY(t *testing.T) (controller, terminal *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// A run with repeats shows its progress on stderr when stderr is a terminal, and only then: the
// same run with stderr in a buffer writes nothing there.
func TestRunProgressOnTerminal(t *testing.T) {
	m, term := openPTY(t)
	var out bytes.Buffer
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(m) // ends with EIO once the terminal side is closed
		got <- string(b)
	}()
	args := []string{"run", "boundaries", "--repeat", "2", "--param", "trials=1", "--format", "json"}
	if code := run(args, &out, term); code != 0 {
		t.Fatalf("exit %d", code)
	}
	term.Close()
	text := <-got
	for _, want := range []string{"run boundaries: 1 of 2 done", "run boundaries: 2 of 2 done"} {
		if !strings.Contains(text, want) {
			t.Errorf("terminal got %q, want %q", text, want)
		}
	}
	var errOut bytes.Buffer
	if code := run(args, &out, &errOut); code != 0 || errOut.Len() != 0 {
		t.Errorf("not a terminal: exit %d, stderr %q; want nothing", code, errOut.String())
	}
}
