package transports

import (
	"context"
	"net"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
)

// udpIO is the measuring client's connected UDP socket.
type udpIO struct{ c net.Conn }

func dialUDP(ctx context.Context, n netx.Network, addr string) (*udpIO, error) {
	c, err := n.Dial(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	return &udpIO{c}, nil
}

func (u *udpIO) write(b []byte) error {
	_, err := u.c.Write(b)
	return err
}
func (u *udpIO) read(b []byte) (int, error) {
	for {
		n, err := u.c.Read(b)
		if err != nil && isRefused(err) {
			continue // an ICMP port unreachable from an earlier datagram: that one is lost, go on
		}
		return n, err
	}
}
func (u *udpIO) close() error           { return u.c.Close() }
func (u *udpIO) datagrams() bool        { return true }
func (u *udpIO) localAddr() net.Addr    { return u.c.LocalAddr() }
func (u *udpIO) stats() *protocol.Stats { return nil }
