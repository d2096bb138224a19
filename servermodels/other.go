//go:build !linux

package servermodels

import (
	"context"
	"errors"
	"net"
	"time"
)

// errNotLinux is what the Linux-only parts answer elsewhere: epoll, accept4's flags, TCP_INFO of
// a listener.
var errNotLinux = errors.New("servermodels: epoll, accept4 and a listener's TCP_INFO are Linux's")

func (s *Server) startEpoll() error { return errNotLinux }

// AcceptQueue reads the listener's accept queue from the kernel: Linux only.
func (s *Server) AcceptQueue() (queued, limit int, err error) { return 0, 0, errNotLinux }

// Nonblock shows a read deadline, EAGAIN and a partial write: Linux only.
func Nonblock(ctx context.Context, deadline time.Duration) (*Nonblocking, error) {
	return nil, errNotLinux
}

// IdleClient opens a connection held by a plain descriptor: Linux only.
func IdleClient(addr *net.TCPAddr) (fd int, err error) { return -1, errNotLinux }
