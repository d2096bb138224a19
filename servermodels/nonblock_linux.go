package servermodels

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Nonblock shows a read deadline firing, EAGAIN on a non-blocking read and a partial write, on
// real sockets connected over 127.0.0.1. deadline is the read deadline (e.g. 50ms).
func Nonblock(ctx context.Context, deadline time.Duration) (*Nonblocking, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("nonblock: %w", err)
	}
	defer ln.Close()
	out := &Nonblocking{Deadline: deadline}

	// 1. A read deadline: the peer accepts but never writes.
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp4", ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("nonblock: dial: %w", err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		return nil, fmt.Errorf("nonblock: accept: %w", err)
	}
	defer peer.Close()
	t0 := time.Now()
	c.SetReadDeadline(t0.Add(deadline))
	_, out.DeadlineErr = c.Read(make([]byte, 1))
	out.DeadlineWaited = time.Since(t0)
	if !errors.Is(out.DeadlineErr, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("nonblock: read past its deadline returned %v", out.DeadlineErr)
	}

	// 2 and 3 on a raw non-blocking descriptor, outside Go's netpoller.
	fd, err := rawConnect(ln.Addr().(*net.TCPAddr))
	if err != nil {
		return nil, fmt.Errorf("nonblock: %w", err)
	}
	defer unix.Close(fd)
	peer2, err := ln.Accept() // accepted, never read: its receive buffer fills
	if err != nil {
		return nil, fmt.Errorf("nonblock: accept: %w", err)
	}
	defer peer2.Close()
	t0 = time.Now()
	_, out.ReadErr = unix.Read(fd, make([]byte, 1))
	out.ReadTook = time.Since(t0)
	if !errors.Is(out.ReadErr, unix.EAGAIN) {
		return nil, fmt.Errorf("nonblock: read with nothing to read returned %v, want EAGAIN", out.ReadErr)
	}

	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10); err != nil {
		return nil, fmt.Errorf("nonblock: setsockopt: %w", err)
	}
	out.SendBuffer, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	out.WriteAsked = 64 << 10
	chunk := make([]byte, out.WriteAsked)
	for range 1000 { // the buffers are at most a few MiB: this ends long before
		n, err := unix.Write(fd, chunk)
		if err != nil {
			return nil, fmt.Errorf("nonblock: write before any partial one: %w", err)
		}
		if n < len(chunk) {
			out.WriteTook = n
			break
		}
		out.WritesBefore++
	}
	if out.WriteTook == 0 {
		return nil, errors.New("nonblock: 1000 writes of 64 KiB all went in whole")
	}
	for range 10000 {
		n, err := unix.Write(fd, chunk)
		if err != nil {
			out.NextWriteErr = err
			break
		}
		out.WritesAfter++
		out.WrittenAfter += n
	}
	if !errors.Is(out.NextWriteErr, unix.EAGAIN) {
		return nil, fmt.Errorf("nonblock: writing into a full buffer returned %v, want EAGAIN", out.NextWriteErr)
	}
	return out, nil
}

// rawConnect connects a non-blocking socket to a and waits (poll) until it is connected.
func rawConnect(a *net.TCPAddr) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	if _, err := unix.Poll(pfd, 5000); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("poll connect: %w", err)
	}
	if soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %v", errors.Join(err, unix.Errno(soerr)))
	}
	return fd, nil
}

// IdleClient opens a connection to addr held by a plain blocking descriptor, outside Go's
// runtime, so it costs the measuring process no heap and no goroutine: an idle client.
func IdleClient(addr *net.TCPAddr) (fd int, err error) {
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("idle client: socket: %w", err)
	}
	sa := &unix.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := connectRestarting(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("idle client: connect: %w", err)
	}
	return fd, nil
}

// connectRestarting is a blocking connect that survives a signal: one that interrupts it (the Go
// runtime's preemption signals) leaves the connection going on in the background (EINTR), so
// it waits for the socket to be writable and reads the outcome from SO_ERROR.
func connectRestarting(fd int, sa unix.Sockaddr) error {
	err := unix.Connect(fd, sa)
	if !errors.Is(err, unix.EINTR) {
		return err
	}
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, 10_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return unix.ETIMEDOUT
		}
		soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		if soErr != 0 {
			return unix.Errno(soErr)
		}
		return nil
	}
}
