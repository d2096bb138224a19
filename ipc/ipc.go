// Package ipc is wireplay's echo over the local transports that never enter the network stack: a
// Unix domain socket, as a byte stream (SOCK_STREAM, UnixEcho) and as datagrams (SOCK_DGRAM,
// UnixgramEcho), and a pair of pipes (PipeEcho). They are the operating system's own — kernel
// sockets named by a file path and kernel pipes — and none of them can cross package link's
// emulated wire: they run on the kernel only.
//
// Every endpoint answers with the same two loops, EchoStream and EchoPackets, so the lesson ipc
// can put them beside TCP and UDP loopback served by the same code; `wireplay serve --unix-path`
// serves a UnixEcho that `wireplay probe --transport unix` reaches.
package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// BufSize is the echo loops' buffer: one read of at most this many bytes is written back at once
// (a datagram up to this size is echoed whole).
const BufSize = 64 << 10

// EchoStream writes back to w every byte read from r, one read at a time, until a read fails:
// nil when r reached its end (the peer closed its side), the error otherwise.
func EchoStream(r io.Reader, w io.Writer) error {
	buf := make([]byte, BufSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("echo write: %w", werr)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("echo read: %w", err)
		}
	}
}

// EchoPackets answers each datagram read from pc with the same bytes, sent to the address it came
// from, until pc is closed (then it returns nil). A datagram whose sender has no address (a Unix
// datagram socket that never bound a path) cannot be answered: it is counted in unanswerable
// when that is set. A failed answer is not retried: a datagram socket may drop.
func EchoPackets(pc net.PacketConn, unanswerable *atomic.Uint64) error {
	buf := make([]byte, BufSize)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("echo read: %w", err)
			}
			continue // e.g. a truncated datagram, or an ICMP error reported on the socket
		}
		if !answerable(from) {
			if unanswerable != nil {
				unanswerable.Add(1)
			}
			continue
		}
		if _, err := pc.WriteTo(buf[:n], from); errors.Is(err, net.ErrClosed) {
			return nil
		}
	}
}

// answerable says a datagram's sender address can be written to.
func answerable(a net.Addr) bool {
	switch a := a.(type) {
	case nil:
		return false
	case *net.UnixAddr:
		return a != nil && a.Name != ""
	case *net.UDPAddr:
		return a != nil
	}
	return true
}

// removeStale makes path free for a new socket of network ("unix" or "unixgram"): nothing there
// is fine; a socket nobody listens on (a server that did not close it) is removed; a socket that
// answers, or anything that is not a socket, is an error.
func removeStale(ctx context.Context, network, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen %s %s: %w", network, path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("listen %s %s: the path exists and is not a socket", network, path)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, path)
	if err == nil {
		c.Close()
		return fmt.Errorf("listen %s %s: another server is listening on it", network, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("listen %s %s: %w", network, path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("listen %s %s: remove the stale socket: %w", network, path, err)
	}
	return nil
}
