package transports_test

import (
	"testing"

	"github.com/wireplay/wireplay/transports"
	"github.com/wireplay/wireplay/transports/transportstest"
)

func TestKernelNetwork(t *testing.T) {
	transportstest.TestNetwork(t, func(t *testing.T) (server, client transports.Network, serverHost string) {
		return transports.Kernel, transports.Kernel, "127.0.0.1"
	})
}
