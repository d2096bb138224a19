// Package netx is the small interface wireplay's endpoints, clients and lessons run on: the part of
// package net they use (listen, listen for datagrams, dial, each with a context), with the
// operating system's sockets behind Kernel. Package link implements the same interface over an
// emulated, impaired wire, so the same code is measured on both.
//
// It imports only the standard library, so a program that wants only the emulated network (package
// link) pulls in nothing of the playground.
package netx

import (
	"context"
	"net"
	"time"
)

// Network is the part of package net that wireplay's endpoints and clients use. Every
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

// TCPInfo is a TCP stack's own view of one connection, in the terms of Linux's TCP_INFO.
type TCPInfo struct {
	RTT, RTTVar   time.Duration // smoothed round trip time and its variance
	Cwnd          uint32        // congestion window, in segments
	MSS           uint32        // payload bytes per full segment
	TotalRetrans  uint32        // segments retransmitted
	BytesSent     uint64        // bytes sent
	BytesReceived uint64        // bytes received
	SegsOut       uint32        // segments sent
	SegsIn        uint32        // segments received
	State         string        // TCP state: "ESTABLISHED", "TIME-WAIT", … ("" when unknown)
}

// TCPInfoConn is a stream conn that reports its TCP stack's view of the connection. Package link's
// TCP conns implement it.
type TCPInfoConn interface {
	net.Conn
	TCPInfo() (TCPInfo, error)
}
