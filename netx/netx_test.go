package netx_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/wireplay/wireplay/netx"
)

func TestKernelEcho(t *testing.T) {
	ctx := context.Background()
	ln, err := netx.Kernel.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := netx.Kernel.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	pc, err := netx.Kernel.ListenPacket(ctx, "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, ok := pc.(*net.UDPConn); !ok {
		t.Fatalf("Kernel.ListenPacket gave %T, want *net.UDPConn (quic-go's GSO path needs it)", pc)
	}
}
