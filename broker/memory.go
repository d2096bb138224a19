package broker

import (
	"context"
	"sync"
	"sync/atomic"
)

// Memory is the in-process broker: the bus is a map in this process. NewMemory makes a bus and
// its first instance; Connect adds another instance on the same bus, as a second process would
// connect to the same NATS server (each with its own Close).
type Memory struct {
	bus  *memBus
	opts Options

	mu     sync.Mutex
	closed bool
	subs   map[*memSub]struct{}
}

type memBus struct {
	mu   sync.Mutex // held across one Publish's fan-out, so all subscriptions see one order
	subs map[string]map[*memSub]struct{}
}

// NewMemory returns the first instance on a new in-process bus.
func NewMemory(opts ...Option) *Memory {
	return newMemory(&memBus{subs: make(map[string]map[*memSub]struct{})}, NewOptions(opts...))
}

func newMemory(bus *memBus, o Options) *Memory {
	return &Memory{bus: bus, opts: o, subs: make(map[*memSub]struct{})}
}

// Connect returns another instance on m's bus, with opts applied to the defaults.
func (m *Memory) Connect(opts ...Option) *Memory {
	return newMemory(m.bus, NewOptions(opts...))
}

// Publish implements Broker. The message is copied once and shared by the subscriptions.
func (m *Memory) Publish(ctx context.Context, subject string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidSubject(subject); err != nil {
		return err
	}
	if err := CheckSize(len(msg)); err != nil {
		return err
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return ErrClosed
	}
	cp := append([]byte(nil), msg...)
	m.bus.mu.Lock()
	for s := range m.bus.subs[subject] {
		s.offer(cp)
	}
	m.bus.mu.Unlock()
	return nil
}

// Subscribe implements Broker.
func (m *Memory) Subscribe(ctx context.Context, subject string, deliver func(msg []byte)) (Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ValidSubject(subject); err != nil {
		return nil, err
	}
	s := &memSub{m: m, subject: subject, deliver: deliver, opts: m.opts,
		ch: make(chan []byte, m.opts.Buffer), done: make(chan struct{})}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	m.bus.mu.Lock()
	if m.bus.subs[subject] == nil {
		m.bus.subs[subject] = make(map[*memSub]struct{})
	}
	m.bus.subs[subject][s] = struct{}{}
	m.bus.mu.Unlock()
	go s.run()
	return s, nil
}

// Close implements Broker: it ends this instance's subscriptions; the bus and its other
// instances go on.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	subs := m.subs
	m.subs = make(map[*memSub]struct{})
	m.mu.Unlock()
	for s := range subs {
		s.stop()
	}
	return nil
}

type memSub struct {
	m       *Memory
	subject string
	deliver func([]byte)
	opts    Options
	ch      chan []byte
	done    chan struct{}
	once    sync.Once

	stopped atomic.Bool
	pending atomic.Int64 // messages held, counting the one being delivered
	bytes   atomic.Int64
	dropped atomic.Uint64
}

// offer runs with the bus lock held, so offers to one subscription never race each other.
func (s *memSub) offer(msg []byte) {
	if s.stopped.Load() {
		return
	}
	if s.pending.Load() >= int64(s.opts.Buffer) || s.bytes.Load()+int64(len(msg)) > int64(s.opts.BufferBytes) {
		s.dropped.Add(1)
		return
	}
	s.pending.Add(1)
	s.bytes.Add(int64(len(msg)))
	s.ch <- msg // never blocks: pending ≤ Buffer = cap(ch)
}

func (s *memSub) run() {
	for {
		select {
		case <-s.done:
			return
		case msg := <-s.ch:
			if !s.stopped.Load() {
				s.deliver(msg)
			}
			s.bytes.Add(-int64(len(msg)))
			s.pending.Add(-1)
		}
	}
}

func (s *memSub) stop() {
	s.once.Do(func() {
		s.stopped.Store(true)
		close(s.done)
		s.m.bus.mu.Lock()
		delete(s.m.bus.subs[s.subject], s)
		if len(s.m.bus.subs[s.subject]) == 0 {
			delete(s.m.bus.subs, s.subject)
		}
		s.m.bus.mu.Unlock()
	})
}

// Unsubscribe implements Subscription.
func (s *memSub) Unsubscribe() error {
	s.stop()
	s.m.mu.Lock()
	delete(s.m.subs, s)
	s.m.mu.Unlock()
	return nil
}

// Dropped implements Subscription.
func (s *memSub) Dropped() uint64 { return s.dropped.Load() }
