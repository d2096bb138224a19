package scenarios

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/wireplay/wireplay/zeromq"
)

// The high-water mark: a burst of messages into a PUB. zmq4's PUB queues at most HWM messages for
// the goroutine that writes them to its subscribers, and drops every message that finds the queue
// full, without a word to the sender: a burst that outruns the writer (or a subscriber that does
// not read, once its TCP buffers are full) loses messages. The same on a plain TCP socket blocks
// the sender instead.

const (
	ptHWM      = 10       // the PUB's high-water mark, messages
	ptHWMBurst = 1000     // messages sent back to back
	ptHWMSize  = 16 << 10 // bytes each
	ptHWMStall = 200 * time.Millisecond
)

// hwm publishes ptHWMBurst messages back to back to a subscriber that reads once the burst is over;
// over tcp on the link.
func (r *ptRun) hwm(ctx context.Context) error {
	pub := zmq4.NewPub(ctx, ptOpts()...)
	if err := pub.SetOption(zmq4.OptionHWM, ptHWM); err != nil {
		closeAll(pub)
		return fmt.Errorf("hwm: %w", err)
	}
	ep, err := r.bind(pub, "tcp")
	if err != nil {
		closeAll(pub)
		return err
	}
	sub := zmq4.NewSub(ctx, ptOpts()...)
	defer closeAll(sub, pub)
	if err := sub.Dial(ep); err != nil {
		return fmt.Errorf("dial %s: %w", ep, err)
	}
	sub.SetOption(zmq4.OptionSubscribe, "")
	for t := time.Now(); !slices.Contains(pub.(zmq4.Topics).Topics(), ""); {
		if time.Since(t) > 2*time.Second {
			return errors.New("hwm: the subscription never reached the PUB")
		}
		time.Sleep(time.Millisecond)
	}
	body := bytes.Repeat([]byte{'x'}, ptHWMSize)
	sendErrs := 0
	for i := 1; i <= ptHWMBurst; i++ {
		if zeromq.Send(ctx, pub, []byte("T"), []byte(strconv.Itoa(i)), body) != nil {
			sendErrs++
		}
	}
	time.Sleep(ptHWMStall) // the subscriber is busy elsewhere
	got, first, last := 0, 0, 0
	for {
		tctx, cancel := context.WithTimeout(ctx, ptQuiet)
		m, err := zeromq.Recv(tctx, sub)
		cancel()
		if err != nil {
			break
		}
		got++
		if len(m.Frames) > 1 {
			last, _ = strconv.Atoi(string(m.Frames[1]))
			if got == 1 {
				first = last
			}
		}
	}
	tr := zt("tcp")
	r.metric(tr, "hwm_sent", ptHWMBurst)
	r.metric(tr, "hwm_received", float64(got))
	r.metric(tr, "hwm_dropped", float64(ptHWMBurst-got))
	r.metric(tr, "hwm_send_errors", float64(sendErrs))
	r.metric(tr, "hwm_first_received", float64(first))
	r.metric(tr, "hwm_last_received", float64(last))
	r.row("high-water mark", "ZeroMQ tcp", "a burst of %d Sends of %d KiB into a PUB with HWM %d: every Send returned at once (%s); the subscriber got %d (#%d–#%d) and %d were dropped without a word",
		ptHWMBurst, ptHWMSize>>10, ptHWM, holPlural(sendErrs, "error"), got, first, last, ptHWMBurst-got)
	return nil
}

// tcpHWM writes the same burst to a TCP connection whose reader does not read: the writer blocks
// once the socket buffers are full, and its write deadline tells.
func (r *ptRun) tcpHWM(ctx context.Context) error {
	hold, read := make(chan struct{}), make(chan struct{})
	got := 0
	var mu sync.Mutex
	addr, stop, err := r.ptServe(ctx, "0", func(c net.Conn) {
		defer close(read)
		select { // not reading until the writer has given up
		case <-hold:
		case <-ctx.Done():
		}
		for {
			c.SetReadDeadline(time.Now().Add(ptQuiet))
			if _, err := ptRead(c); err != nil {
				return
			}
			mu.Lock()
			got++
			mu.Unlock()
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	c, err := r.env.Link.Client().Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	body := string(bytes.Repeat([]byte{'x'}, ptHWMSize))
	written := 0
	c.SetWriteDeadline(time.Now().Add(ptHWMStall))
	for i := 1; i <= ptHWMBurst; i++ {
		if ptWrite(c, "T "+strconv.Itoa(i)+" "+body) != nil {
			break
		}
		written++
	}
	close(hold)
	c.SetWriteDeadline(time.Time{})
	c.Close() // the reader reads what was written, then EOF
	select {
	case <-read:
	case <-ctx.Done():
		return ctx.Err()
	}
	mu.Lock()
	defer mu.Unlock()
	r.metric("tcp", "hwm_written", float64(written))
	r.metric("tcp", "hwm_received", float64(got))
	r.row("high-water mark", "plain TCP", "the writer got %d of %d messages into the socket before the buffers were full, then its write blocked until its %v deadline: the sender was held back, nothing it wrote was dropped (the reader got %d once it read)",
		written, ptHWMBurst, ptHWMStall, got)
	return nil
}
