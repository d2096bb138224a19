//go:build !linux

package transports

import (
	"errors"
	"net"

	"github.com/wireplay/wireplay/protocol"
)

func kernelTCPInfo(*net.TCPConn) (protocol.TCPStats, error) {
	return protocol.TCPStats{}, errors.New("tcp info: TCP_INFO is only read on Linux")
}
