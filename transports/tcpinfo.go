package transports

import (
	"errors"
	"net"

	"github.com/wireplay/wireplay/protocol"
)

// TCPInfoConn is a stream conn that can report its TCP stack's own state. Package link's TCP conns
// implement it from netstack's TCPInfoOption.
type TCPInfoConn interface {
	TCPInfo() (protocol.TCPStats, error)
}

// ReadTCPInfo returns the stack's metrics for a TCP conn: TCP_INFO for a kernel socket, TCPInfo for
// a conn that implements TCPInfoConn.
func ReadTCPInfo(c net.Conn) (protocol.TCPStats, error) {
	switch c := c.(type) {
	case TCPInfoConn:
		return c.TCPInfo()
	case *net.TCPConn:
		return kernelTCPInfo(c)
	}
	return protocol.TCPStats{}, errors.New("tcp info: not a TCP conn")
}
