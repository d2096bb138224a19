package link

import (
	"io"
	"runtime"
	"testing"
	"time"
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
