package transports_test

import (
	"testing"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports/transportstest"
)

func TestKernelNetwork(t *testing.T) {
	transportstest.TestNetwork(t, func(t *testing.T) (server, client netx.Network, serverHost string) {
		return netx.Kernel, netx.Kernel, "127.0.0.1"
	})
}
