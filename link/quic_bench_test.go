package link

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports"
)

// quicSink is a QUIC server on n at host that reads each stream to its end and answers with one
// byte; it returns a client connection to it, dialed from client at clientHost.
func quicSink(b *testing.B, server, client netx.Network, host, clientHost string) *quic.Conn {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	stls, err := transports.ServerTLSConfig("", "")
	if err != nil {
		b.Fatal(err)
	}
	conf := transports.QUICEchoConfig{}.QUICConfig()
	spc, err := server.ListenPacket(ctx, "udp", net.JoinHostPort(host, "0"))
	if err != nil {
		b.Fatal(err)
	}
	st := &quic.Transport{Conn: spc}
	ln, err := st.Listen(stls, conf)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer c.CloseWithError(0, "")
		for {
			s, err := c.AcceptStream(ctx)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, s); err == nil {
				_, _ = s.Write([]byte{1})
			}
			s.Close()
		}
	}()
	cpc, err := client.ListenPacket(ctx, "udp", net.JoinHostPort(clientHost, "0"))
	if err != nil {
		b.Fatal(err)
	}
	ct := &quic.Transport{Conn: cpc}
	c, err := ct.Dial(ctx, spc.LocalAddr(), transports.ClientTLSConfig(stls), conf)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.CloseWithError(0, "")
		cancel()
		ln.Close()
		<-done
		ct.Close()
		st.Close()
		cpc.Close()
		spc.Close()
	})
	return c
}

// quicSend writes size bytes on a new stream of c and waits for the server's byte saying it has
// read them all.
func quicSend(b *testing.B, c *quic.Conn, buf []byte, size int) time.Duration {
	b.Helper()
	start := time.Now()
	s, err := c.OpenStreamSync(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for sent := 0; sent < size; sent += len(buf) {
		if _, err := s.Write(buf[:min(len(buf), size-sent)]); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	var ack [1]byte
	if _, err := io.ReadFull(s, ack[:]); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkQUICBulk sends 8 MB over one QUIC stream (quic-go, one connection kept across
// iterations, a new stream each) over a clean link and over the kernel's loopback, alternately,
// and reports both goodputs and their ratio (goal: link ≥ 0.5× kernel).
//
// The two transfers alternate, so a change in the machine's load hits both; on the kernel quic-go
// batches packets with GSO, which it cannot on the link's sockets (QUIC_GO_DISABLE_GSO=true
// compares packet for packet).
func BenchmarkQUICBulk(b *testing.B) {
	const size = 8 << 20
	l := newLink(b, Config{})
	lc := quicSink(b, l.Server(), l.Client(), l.ServerAddr().String(), l.ClientAddr().String())
	kc := quicSink(b, netx.Kernel, netx.Kernel, "127.0.0.1", "127.0.0.1")
	buf := make([]byte, 64<<10)
	quicSend(b, lc, buf, size) // warm up: congestion window, flow-control windows
	quicSend(b, kc, buf, size)
	var onLink, onKernel time.Duration
	b.ResetTimer()
	for b.Loop() {
		onLink += quicSend(b, lc, buf, size)
		onKernel += quicSend(b, kc, buf, size)
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) * 8 / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(onLink), "link-Mbit/s")
	b.ReportMetric(mbps(onKernel), "kernel-Mbit/s")
	b.ReportMetric(mbps(onLink)/mbps(onKernel), "link/kernel")
}
