package server

import (
	"context"
	"net"
	"net/netip"
	"sync"

	"github.com/wireplay/wireplay/netx"
)

// ownSockets is the relay's view of the network: it dials as the network it wraps and remembers
// the local address of every UDP socket it has open, so the UDP echo can tell the relay's own
// traffic from an outside client's on the same loopback address (each relay socket gets its own
// rate bucket instead of sharing 127.0.0.1's).
type ownSockets struct {
	netx.Network
	mu    sync.Mutex
	addrs map[netip.AddrPort]int
}

func newOwnSockets(n netx.Network) *ownSockets {
	return &ownSockets{Network: n, addrs: map[netip.AddrPort]int{}}
}

func (o *ownSockets) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := o.Network.Dial(ctx, network, address)
	if err != nil || (network != "udp" && network != "udp4" && network != "udp6") {
		return c, err
	}
	ap, perr := netip.ParseAddrPort(c.LocalAddr().String())
	if perr != nil {
		return c, nil
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	o.mu.Lock()
	o.addrs[ap]++
	o.mu.Unlock()
	return &ownConn{Conn: c, o: o, ap: ap}, nil
}

// owns reports whether ap is one of the relay's open UDP sockets.
func (o *ownSockets) owns(ap netip.AddrPort) bool {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.addrs[ap] > 0
}

type ownConn struct {
	net.Conn
	o    *ownSockets
	ap   netip.AddrPort
	once sync.Once
}

func (c *ownConn) Close() error {
	c.once.Do(func() {
		c.o.mu.Lock()
		if c.o.addrs[c.ap]--; c.o.addrs[c.ap] <= 0 {
			delete(c.o.addrs, c.ap)
		}
		c.o.mu.Unlock()
	})
	return c.Conn.Close()
}
