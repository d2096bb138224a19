package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/wireplay/wireplay/netx"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Host is one end of the link: a netstack with one NIC and one IPv4 address. It implements
// netx.Network; its methods also expose what lessons read and tune on a stack (TIME_WAIT, listen
// backlog and its counters).
type Host struct {
	name string
	s    *stack.Stack
	addr netip.Addr
	mss  uint32 // payload bytes per full segment on this host's MTU
	link *Link

	nextPort atomic.Uint32 // listens on port 0 so far (see bind)
}

var _ netx.Network = (*Host)(nil)

// listenBacklog is the accept queue length of a Listen.
const listenBacklog = 1024

func (h *Host) fullAddr(op, network, address string, wantTCP bool) (tcpip.FullAddress, error) {
	switch network {
	case "tcp", "tcp4":
		if !wantTCP {
			return tcpip.FullAddress{}, fmt.Errorf("link %s %s %s: %w", op, network, address, net.UnknownNetworkError(network))
		}
	case "udp", "udp4":
		if wantTCP {
			return tcpip.FullAddress{}, fmt.Errorf("link %s %s %s: %w", op, network, address, net.UnknownNetworkError(network))
		}
	default:
		return tcpip.FullAddress{}, fmt.Errorf("link %s %s %s: %w", op, network, address, net.UnknownNetworkError(network))
	}
	hostPart, portPart, err := net.SplitHostPort(address)
	if err != nil {
		return tcpip.FullAddress{}, fmt.Errorf("link %s %s: %w", op, network, err)
	}
	port, err := strconv.ParseUint(portPart, 10, 16)
	if err != nil {
		return tcpip.FullAddress{}, fmt.Errorf("link %s %s %s: bad port %q", op, network, address, portPart)
	}
	fa := tcpip.FullAddress{Port: uint16(port)}
	if hostPart == "" {
		if op == "dial" {
			fa.Addr = tcpip.AddrFrom4(h.addr.As4())
		}
		return fa, nil
	}
	ip, err := netip.ParseAddr(hostPart)
	if err != nil {
		return tcpip.FullAddress{}, fmt.Errorf("link %s %s %s: host must be an IPv4 literal: %w", op, network, address, err)
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return tcpip.FullAddress{}, fmt.Errorf("link %s %s %s: only IPv4 is supported", op, network, address)
	}
	if !ip.IsUnspecified() {
		fa.Addr = tcpip.AddrFrom4(ip.As4())
	}
	return fa, nil
}

// Listen implements netx.Network for "tcp" and "tcp4". Port 0 takes the host's next free port
// from 10000 up, in the order of Listen and ListenPacket calls, not a random one (see ports.go).
func (h *Host) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return h.listen(ctx, network, address, listenBacklog)
}

// listen opens a TCP listener with the given accept backlog.
func (h *Host) listen(ctx context.Context, network, address string, backlog int) (net.Listener, error) {
	ep, wq, err := h.listenEndpoint(ctx, network, address, backlog)
	if err != nil {
		return nil, err
	}
	return &listener{ep: ep, wq: wq, closed: make(chan struct{}), mss: h.mss}, nil
}

// ListenEndpoint opens a TCP listener on h ("tcp" or "tcp4", port 0 as Listen) as a bare netstack
// endpoint with its waiter queue, for a server that waits for readiness itself — registering
// on the queues of the listener and of what it accepts, and calling the endpoints' non-blocking
// Accept, Read and Write — instead of blocking in net.Listener's Accept. The caller closes it.
func (h *Host) ListenEndpoint(ctx context.Context, network, address string, backlog int) (tcpip.Endpoint, *waiter.Queue, error) {
	return h.listenEndpoint(ctx, network, address, backlog)
}

func (h *Host) listenEndpoint(ctx context.Context, network, address string, backlog int) (tcpip.Endpoint, *waiter.Queue, error) {
	fa, err := h.fullAddr("listen", network, address, true)
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("link listen: %w", err)
	}
	var wq waiter.Queue
	ep, terr := h.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, nil, fmt.Errorf("link listen: %w", tcpipErr(terr))
	}
	if terr := h.bind(ep, fa); terr != nil {
		ep.Close()
		return nil, nil, fmt.Errorf("link listen %s %s: %w", network, address, tcpipErr(terr))
	}
	if terr := ep.Listen(backlog); terr != nil {
		ep.Close()
		return nil, nil, fmt.Errorf("link listen %s %s: %w", network, address, tcpipErr(terr))
	}
	return ep, &wq, nil
}

// ListenPacket implements netx.Network for "udp" and "udp4". Port 0 takes a port as Listen does.
func (h *Host) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	fa, err := h.fullAddr("listen", network, address, false)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("link listen: %w", err)
	}
	return h.udp(&fa, nil)
}

// Dial implements netx.Network for "tcp", "tcp4", "udp" and "udp4".
func (h *Host) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	isTCP := network == "tcp" || network == "tcp4"
	fa, err := h.fullAddr("dial", network, address, isTCP)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("link dial: %w", err)
	}
	if !isTCP {
		return h.udp(nil, &fa)
	}
	var wq waiter.Queue
	ep, terr := h.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, fmt.Errorf("link dial: %w", tcpipErr(terr))
	}
	entry, notify := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	terr = ep.Connect(fa)
	if _, ok := terr.(*tcpip.ErrConnectStarted); ok {
		select {
		case <-ctx.Done():
			ep.Close()
			return nil, fmt.Errorf("link dial %s %s: %w", network, address, ctx.Err())
		case <-notify:
		}
		terr = ep.LastError()
	}
	if terr != nil {
		ep.Close()
		return nil, fmt.Errorf("link dial %s %s: %w", network, address, tcpipErr(terr))
	}
	return newTCPConn(&wq, ep, h.mss), nil
}

func (h *Host) udp(laddr, raddr *tcpip.FullAddress) (*UDPConn, error) {
	var wq waiter.Queue
	ep, terr := h.s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, fmt.Errorf("link udp: %w", tcpipErr(terr))
	}
	if laddr != nil {
		if terr := h.bind(ep, *laddr); terr != nil {
			ep.Close()
			return nil, fmt.Errorf("link listen udp %s: %w", fullString(*laddr), tcpipErr(terr))
		}
	}
	if raddr != nil {
		if terr := ep.Connect(*raddr); terr != nil {
			ep.Close()
			return nil, fmt.Errorf("link dial udp %s: %w", fullString(*raddr), tcpipErr(terr))
		}
	}
	return &UDPConn{UDPConn: gonet.NewUDPConn(&wq, ep), ep: ep, link: h.link}, nil
}

func fullString(fa tcpip.FullAddress) string {
	host := "0.0.0.0"
	if fa.Addr.Len() > 0 {
		host = fa.Addr.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(fa.Port)))
}

// tcpipErr turns a netstack error into a Go error, mapping the common ones onto their syscall
// equivalents so errors.Is(err, syscall.ECONNREFUSED) works as it does for kernel sockets.
func tcpipErr(e tcpip.Error) error {
	switch e.(type) {
	case *tcpip.ErrConnectionRefused:
		return syscall.ECONNREFUSED
	case *tcpip.ErrConnectionReset:
		return syscall.ECONNRESET
	case *tcpip.ErrPortInUse:
		return syscall.EADDRINUSE
	case *tcpip.ErrTimeout:
		return syscall.ETIMEDOUT
	case *tcpip.ErrHostUnreachable, *tcpip.ErrNetworkUnreachable:
		return syscall.EHOSTUNREACH
	case *tcpip.ErrBadLocalAddress:
		return syscall.EADDRNOTAVAIL
	}
	return errors.New(e.String())
}

// listener is a TCP listener whose accepted conns are *TCPConn.
type listener struct {
	ep        tcpip.Endpoint
	wq        *waiter.Queue
	closed    chan struct{}
	closeOnce sync.Once
	mss       uint32
}

func (l *listener) Accept() (net.Conn, error) {
	entry, notify := waiter.NewChannelEntry(waiter.ReadableEvents)
	l.wq.EventRegister(&entry)
	defer l.wq.EventUnregister(&entry)
	for {
		select {
		case <-l.closed:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
		default:
		}
		ep, wq, terr := l.ep.Accept(nil)
		if terr == nil {
			return newTCPConn(wq, ep, l.mss), nil
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
			select {
			case <-l.closed:
				return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
			default:
			}
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: tcpipErr(terr)}
		}
		select {
		case <-l.closed:
		case <-notify:
		}
	}
}

func (l *listener) Close() error {
	first := false
	l.closeOnce.Do(func() {
		first = true
		close(l.closed)
		l.ep.Close()
	})
	if !first {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	return nil
}

func (l *listener) Addr() net.Addr {
	a, err := l.ep.GetLocalAddress()
	if err != nil {
		return &net.TCPAddr{}
	}
	return toTCPAddr(a)
}

func toTCPAddr(a tcpip.FullAddress) *net.TCPAddr {
	ip := net.IPv4zero
	if a.Addr.Len() > 0 {
		ip = net.IP(a.Addr.AsSlice())
	}
	return &net.TCPAddr{IP: ip, Port: int(a.Port)}
}

// UDPConn is a netstack UDP socket: a net.PacketConn (and, when dialed, a net.Conn) that quic-go
// can run on. SetReadBuffer and SetWriteBuffer size netstack's socket buffers, so quic-go's
// buffer check passes without a warning.
type UDPConn struct {
	*gonet.UDPConn
	ep     tcpip.Endpoint
	closed atomic.Bool
	link   *Link // for KeyLog
}

// LocalAddr implements net.PacketConn. A socket bound to no particular address reports 0.0.0.0,
// as the kernel does (netstack's own LocalAddr gives an empty IP there, which quic-go's qlog tracer
// cannot take).
func (c *UDPConn) LocalAddr() net.Addr {
	a, ok := c.UDPConn.LocalAddr().(*net.UDPAddr)
	if !ok || a == nil {
		return c.UDPConn.LocalAddr()
	}
	if len(a.IP) == 0 {
		a.IP = net.IPv4zero
	}
	return a
}

func (c *UDPConn) closedErr(op string) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Err: net.ErrClosed}
}

// SetReadBuffer sets the socket's receive buffer size.
func (c *UDPConn) SetReadBuffer(bytes int) error {
	c.ep.SocketOptions().SetReceiveBufferSize(int64(bytes), true)
	return nil
}

// SetWriteBuffer sets the socket's send buffer size.
func (c *UDPConn) SetWriteBuffer(bytes int) error {
	c.ep.SocketOptions().SetSendBufferSize(int64(bytes), true)
	return nil
}

// ReadFrom implements net.PacketConn.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.closed.Load() {
		return 0, nil, c.closedErr("read")
	}
	n, addr, err := c.UDPConn.ReadFrom(b)
	if err != nil && c.closed.Load() {
		err = c.closedErr("read")
	}
	return n, addr, err
}

// Read implements net.Conn.
func (c *UDPConn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFrom(b)
	return n, err
}

// WriteTo implements net.PacketConn. addr must be a *net.UDPAddr or a net.Addr whose String is
// an IPv4 "host:port".
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.closed.Load() {
		return 0, c.closedErr("write")
	}
	var ua *net.UDPAddr
	switch a := addr.(type) {
	case *net.UDPAddr:
		ua = a
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: err}
		}
		ua = net.UDPAddrFromAddrPort(ap)
	}
	if ip4 := ua.IP.To4(); ip4 != nil && len(ua.IP) != 4 {
		ua = &net.UDPAddr{IP: ip4, Port: ua.Port}
	}
	n, err := c.UDPConn.WriteTo(b, ua)
	if err != nil && c.closed.Load() {
		err = c.closedErr("write")
	}
	return n, err
}

// Write implements net.Conn.
func (c *UDPConn) Write(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.closedErr("write")
	}
	n, err := c.UDPConn.Write(b)
	if err != nil && c.closed.Load() {
		err = c.closedErr("write")
	}
	return n, err
}

// Close implements net.PacketConn.
func (c *UDPConn) Close() error {
	if c.closed.Swap(true) {
		return c.closedErr("close")
	}
	return c.UDPConn.Close()
}
