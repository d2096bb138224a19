//go:build linux

package transports

import (
	"net"

	"github.com/wireplay/wireplay/protocol"
	"golang.org/x/sys/unix"
)

func kernelTCPInfo(c *net.TCPConn) (protocol.TCPStats, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return protocol.TCPStats{}, err
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return protocol.TCPStats{}, err
	}
	if serr != nil {
		return protocol.TCPStats{}, serr
	}
	return protocol.TCPStats{
		RTTMicros:     int64(info.Rtt),
		RTTVarMicros:  int64(info.Rttvar),
		Cwnd:          info.Snd_cwnd,
		MSS:           info.Snd_mss,
		TotalRetrans:  info.Total_retrans,
		BytesSent:     info.Bytes_sent,
		BytesReceived: info.Bytes_received,
		SegsOut:       info.Segs_out,
		SegsIn:        info.Segs_in,
	}, nil
}
