package servermodels

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// AcceptQueue reads the listener's accept queue from the kernel (TCP_INFO of a listening socket):
// how many finished handshakes wait for accept, and the queue's limit (listen's backlog).
func (s *Server) AcceptQueue() (queued, limit int, err error) {
	var info *unix.TCPInfo
	var ierr error
	if err := s.control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return 0, 0, fmt.Errorf("accept queue: %w", err)
	}
	if ierr != nil {
		return 0, 0, fmt.Errorf("accept queue: %w", ierr)
	}
	// For a listener Linux puts the queue's length in tcpi_unacked and its limit in tcpi_sacked.
	return int(info.Unacked), int(info.Sacked), nil
}
