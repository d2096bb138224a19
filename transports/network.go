package transports

import (
	"context"
	"net"
)

// Network is the part of package net that wireplay's endpoints and clients use. Kernel reaches the
// operating system's sockets; package link implements it over an emulated, impaired wire. Every
// implementation passes the same conformance suite (transports/transportstest).
type Network interface {
	// Listen announces a stream listener ("tcp", "tcp4", "tcp6").
	Listen(ctx context.Context, network, address string) (net.Listener, error)
	// ListenPacket opens a datagram socket ("udp", "udp4", "udp6"). The conn returned is what
	// quic-go runs on, so it should be a *net.UDPConn or a plain net.PacketConn.
	ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error)
	// Dial connects a stream ("tcp") or a connected datagram socket ("udp").
	Dial(ctx context.Context, network, address string) (net.Conn, error)
}

// Kernel is the operating system's network.
var Kernel Network = kernel{}

type kernel struct{}

func (kernel) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, network, address)
}

func (kernel) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, network, address)
}

func (kernel) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}
