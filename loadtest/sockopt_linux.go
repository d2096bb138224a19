package loadtest

import "syscall"

// narrow makes a socket, before it connects, look like one over Ethernet instead of loopback:
// an MSS of 1,460 bytes (loopback's is 65,483, from which Linux sizes the sender's buffer: some
// MB) and a 4 KiB receive buffer (Linux doubles it): a window smaller than the sender's first flight, so its buffer is not grown either. The non-reader's socket is narrowed so that the server's
// writes to it stall after what a real client's connection would hold, not after megabytes.
func narrow(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1460); serr != nil {
			return
		}
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
	})
	if err != nil {
		return err
	}
	return serr
}
