package link

import (
	"net"
	"sync"
	"testing"
	"time"
)

// TestListenBacklog fills a backlog-1 listener that does not accept: later connects overflow it
// (SYN cookies, dropped SYNs or dropped final ACKs, as netstack decides) and the counters say so;
// once the application accepts, every client gets served.
func TestListenBacklog(t *testing.T) {
	l := newLink(t, Config{Seed: 1, Settings: Both(Impairment{Delay: 5 * time.Millisecond})})
	ctx := testCtx(t)
	if _, err := l.Server().ListenBacklog(ctx, "tcp", "127.0.1.2:0", 0); err == nil {
		t.Error("backlog 0 accepted")
	}
	ln, err := l.Server().ListenBacklog(ctx, "tcp", net.JoinHostPort(l.ServerAddr().String(), "0"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		time.Sleep(time.Duration(i) * 3 * time.Millisecond)
		wg.Go(func() {
			c, err := l.Client().Dial(ctx, "tcp", ln.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second)) // a bound: SYNs dropped by the full queue wait out their RTO
			if _, err := c.Write([]byte{1}); err != nil {
				errs <- err
				return
			}
			_, err = c.Read(make([]byte, 1))
			errs <- err
		})
	}
	// Six connects at a backlog-1 listener that does not accept overflow it: wait (bounded)
	// for the counters to say how.
	waitFor(t, "the listen queue to overflow", func() bool {
		st := l.Server().ListenQueue()
		return st.SynDrop+st.AckDrop+st.SynCookieSent > 0
	})
	t.Logf("%+v", l.Server().ListenQueue())
	var served sync.WaitGroup
	served.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			served.Go(func() {
				defer c.Close()
				b := make([]byte, 1)
				if _, err := c.Read(b); err == nil {
					c.Write(b)
				}
			})
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	ln.Close()
	served.Wait()
}
