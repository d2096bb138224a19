package transports

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/wireplay/wireplay/netx"
)

// TCPOptions are what DialTCP takes; the zero value leaves the stack's defaults.
type TCPOptions struct {
	// KeepAlive, when Enable is set, is applied to the conn (both the kernel's and the link's
	// TCP conns take it).
	KeepAlive net.KeepAliveConfig
}

// ListenTCP listens for TCP connections on n at addr.
func ListenTCP(ctx context.Context, n netx.Network, addr string) (net.Listener, error) {
	ln, err := n.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen tcp: %w", err)
	}
	return ln, nil
}

// DialTCP connects to addr over n.
func DialTCP(ctx context.Context, n netx.Network, addr string, o TCPOptions) (net.Conn, error) {
	c, err := dialTCPConn(ctx, n, addr, o)
	if err != nil {
		if strings.HasPrefix(err.Error(), "dial ") { // net's own: "dial tcp 127.0.0.1:1: …"
			return nil, err
		}
		return nil, fmt.Errorf("dial tcp: %w", err)
	}
	return c, nil
}

func dialTCPConn(ctx context.Context, n netx.Network, addr string, o TCPOptions) (net.Conn, error) {
	c, err := n.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if o.KeepAlive.Enable {
		ka, ok := c.(interface {
			SetKeepAliveConfig(net.KeepAliveConfig) error
		})
		if !ok {
			c.Close()
			return nil, fmt.Errorf("%T has no keep-alive", c)
		}
		if err := ka.SetKeepAliveConfig(o.KeepAlive); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// ListenUDP opens a UDP socket on n at addr.
func ListenUDP(ctx context.Context, n netx.Network, addr string) (net.PacketConn, error) {
	pc, err := n.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen udp: %w", err)
	}
	return pc, nil
}

// DialUDP opens a UDP socket on n connected to addr.
func DialUDP(ctx context.Context, n netx.Network, addr string) (net.Conn, error) {
	c, err := n.Dial(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial udp: %w", err)
	}
	return c, nil
}
