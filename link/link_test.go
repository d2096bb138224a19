package link

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports/transportstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newLink makes a link closed at the end of the test.
func newLink(t testing.TB, cfg Config) *Link {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func TestConformance(t *testing.T) {
	transportstest.TestNetwork(t, func(t *testing.T) (server, client netx.Network, serverHost string) {
		l := newLink(t, Config{Seed: 1})
		return l.Server(), l.Client(), l.ServerAddr().String()
	})
}

// TestClientsConformance runs the transport clients' conformance suite (the same one the kernel
// passes in package transports) across the link: every transport, one network or the other.
func TestClientsConformance(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	target := transportstest.StartEcho(t, l.Server(), l.ServerAddr().String())
	transportstest.TestClients(t, l.Client(), target)
}
