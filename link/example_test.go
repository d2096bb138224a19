package link_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/wireplay/wireplay/link"
)

// A UDP echo across a link that loses 20% of the client's packets and delays each direction by
// 10 ms. The seed makes the same datagrams disappear on every run.
func Example() {
	l, err := link.New(link.Config{
		Seed: 1,
		Settings: link.Settings{
			ClientToServer: link.Impairment{Delay: 10 * time.Millisecond, Loss: 0.2},
			ServerToClient: link.Impairment{Delay: 10 * time.Millisecond},
		},
	})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	ctx := context.Background()

	// The server host echoes every datagram.
	srv, err := l.Server().ListenPacket(ctx, "udp", net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:n], from)
		}
	}()

	// The client host sends 20 datagrams and counts the echoes.
	c, err := l.Client().Dial(ctx, "udp", srv.LocalAddr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for i := range 20 {
		fmt.Fprintf(c, "ping %d", i)
	}
	// The link logs each datagram as it is sent, so it already knows how many it delivered:
	// read that many echoes.
	cnt := l.Counts(link.ClientToServer)
	echoes := 0
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for echoes < int(cnt.Delivered) {
		if _, err := c.Read(buf); err != nil {
			panic(err)
		}
		echoes++
	}
	fmt.Printf("sent 20, echoed %d, dropped by loss %d\n", echoes, cnt.Dropped[link.RuleLoss])
	for _, p := range l.Packets() {
		if p.Fate == link.Dropped {
			fmt.Println(p.Dir, "packet", p.Index, "dropped by", p.Rule)
		}
	}
	// Output:
	// sent 20, echoed 17, dropped by loss 3
	// c2s packet 3 dropped by loss
	// c2s packet 14 dropped by loss
	// c2s packet 16 dropped by loss
}

// A TCP echo across a link that loses 5% of the client's packets and delays each direction by
// 20 ms: TCP hands back every byte, in order, and the client's stack counts what it sent again.
func Example_tcpEcho() {
	l, err := link.New(link.Config{
		Seed: 3,
		Settings: link.Settings{
			ClientToServer: link.Impairment{Delay: 20 * time.Millisecond, Loss: 0.05},
			ServerToClient: link.Impairment{Delay: 20 * time.Millisecond},
		},
	})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	ctx := context.Background()

	ln, err := l.Server().Listen(ctx, "tcp", net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo until the client closes
	}()

	c, err := l.Client().Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("wireplay "), 20_000) // 180,000 bytes: about 125 segments
	go c.Write(msg)
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(c, back); err != nil {
		panic(err)
	}
	info, err := c.(*link.TCPConn).TCPInfo()
	if err != nil {
		panic(err)
	}
	dropped := l.Counts(link.ClientToServer).Dropped[link.RuleLoss]
	fmt.Println("echoed intact:", bytes.Equal(back, msg))
	fmt.Println("the link dropped client segments:", dropped > 0)
	fmt.Println("the client's TCP retransmitted:", info.TotalRetrans > 0)
	// Output:
	// echoed intact: true
	// the link dropped client segments: true
	// the client's TCP retransmitted: true
}
