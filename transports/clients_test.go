package transports_test

import (
	"context"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
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

// TestClientHandshakesOnLink: across a link with 25 ms each way, each "connected" event's time is
// at least the round trips its handshake needs (the link's delay is a floor no run can beat):
// one for TCP's connect and for QUIC's handshake, two for WebSocket's connect and upgrade, and
// UDP has none.
func TestClientHandshakesOnLink(t *testing.T) {
	const oneWay = 25 * time.Millisecond
	l, err := link.New(link.Config{Seed: 1, Settings: link.Both(link.Impairment{Delay: oneWay})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	target := transportstest.StartEcho(t, l.Server(), l.ServerAddr().String())
	rtts := map[protocol.Transport]int{protocol.TCP: 1, protocol.UDP: 0, protocol.QUICStream: 1, protocol.QUICDgram: 1, protocol.WS: 2}
	for _, tr := range protocol.Transports {
		rec := transportstest.NewRecorder()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := transports.Dial(ctx, l.Client(), tr, target, transports.ClientOptions{Emit: rec.Emit})
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
		evs := rec.WaitFor(t, time.Second, func(e protocol.Event) bool { return e.Type == protocol.EventConnected })
		e := evs[len(evs)-1]
		floor := time.Duration(rtts[tr]) * 2 * oneWay
		if got := time.Duration(e.DurMicros) * time.Microsecond; got < floor || (tr == protocol.UDP) != (e.Handshake == protocol.HandshakeNone) {
			t.Errorf("%s: handshake %v (%q), want at least %d round trips (%v)", tr, got, e.Handshake, rtts[tr], floor)
		}
		c.Close()
	}
}
