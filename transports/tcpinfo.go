package transports

import (
	"errors"
	"net"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
)

// ReadTCPInfo returns the stack's metrics for a TCP conn: TCP_INFO for a kernel socket, TCPInfo for
// a conn that implements netx.TCPInfoConn (package link's).
func ReadTCPInfo(c net.Conn) (protocol.TCPStats, error) {
	switch c := c.(type) {
	case netx.TCPInfoConn:
		info, err := c.TCPInfo()
		if err != nil {
			return protocol.TCPStats{}, err
		}
		return tcpStats(info), nil
	case *net.TCPConn:
		return kernelTCPInfo(c)
	}
	return protocol.TCPStats{}, errors.New("tcp info: not a TCP conn")
}

func tcpStats(i netx.TCPInfo) protocol.TCPStats {
	return protocol.TCPStats{
		RTTMicros:     i.RTT.Microseconds(),
		RTTVarMicros:  i.RTTVar.Microseconds(),
		Cwnd:          i.Cwnd,
		MSS:           i.MSS,
		TotalRetrans:  i.TotalRetrans,
		BytesSent:     i.BytesSent,
		BytesReceived: i.BytesReceived,
		SegsOut:       i.SegsOut,
		SegsIn:        i.SegsIn,
	}
}
