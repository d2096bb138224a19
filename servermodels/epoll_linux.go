package servermodels

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// epConn is one connection of the readiness loop: its descriptor and what is still to be
// written back (a write the kernel took only part of).
type epConn struct {
	fd      int
	peer    string
	pending []byte
}

// startEpoll opens a non-blocking listener and starts the one goroutine that serves every
// connection by readiness.
func (s *Server) startEpoll() error {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error, fds ...int) error {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err, lfd)
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail("bind", err, lfd)
	}
	if err := unix.Listen(lfd, unix.SOMAXCONN); err != nil {
		return fail("listen", err, lfd)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		return fail("getsockname", err, lfd)
	}
	s.addr = sockaddrString(sa)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fail("epoll_create1", err, lfd)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC) // Close's way into the loop
	if err != nil {
		return fail("eventfd", err, lfd, epfd)
	}
	for _, fd := range []int{lfd, wake} {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			return fail("epoll_ctl", err, lfd, epfd, wake)
		}
	}
	s.control = func(f func(fd uintptr)) error { f(uintptr(lfd)); return nil }
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.loop(epfd, lfd, wake)
	}()
	s.close = func() error {
		var one = [8]byte{1}
		if _, err := unix.Write(wake, one[:]); err != nil {
			return fmt.Errorf("wake epoll loop: %w", err)
		}
		<-done
		return nil
	}
	return nil
}

// loop is the readiness loop: it waits in epoll_wait for any descriptor to be ready, then does
// only what will not block — accepts until EAGAIN, one read per readable connection, writes
// that the kernel takes whole or in part — and waits again.
func (s *Server) loop(epfd, lfd, wake int) {
	conns := map[int]*epConn{}
	defer func() {
		for fd, c := range conns {
			unix.Close(fd)
			s.open.Add(-1)
			s.log.add(Closed, c.peer)
		}
		unix.Close(lfd)
		unix.Close(wake)
		unix.Close(epfd)
	}()
	events := make([]unix.EpollEvent, 128)
	buf := make([]byte, bufSize) // one buffer for every connection
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			switch fd {
			case wake:
				return
			case lfd:
				s.acceptAll(epfd, lfd, conns)
			default:
				if c := conns[fd]; c != nil && !s.ready(epfd, c, ev.Events, buf) {
					s.closeConn(epfd, c, conns)
				}
			}
		}
	}
}

// acceptAll accepts every connection waiting (until EAGAIN) and registers each for reading.
func (s *Server) acceptAll(epfd, lfd int, conns map[int]*epConn) {
	for {
		fd, sa, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil { // EAGAIN: the queue is empty
			return
		}
		c := &epConn{fd: fd, peer: sockaddrString(sa)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
			unix.Close(fd)
			continue
		}
		conns[fd] = c
		s.accepted.Add(1)
		s.open.Add(1)
		s.log.add(Accepted, c.peer)
	}
}

// ready handles one readiness event of c; false means the connection is finished.
func (s *Server) ready(epfd int, c *epConn, events uint32, buf []byte) bool {
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 { // reset, or both sides shut
		return false
	}
	if events&unix.EPOLLOUT != 0 && len(c.pending) > 0 {
		n, err := unix.Write(c.fd, c.pending)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return false
		}
		c.pending = c.pending[max(n, 0):]
		if len(c.pending) == 0 { // drained: read again, stop asking for writability
			c.pending = nil
			if unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}) != nil {
				return false
			}
		}
		return true
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP) == 0 || len(c.pending) > 0 {
		return true
	}
	n, err := unix.Read(c.fd, buf)
	for errors.Is(err, unix.EINTR) { // a signal came first: nothing was read
		n, err = unix.Read(c.fd, buf)
	}
	switch {
	case errors.Is(err, unix.EAGAIN):
		return true
	case err != nil || n == 0: // an error, or the client closed its side
		return false
	}
	w, err := unix.Write(c.fd, buf[:n])
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		return false
	}
	w = max(w, 0)
	if w < n { // the socket's send buffer is full: keep the rest, wait until it is writable
		s.partial.Add(1)
		c.pending = append([]byte(nil), buf[w:n]...)
		if unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(c.fd)}) != nil {
			return false
		}
	}
	return true
}

func (s *Server) closeConn(epfd int, c *epConn, conns map[int]*epConn) {
	unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	delete(conns, c.fd)
	s.open.Add(-1)
	s.log.add(Closed, c.peer)
}

func sockaddrString(sa unix.Sockaddr) string {
	if a, ok := sa.(*unix.SockaddrInet4); ok {
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	}
	return fmt.Sprint(sa)
}
