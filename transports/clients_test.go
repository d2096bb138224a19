package transports_test

import (
	"testing"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports/transportstest"
	"go.uber.org/goleak"
)

func TestClientsKernel(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			target := transportstest.StartEcho(t, netx.Kernel, host)
			transportstest.TestClients(t, netx.Kernel, target)
		})
	}
}
