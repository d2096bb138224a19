package scenarios

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The plain TCP side of the patterns lesson: the same patterns on the link's TCP sockets, each
// message framed by the application with a 4-byte length.

func ptWrite(c net.Conn, msg string) error {
	b := make([]byte, 4+len(msg))
	binary.BigEndian.PutUint32(b, uint32(len(msg)))
	copy(b[4:], msg)
	_, err := c.Write(b)
	return err
}

func ptRead(c net.Conn) (string, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return "", err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > 1<<16 {
		return "", fmt.Errorf("message of %d bytes", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	return string(b), err
}

// ptServe listens on the link's server host and runs handle on each connection; stop closes the
// listener and the connections and waits for the handlers.
func (r *ptRun) ptServe(ctx context.Context, port string, handle func(net.Conn)) (addr string, stop func(), err error) {
	ln, err := r.env.Link.Server().Listen(ctx, "tcp", net.JoinHostPort(r.env.Link.ServerAddr().String(), port))
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { handle(c) })
		}
	})
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}, nil
}

// tcpReqRep is reqRep on a TCP connection: the server echoes each framed request but drops the
// same reply; the lazy pirate reconnects and sends again.
func (r *ptRun) tcpReqRep(ctx context.Context) error {
	dropped := 0
	var mu sync.Mutex
	addr, stop, err := r.ptServe(ctx, "0", func(c net.Conn) {
		for {
			msg, err := ptRead(c)
			if err != nil {
				return
			}
			var client string
			var k, try int
			fmt.Sscanf(msg, "%s %d %d", &client, &k, &try)
			if r.ptDrop(k, try) {
				mu.Lock()
				dropped++
				mu.Unlock()
				continue
			}
			if ptWrite(c, msg) != nil {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	plain, err := r.tcpReqClient(ctx, addr, "plain", false)
	if err != nil {
		return err
	}
	pirate, err := r.tcpReqClient(ctx, addr, "pirate", true)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	r.reportReq("tcp", "plain TCP", plain, pirate, dropped)
	return nil
}

func (r *ptRun) tcpReqClient(ctx context.Context, addr, name string, pirate bool) (reqOutcome, error) {
	var o reqOutcome
	var c net.Conn
	open := func() error {
		var err error
		o.sockets++
		c, err = r.env.Link.Client().Dial(ctx, "tcp", addr)
		return err
	}
	if err := open(); err != nil {
		return o, err
	}
	defer func() { c.Close() }()
	for k := 1; k <= r.requests; k++ {
		got := false
		for try := 1; try <= ptTries && !got; try++ {
			if try > 1 {
				o.retries++
			}
			msg := fmt.Sprintf("%s %d %d", name, k, try)
			c.SetDeadline(time.Now().Add(r.timeout))
			err := ptWrite(c, msg)
			var reply string
			if err == nil {
				reply, err = ptRead(c)
			}
			if err == nil {
				got = true
				if reply == msg {
					o.answered++
				} else {
					o.wrong++
				}
				break
			}
			if ctx.Err() != nil {
				return o, ctx.Err()
			}
			if !pirate {
				o.stuckAt = k
				return o, nil
			}
			c.Close() // a late reply on this connection would answer the wrong request
			if err := open(); err != nil {
				return o, err
			}
		}
		if !got {
			o.abandoned++
		}
	}
	return o, nil
}

// tcpPubSub is pubSub on TCP: the publisher writes every message to every connection; the
// subscriber on A filters what it reads.
func (r *ptRun) tcpPubSub(ctx context.Context) error {
	var mu sync.Mutex
	var subs []net.Conn
	joined := make(chan struct{}, 4)
	addr, stop, err := r.ptServe(ctx, "0", func(c net.Conn) {
		mu.Lock()
		subs = append(subs, c)
		mu.Unlock()
		joined <- struct{}{}
		io.Copy(io.Discard, c) // until the subscriber leaves
	})
	if err != nil {
		return err
	}
	defer stop()
	read := func(c net.Conn, topic string, keep *[]ptMsg, discarded *int) {
		for {
			c.SetReadDeadline(time.Now().Add(ptQuiet))
			msg, err := ptRead(c)
			if err != nil {
				return
			}
			t, n, _ := strings.Cut(msg, " ")
			if !strings.HasPrefix(t, topic) {
				*discarded++
				continue
			}
			k, _ := strconv.Atoi(n)
			*keep = append(*keep, ptMsg{t, k})
		}
	}
	var a, late []ptMsg
	var aDiscarded, lateDiscarded int
	var wg sync.WaitGroup
	dial := func(topic string, keep *[]ptMsg, discarded *int) error {
		c, err := r.env.Link.Client().Dial(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		<-joined
		wg.Go(func() { defer c.Close(); read(c, topic, keep, discarded) })
		return nil
	}
	if err := dial("A", &a, &aDiscarded); err != nil {
		return err
	}
	publish := func(i int) {
		mu.Lock()
		for _, c := range subs {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			ptWrite(c, fmt.Sprintf("%s %d", ptTopic(i), i))
		}
		mu.Unlock()
	}
	for i := 1; i <= r.messages; i++ {
		if i == r.late+1 {
			if err := dial("", &late, &lateDiscarded); err != nil {
				return err
			}
		}
		publish(i)
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	at, lt := tally(a, "A"), tally(late, "")
	r.metric("tcp", "sub_a_read", float64(at.got+aDiscarded))
	r.metric("tcp", "sub_a_discarded", float64(aDiscarded))
	r.metric("tcp", "sub_a_received", float64(at.got))
	r.metric("tcp", "sub_late_missed", float64(r.messages-lt.got))
	r.row("publish/subscribe", "plain TCP", "the publisher wrote all %d messages to each connection; the subscriber on A read %d and threw %d away (the filter is the application's); the late subscriber missed %d",
		r.messages, at.got+aDiscarded, aDiscarded, r.messages-lt.got)
	return nil
}

// tcpPushPull hands the tasks round-robin over one connection per worker; the application keeps
// the list of workers and the turn.
func (r *ptRun) tcpPushPull(ctx context.Context) error {
	var mu sync.Mutex
	var workers []net.Conn
	joined := make(chan struct{}, r.workers)
	addr, stop, err := r.ptServe(ctx, "0", func(c net.Conn) {
		mu.Lock()
		workers = append(workers, c)
		mu.Unlock()
		joined <- struct{}{}
		io.Copy(io.Discard, c)
	})
	if err != nil {
		return err
	}
	defer stop()
	var done []ptMsg
	var dmu sync.Mutex
	var wg sync.WaitGroup
	for w := 1; w <= r.workers; w++ {
		c, err := r.env.Link.Client().Dial(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		<-joined
		wg.Go(func() {
			defer c.Close()
			for {
				c.SetReadDeadline(time.Now().Add(ptQuiet))
				task, err := ptRead(c)
				if err != nil {
					return
				}
				dmu.Lock()
				done = append(done, ptMsg{task, w})
				dmu.Unlock()
			}
		})
	}
	mu.Lock()
	for i := 1; i <= r.messages; i++ {
		c := workers[(i-1)%len(workers)]
		c.SetWriteDeadline(time.Now().Add(time.Second))
		ptWrite(c, strconv.Itoa(i))
	}
	mu.Unlock()
	wg.Wait()
	// Worker w is the w-th to be accepted only if accepts came in dial order, which they do here
	// (each dial waits for its accept); the counts are per connection either way.
	r.reportWork("tcp", "plain TCP, round-robin by the application", "push", done)
	return nil
}

// tcpClientFirst dials a TCP port nobody listens on yet: the connect fails at once.
func (r *ptRun) tcpClientFirst(ctx context.Context) error {
	addr := net.JoinHostPort(r.env.Link.ServerAddr().String(), "7401")
	c, err := r.env.Link.Client().Dial(ctx, "tcp", addr)
	failed := 0
	if err != nil {
		failed = 1
		r.tcpFirstErr = err.Error()
	} else {
		c.Close()
		r.tcpFirstErr = "it connected"
	}
	r.metric("tcp", "client_first_failed_dials", float64(failed))
	r.row("client before server", "plain TCP", "connect before the server listens: %s; retrying is the application's job", r.tcpFirstErr)
	return nil
}
