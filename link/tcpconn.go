package link

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/wireplay/wireplay/netx"
)

// TCPConn is a netstack TCP conn. It offers what *net.TCPConn offers (CloseRead, CloseWrite,
// SetNoDelay, SetKeepAlive, SetKeepAliveConfig, SetLinger) and what a lesson reads from a stack:
// its TCP state and TCP_INFO-like statistics (netx.TCPInfoConn).
type TCPConn struct {
	*gonet.TCPConn
	ep     tcpip.Endpoint
	mss    uint32
	closed atomic.Bool
	sent   atomic.Uint64
	recv   atomic.Uint64
}

var _ netx.TCPInfoConn = (*TCPConn)(nil)

func newTCPConn(wq *waiter.Queue, ep tcpip.Endpoint, mss uint32) *TCPConn {
	return &TCPConn{TCPConn: gonet.NewTCPConn(wq, ep), ep: ep, mss: mss}
}

func (c *TCPConn) closedErr(op string) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: net.ErrClosed}
}

func (c *TCPConn) optErr(op string, terr tcpip.Error) error {
	if terr == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: tcpipErr(terr)}
}

// Read implements net.Conn.
func (c *TCPConn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.closedErr("read")
	}
	n, err := c.TCPConn.Read(b)
	c.recv.Add(uint64(n))
	if err != nil && c.closed.Load() {
		err = c.closedErr("read")
	}
	return n, err
}

// Write implements net.Conn.
func (c *TCPConn) Write(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.closedErr("write")
	}
	n, err := c.TCPConn.Write(b)
	c.sent.Add(uint64(n))
	if err != nil && c.closed.Load() {
		err = c.closedErr("write")
	}
	return n, err
}

// Close implements net.Conn.
func (c *TCPConn) Close() error {
	if c.closed.Swap(true) {
		return c.closedErr("close")
	}
	return c.TCPConn.Close()
}

// SetNoDelay turns Nagle's algorithm off (true) or on (false), as (*net.TCPConn).SetNoDelay.
// Netstack's default is off (no delay), where Linux's is on.
func (c *TCPConn) SetNoDelay(noDelay bool) error {
	c.ep.SocketOptions().SetDelayOption(!noDelay)
	return nil
}

// NoDelay reports whether Nagle's algorithm is off.
func (c *TCPConn) NoDelay() bool { return !c.ep.SocketOptions().GetDelayOption() }

// SetKeepAlive turns keepalive probes on or off, as (*net.TCPConn).SetKeepAlive.
func (c *TCPConn) SetKeepAlive(on bool) error {
	c.ep.SocketOptions().SetKeepAlive(on)
	return nil
}

// SetKeepAliveConfig configures keepalive probes as (*net.TCPConn).SetKeepAliveConfig does: Idle
// before the first probe, Interval between probes, Count unanswered probes before the connection
// is dropped. A zero field keeps netstack's current value; a negative one is an error.
func (c *TCPConn) SetKeepAliveConfig(kc net.KeepAliveConfig) error {
	if kc.Idle < 0 || kc.Interval < 0 || kc.Count < 0 {
		return fmt.Errorf("link keepalive: negative setting %+v", kc)
	}
	if kc.Idle > 0 {
		o := tcpip.KeepaliveIdleOption(kc.Idle)
		if err := c.optErr("set keepalive idle", c.ep.SetSockOpt(&o)); err != nil {
			return err
		}
	}
	if kc.Interval > 0 {
		o := tcpip.KeepaliveIntervalOption(kc.Interval)
		if err := c.optErr("set keepalive interval", c.ep.SetSockOpt(&o)); err != nil {
			return err
		}
	}
	if kc.Count > 0 {
		if err := c.optErr("set keepalive count", c.ep.SetSockOptInt(tcpip.KeepaliveCountOption, kc.Count)); err != nil {
			return err
		}
	}
	c.ep.SocketOptions().SetKeepAlive(kc.Enable)
	return nil
}

// SetLinger sets what Close does with unsent data, as (*net.TCPConn).SetLinger: sec < 0 is the
// default (send it in the background, then FIN), sec == 0 discards it and resets the connection
// (RST), sec > 0 lingers up to sec seconds.
func (c *TCPConn) SetLinger(sec int) error {
	c.ep.SocketOptions().SetLinger(tcpip.LingerOption{Enabled: sec >= 0, Timeout: time.Duration(max(sec, 0)) * time.Second})
	return nil
}

// State is the connection's TCP state in netstack's words ("ESTABLISHED", "FIN-WAIT-1",
// "TIME-WAIT", "CLOSED", …).
func (c *TCPConn) State() string { return tcp.EndpointState(c.ep.State()).String() }

// StateTimeWait is what State returns for a connection in TIME-WAIT.
var StateTimeWait = tcp.StateTimeWait.String()

// TimeWait reports whether the connection is in TIME-WAIT.
func (c *TCPConn) TimeWait() bool { return tcp.EndpointState(c.ep.State()) == tcp.StateTimeWait }

// Closed reports whether the connection has reached CLOSED (or was never connected).
func (c *TCPConn) Closed() bool {
	st := tcp.EndpointState(c.ep.State())
	return st == tcp.StateClose || st == tcp.StateInitial || st == tcp.StateError
}

// TCPInfo reports netstack's view of the connection: RTT, RTT variance and congestion window
// from TCPInfoOption, retransmissions and segment counts from the endpoint's stats. Netstack
// exports neither the negotiated MSS nor byte counters, so MSS is the full-segment payload on
// the link's MTU (MTU − 40 bytes of IP and TCP headers − 12 of timestamp option, as both hosts
// negotiate timestamps), and BytesSent and BytesReceived count application bytes written and read
// (without retransmissions).
func (c *TCPConn) TCPInfo() (netx.TCPInfo, error) {
	var info tcpip.TCPInfoOption
	if terr := c.ep.GetSockOpt(&info); terr != nil {
		return netx.TCPInfo{}, fmt.Errorf("link tcp info: %w", tcpipErr(terr))
	}
	st := netx.TCPInfo{
		RTT:           info.RTT,
		RTTVar:        info.RTTVar,
		Cwnd:          info.SndCwnd,
		MSS:           c.mss,
		BytesSent:     c.sent.Load(),
		BytesReceived: c.recv.Load(),
		State:         c.State(),
	}
	if s, ok := c.ep.Stats().(*tcp.Stats); ok {
		st.TotalRetrans = uint32(s.SendErrors.Retransmits.Value())
		st.SegsOut = uint32(s.SegmentsSent.Value())
		st.SegsIn = uint32(s.SegmentsReceived.Value())
	}
	return st, nil
}
