package zeromq

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
)

// DefaultTopics are the topics a Publisher publishes on unless told otherwise.
var DefaultTopics = []string{"clock", "news", "weather"}

// PubConfig sets up a Publisher; the zero value of each field is a usable default.
type PubConfig struct {
	// Topics are the first frames of the messages; default DefaultTopics.
	Topics []string
	// Interval is the time between two rounds, each one message per topic; default 1 s.
	Interval time.Duration
	// HWM is how many messages the PUB queues at most before dropping new ones (zmq4's default
	// is no limit, which zmq4#151 turns into a leak); default 1000.
	HWM int
	// Check is how often the publisher makes sure its own subscriber still receives (zmq4#151);
	// default 10 rounds, at least 1 s.
	Check time.Duration
	// Logger receives the publisher's log; default slog.Default().
	Logger *slog.Logger
}

// Publisher is a PUB socket sending [topic, n] on each of its topics every Interval, n counting
// rounds from 1 (in decimal ASCII), so a subscriber sees what it missed: a subscriber that
// connects late misses the rounds before it (the slow joiner), and one on a topic prefix gets the
// topics starting with it alone.
type Publisher struct {
	cfg      PubConfig
	endpoint string // resolved: the port a :0 picked
	log      *slog.Logger

	mu     sync.Mutex
	pub    zmq4.Socket
	canary zmq4.Socket

	round    atomic.Int64 // last round sent
	heard    atomic.Int64 // last round the canary received
	restarts atomic.Int64
	stop     context.CancelFunc
	stopped  context.Context
	wg       sync.WaitGroup
	serveMu  sync.Mutex // orders Serve's wg.Add before Close's wg.Wait
	once     sync.Once
}

// ListenPub binds a publisher to endpoint ("tcp://127.0.0.1:7005", "ipc://…", "inproc://…");
// Serve publishes.
func ListenPub(endpoint string, cfg PubConfig) (*Publisher, error) {
	if len(cfg.Topics) == 0 {
		cfg.Topics = DefaultTopics
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.HWM <= 0 {
		cfg.HWM = 1000
	}
	if cfg.Check <= 0 {
		cfg.Check = max(10*cfg.Interval, time.Second)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Publisher{cfg: cfg, endpoint: endpoint, log: cfg.Logger}
	p.stopped, p.stop = context.WithCancel(context.Background())
	pub, err := p.listen(endpoint)
	if err != nil {
		return nil, err
	}
	if a := pub.Addr(); a != nil && strings.HasPrefix(endpoint, "tcp://") {
		p.endpoint = "tcp://" + a.String()
	}
	p.pub = pub
	if err := p.watch(); err != nil {
		Close(pub)
		return nil, err
	}
	return p, nil
}

func (p *Publisher) listen(endpoint string) (zmq4.Socket, error) {
	pub := zmq4.NewPub(context.Background(), zmq4.WithLogger(slogLogger(p.log)), zmq4.WithTimeout(CloseTimeout))
	if err := pub.SetOption(zmq4.OptionHWM, p.cfg.HWM); err != nil {
		Close(pub)
		return nil, fmt.Errorf("zmq pub hwm: %w", err)
	}
	if err := pub.Listen(endpoint); err != nil {
		Close(pub)
		return nil, fmt.Errorf("zmq listen %s: %w", endpoint, err)
	}
	return pub, nil
}

// watch connects the publisher's own subscriber (on the first topic) and counts what it hears.
func (p *Publisher) watch() error {
	sub := zmq4.NewSub(context.Background(), zmq4.WithLogger(slogLogger(p.log)), zmq4.WithDialerMaxRetries(3))
	dial := p.endpoint
	if strings.HasPrefix(dial, "tcp://0.0.0.0:") {
		dial = "tcp://127.0.0.1:" + strings.TrimPrefix(dial, "tcp://0.0.0.0:")
	}
	if err := sub.Dial(dial); err != nil {
		Close(sub)
		return fmt.Errorf("zmq pub watch: dial %s: %w", dial, err)
	}
	if err := sub.SetOption(zmq4.OptionSubscribe, p.cfg.Topics[0]); err != nil {
		Close(sub)
		return fmt.Errorf("zmq pub watch: subscribe: %w", err)
	}
	p.canary = sub
	p.wg.Go(func() {
		for {
			msg, err := Recv(p.stopped, sub)
			if err != nil {
				return
			}
			if len(msg.Frames) == 2 {
				if n, err := strconv.ParseInt(string(msg.Frames[1]), 10, 64); err == nil {
					p.heard.Store(n)
				}
			}
		}
	})
	return nil
}

// Addr is the address the publisher listens on (nil for inproc).
func (p *Publisher) Addr() net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pub.Addr()
}

// Rounds is how many rounds were published; Restarts how many times the socket was made again
// because its own subscriber stopped hearing it.
func (p *Publisher) Rounds() int64   { return p.round.Load() }
func (p *Publisher) Restarts() int64 { return p.restarts.Load() }

// Serve publishes a round every Interval until Close.
func (p *Publisher) Serve() {
	p.serveMu.Lock()
	if p.stopped.Err() != nil {
		p.serveMu.Unlock()
		return
	}
	p.wg.Add(1)
	p.serveMu.Unlock()
	defer p.wg.Done()
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	check := time.NewTicker(p.cfg.Check)
	defer check.Stop()
	var lastHeard int64
	for {
		select {
		case <-p.stopped.Done():
			return
		case <-tick.C:
			n := p.round.Add(1)
			num := []byte(strconv.FormatInt(n, 10))
			p.mu.Lock()
			pub := p.pub
			p.mu.Unlock()
			for _, t := range p.cfg.Topics {
				ctx, cancel := context.WithTimeout(p.stopped, CloseTimeout)
				err := Send(ctx, pub, []byte(t), num)
				cancel()
				if err != nil && p.stopped.Err() == nil {
					p.log.Warn("zmq pub: send", "err", err)
				}
			}
		case <-check.C:
			// The canary must have heard a round since the last check; a PUB that stopped
			// delivering (zmq4#151) is made again on the same address.
			h := p.heard.Load()
			if h > lastHeard || p.round.Load() == 0 {
				lastHeard = h
				continue
			}
			p.log.Warn("zmq pub: own subscriber hears nothing: making the socket again (zmq4#151)", "round", p.round.Load(), "heard", h)
			if err := p.restart(); err != nil {
				p.log.Error("zmq pub: restart", "err", err)
			}
			lastHeard = p.heard.Load()
		}
	}
}

func (p *Publisher) restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	Close(p.canary)
	Close(p.pub)
	pub, err := p.listen(p.endpoint)
	if err != nil {
		return err
	}
	p.pub = pub
	p.restarts.Add(1)
	return p.watch()
}

// Close stops publishing, lets the last round leave (Linger) and closes the sockets.
func (p *Publisher) Close() error {
	var err error
	p.once.Do(func() {
		p.serveMu.Lock()
		p.stop()
		p.serveMu.Unlock()
		p.wg.Wait()
		lingerAfterSend()
		p.mu.Lock()
		defer p.mu.Unlock()
		Close(p.canary)
		err = Close(p.pub)
	})
	return err
}
