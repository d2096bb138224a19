package observe_test

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/observe"
	"github.com/wireplay/wireplay/protocol"
)

// recordTCP returns the link packets of a 1 MB TCP transfer across a clean link.
func recordTCP(b *testing.B) []link.Packet {
	l, err := link.New(link.Config{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var pkts []link.Packet
	unsub := l.OnPacket(func(p link.Packet) {
		p.Data = nil
		mu.Lock()
		pkts = append(pkts, p)
		mu.Unlock()
	})
	ctx := context.Background()
	ln, err := l.Server().Listen(ctx, "tcp", l.ServerAddr().String()+":0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	read := make(chan struct{})
	go func() {
		defer close(read)
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := l.Client().Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c.Write(make([]byte, 1<<20))
	c.Close()
	<-read // the server has read it all
	unsub()
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(pkts)
}

// BenchmarkStream: what describing one link packet for the page costs (attribution, relative
// sequence numbers, retransmission marks, batching into events), over a real TCP transfer's
// packets.
func BenchmarkStream(b *testing.B) {
	pkts := recordTCP(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		var events int
		s := observe.New(observe.Config{Emit: func(protocol.Event) { events++ }, Buffer: len(pkts), Delay: 1 << 40})
		for _, p := range pkts {
			s.Add(p)
		}
		s.Stop()
		n += len(pkts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
	b.ReportMetric(float64(len(pkts)), "packets/op")
}
