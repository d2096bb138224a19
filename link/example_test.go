package link_test

import (
	"context"
	"fmt"
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
	echoes := 0
	buf := make([]byte, 1500)
	for {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			break
		}
		echoes++
	}
	cnt := l.Counts(link.ClientToServer)
	fmt.Printf("sent 20, echoed %d, dropped by loss %d\n", echoes, cnt.Dropped[link.RuleLoss])
	for _, p := range l.Packets() {
		if p.Fate == link.Dropped {
			fmt.Println(p.Dir, "packet", p.Index, "dropped by", p.Rule)
		}
	}
	// Output:
	// sent 20, echoed 15, dropped by loss 5
	// c2s packet 1 dropped by loss
	// c2s packet 9 dropped by loss
	// c2s packet 12 dropped by loss
	// c2s packet 14 dropped by loss
	// c2s packet 17 dropped by loss
}
