// Package natsbroker is the broker.Broker of wireplay instances that share rooms through a NATS
// server (core NATS, github.com/nats-io/nats.go): every instance dials the same server, and a
// message one publishes reaches the subscriptions of all.
//
// Core NATS is at-most-once, as package broker documents: while the connection is down nats.go
// reconnects without end and restores the subscriptions, but what was published meanwhile is not
// replayed to them; publishes made while it is down are buffered by nats.go (its reconnect buffer,
// 8 MiB by default) and sent on reconnect. A subscription's buffer is nats.go's pending limit:
// past it, messages are dropped and counted (Dropped), as a slow consumer.
package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wireplay/wireplay/broker"
)

// Broker is one connection to a NATS server.
type Broker struct {
	nc   *nats.Conn
	opts broker.Options

	mu     sync.Mutex
	closed bool
	subs   map[*sub]struct{}
}

// Dial connects to the NATS server at url (nats://HOST:4222). ctx bounds the first connection.
func Dial(ctx context.Context, url string, opts ...broker.Option) (*Broker, error) {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial nats: %w", err)
	}
	nc, err := nats.Connect(url,
		nats.Name("wireplay"),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		// Slow consumers are counted by Subscription.Dropped; nats.go need not print them.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial nats: %w", err)
	}
	return &Broker{nc: nc, opts: broker.NewOptions(opts...), subs: make(map[*sub]struct{})}, nil
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Publish implements broker.Broker.
func (b *Broker) Publish(ctx context.Context, subject string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := broker.ValidSubject(subject); err != nil {
		return err
	}
	if b.isClosed() {
		return broker.ErrClosed
	}
	if err := b.nc.Publish(subject, msg); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return broker.ErrClosed
		}
		return fmt.Errorf("publish nats: %w", err)
	}
	return nil
}

// Subscribe implements broker.Broker. It returns after a round trip to the server (a flush), so
// the server has the subscription before any later publish by another instance reaches it.
func (b *Broker) Subscribe(ctx context.Context, subject string, deliver func(msg []byte)) (broker.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := broker.ValidSubject(subject); err != nil {
		return nil, err
	}
	s := &sub{b: b}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, broker.ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	ns, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		if !s.stopped.Load() {
			deliver(m.Data)
		}
	})
	if err == nil {
		s.ns = ns
		err = ns.SetPendingLimits(b.opts.Buffer, b.opts.BufferBytes)
	}
	if err == nil {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
		}
		err = b.nc.FlushWithContext(ctx)
	}
	if err != nil {
		s.Unsubscribe()
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil, broker.ErrClosed
		}
		return nil, fmt.Errorf("subscribe nats: %w", err)
	}
	return s, nil
}

// Close implements broker.Broker. What this instance published is flushed to the server (for
// up to 2 s) before the connection closes.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	for s := range subs {
		_ = s.Unsubscribe()
	}
	if b.nc.IsConnected() {
		_ = b.nc.FlushTimeout(2 * time.Second)
	}
	b.nc.Close()
	return nil
}

type sub struct {
	b       *Broker
	ns      *nats.Subscription
	stopped atomic.Bool
	once    sync.Once
	dropped atomic.Uint64 // Dropped's last reading before unsubscribing
}

// Unsubscribe implements broker.Subscription.
func (s *sub) Unsubscribe() error {
	s.stopped.Store(true)
	var err error
	s.once.Do(func() {
		if s.ns != nil {
			if n, derr := s.ns.Dropped(); derr == nil {
				s.dropped.Store(uint64(n))
			}
			if uerr := s.ns.Unsubscribe(); uerr != nil && !errors.Is(uerr, nats.ErrConnectionClosed) &&
				!errors.Is(uerr, nats.ErrBadSubscription) {
				err = fmt.Errorf("unsubscribe nats: %w", uerr)
			}
		}
		s.b.mu.Lock()
		delete(s.b.subs, s)
		s.b.mu.Unlock()
	})
	return err
}

// Dropped implements broker.Subscription.
func (s *sub) Dropped() uint64 {
	if !s.stopped.Load() && s.ns != nil {
		if n, err := s.ns.Dropped(); err == nil {
			return uint64(n)
		}
	}
	return s.dropped.Load()
}

var _ broker.Broker = (*Broker)(nil)
