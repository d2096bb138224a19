package link

import (
	"io"
	"runtime"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
)

// BenchmarkTCPThroughput is netstack TCP bulk transfer, client to server, over a clean link.
func BenchmarkTCPThroughput(b *testing.B) {
	for _, mtu := range []int{1500, 9000, 65535} {
		b.Run("MTU="+itoa(mtu), func(b *testing.B) {
			l := newLink(b, Config{MTU: mtu})
			client, server := tcpPair(b, l)
			const chunk = 256 << 10
			buf := make([]byte, chunk)
			done := make(chan int64)
			go func() {
				n, _ := io.Copy(io.Discard, server)
				done <- n
			}()
			b.SetBytes(chunk)
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := client.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			client.Close()
			n := <-done
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(n)*8/el.Seconds()/1e6, "Mbit/s")
		})
	}
}

// BenchmarkLinkPacketsPerSecond is how many small UDP datagrams the wire forwards (decide,
// log, deliver) per second.
func BenchmarkLinkPacketsPerSecond(b *testing.B) {
	l := newLink(b, Config{})
	pc, c := udpPair(b, l)
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(l.Counts(ClientToServer).Delivered)/el.Seconds(), "pkts/s")
	pc.Close()
}

// BenchmarkNewClose is the cost of making and closing a link.
func BenchmarkNewClose(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		l, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdleLinkHeap reports the live heap an idle link holds.
func BenchmarkIdleLinkHeap(b *testing.B) {
	const n = 20
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		links := make([]*Link, n)
		for i := range links {
			l, err := New(Config{})
			if err != nil {
				b.Fatal(err)
			}
			links[i] = l
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/link")
		b.ReportMetric(float64(runtime.NumGoroutine())/n, "goroutines/link")
		for _, l := range links {
			l.Close()
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// BenchmarkFates is the fate decision alone, per packet: the five draws, the drop rules, the
// rate queue and the delay, with every rule on.
func BenchmarkFates(b *testing.B) {
	f := newFates(1, ClientToServer)
	imp := Impairment{Delay: 10 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.01, Duplicate: 0.01,
		Burst: GilbertElliott{P: 0.01, R: 0.3, LossBad: 0.5}, RateBitsPerSec: 100_000_000, QueueBytes: 1 << 20, MTU: 1500}
	now := time.Now()
	f.apply(imp, now)
	for b.Loop() {
		now = now.Add(100 * time.Microsecond) // 1000-byte packets at 80 Mbit/s: the queue drains
		f.decide(now, 1000, exampleFlow)
	}
}

// BenchmarkWireSend is the wire's own work per packet without the netstacks: fate, log record,
// decode, inline delivery to a NIC with no stack behind it.
func BenchmarkWireSend(b *testing.B) {
	l, _ := wireOnly(b, Config{})
	l.nics[ServerToClient].Attach(nil) // no recorder: delivery releases the packet
	pkt := numbered(0, 64)
	pkt[0] = 0x45 // decoded as an IPv4 header
	b.ReportAllocs()
	for b.Loop() {
		l.send(ClientToServer, buffer.NewViewWithData(pkt))
	}
}
