package natsbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/broker/brokertest"
	"github.com/wireplay/wireplay/broker/natsbroker"
)

// startServer runs a real nats-server in this process, listening on a loopback TCP port, and
// returns its client URL.
func startServer(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func TestNATSContract(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) brokertest.Connect {
		url := startServer(t)
		return func(opts ...broker.Option) broker.Broker {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := natsbroker.Dial(ctx, url, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	})
}

func TestDialRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := natsbroker.Dial(ctx, "nats://127.0.0.1:1"); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}
