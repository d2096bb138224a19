package natsbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wireplay/wireplay/broker/natsbroker"
)

// startServerB is startServer for a benchmark.
func startServerB(b *testing.B) string {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats-server not ready")
	}
	b.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// benchRoundTrip measures one message of size bytes from Publish on one instance to deliver on
// another, through a nats-server on loopback (default max_payload, 1 MiB), one at a time: ns/op
// is the latency of one message.
func benchRoundTrip(b *testing.B, size int) {
	url := startServerB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := natsbroker.Dial(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	subB, err := natsbroker.Dial(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer subB.Close()
	got := make(chan struct{}, 1)
	if _, err := subB.Subscribe(ctx, "bench.rt", func([]byte) { got <- struct{}{} }); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		if err := pub.Publish(context.Background(), "bench.rt", msg); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			b.Fatal("message not delivered")
		}
	}
}

func BenchmarkRoundTrip100B(b *testing.B) { benchRoundTrip(b, 100) }
func BenchmarkRoundTrip3MiB(b *testing.B) { benchRoundTrip(b, 3<<20) }
