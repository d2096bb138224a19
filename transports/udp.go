package transports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wireplay/wireplay/netx"
)

// UDPEchoConfig tunes the UDP echo endpoint; zero fields take defaults.
type UDPEchoConfig struct {
	// PerSourceRate and PerSourceBurst bound the datagrams answered per second to one source:
	// an IPv4 address or an IPv6 /64, whatever its ports (one host cannot take more by using many
	// ports); defaults 2,000/s with a burst of 500.
	PerSourceRate, PerSourceBurst float64
	// GlobalRate and GlobalBurst bound the datagrams answered per second in all; defaults 20,000/s
	// with a burst of 5,000.
	GlobalRate, GlobalBurst float64
	// MaxSources is how many sources' buckets are remembered; default 4,096.
	MaxSources int
	// BlockPorts are more source ports never answered: the ports of the server's other
	// endpoints. Besides them the endpoint never answers its own port, wireplay's default
	// endpoint ports (DefaultPorts) or a port below 1024.
	BlockPorts []uint16
	// PerPort keys the buckets by source address and port instead: for an endpoint only this
	// server's relay dials, each of whose sockets is one page's.
	PerPort bool
}

// DefaultPorts are wireplay serve's default endpoint ports (TCP, UDP, QUIC, ZeroMQ). A UDP echo
// never answers a datagram from one of them, nor from its own port: with a source address forged
// to be another wireplay UDP echo (or this one), two echoes would bounce one datagram between
// them for ever. Below 1024 are the well-known services, several of which answer anything
// (echo, daytime, chargen, DNS, NTP) and would loop or amplify the same way.
var DefaultPorts = []uint16{7001, 7002, 7003, 7004}

// UDPEcho answers each datagram with the same bytes, to the address it came from. A reply is never
// larger than its request, so the endpoint cannot amplify a spoofed flood.
type UDPEcho struct {
	cfg UDPEchoConfig
	pc  net.PacketConn

	global  bucket
	port    uint16 // the endpoint's own
	blocked map[uint16]bool
	mu      sync.Mutex
	sources map[netip.AddrPort]*bucket

	closed  atomic.Bool
	dropped atomic.Uint64
	echoed  atomic.Uint64
}

// ListenUDPEcho listens on addr; Serve runs it.
func ListenUDPEcho(ctx context.Context, n netx.Network, addr string, cfg UDPEchoConfig) (*UDPEcho, error) {
	if cfg.PerSourceRate == 0 {
		cfg.PerSourceRate, cfg.PerSourceBurst = 2000, 500
	}
	if cfg.GlobalRate == 0 {
		cfg.GlobalRate, cfg.GlobalBurst = 20000, 5000
	}
	if cfg.MaxSources == 0 {
		cfg.MaxSources = 4096
	}
	pc, err := n.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen udp: %w", err)
	}
	e := newUDPEcho(cfg, pc)
	return e, nil
}

func newUDPEcho(cfg UDPEchoConfig, pc net.PacketConn) *UDPEcho {
	e := &UDPEcho{cfg: cfg, pc: pc, sources: make(map[netip.AddrPort]*bucket), blocked: map[uint16]bool{}}
	for _, p := range append(DefaultPorts, cfg.BlockPorts...) {
		e.blocked[p] = true
	}
	if pc != nil {
		if ap, err := netip.ParseAddrPort(pc.LocalAddr().String()); err == nil {
			e.port = ap.Port()
		}
	}
	e.global.init(cfg.GlobalRate, cfg.GlobalBurst, time.Now())
	return e
}

// Addr is the address the endpoint listens on.
func (e *UDPEcho) Addr() net.Addr { return e.pc.LocalAddr() }

// Dropped counts datagrams not answered (a blocked source port or over a rate limit).
func (e *UDPEcho) Dropped() uint64 { return e.dropped.Load() }

// Echoed counts datagrams answered.
func (e *UDPEcho) Echoed() uint64 { return e.echoed.Load() }

// Serve answers datagrams until Close.
func (e *UDPEcho) Serve() error {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := e.pc.ReadFrom(buf)
		if err != nil {
			if e.closed.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("read udp: %w", err)
		}
		if !e.allow(from, time.Now()) {
			e.dropped.Add(1)
			continue
		}
		// Counted before the write: once it returns, the client may already hold the echo
		// and read the count.
		e.echoed.Add(1)
		if _, err := e.pc.WriteTo(buf[:n], from); err != nil {
			e.echoed.Add(^uint64(0))
		}
	}
}

func (e *UDPEcho) allow(from net.Addr, now time.Time) bool {
	var ap netip.AddrPort
	if ua, ok := from.(*net.UDPAddr); ok {
		ap = ua.AddrPort()
	} else if p, err := netip.ParseAddrPort(from.String()); err == nil {
		ap = p
	}
	if !ap.IsValid() || ap.Port() < 1024 || ap.Port() == e.port || e.blocked[ap.Port()] {
		return false
	}
	key := ap
	if !e.cfg.PerPort {
		key = sourceKey(ap)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.sources[key]
	if b == nil {
		if len(e.sources) >= e.cfg.MaxSources {
			for k, old := range e.sources { // forget full (i.e. idle) buckets first
				if old.full(now) {
					delete(e.sources, k)
				}
			}
			if len(e.sources) >= e.cfg.MaxSources {
				return false
			}
		}
		b = new(bucket)
		b.init(e.cfg.PerSourceRate, e.cfg.PerSourceBurst, now)
		e.sources[key] = b
	}
	if !e.global.take(now) {
		return false
	}
	return b.take(now)
}

// sourceKey is the bucket a source shares: its IPv4 address, or its IPv6 /64 (one host's
// share, as providers hand out), port 0.
func sourceKey(ap netip.AddrPort) netip.AddrPort {
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return netip.AddrPortFrom(a, 0)
}

// Close stops the endpoint.
func (e *UDPEcho) Close() error {
	e.closed.Store(true)
	return e.pc.Close()
}

// bucket is a token bucket: rate tokens a second, at most burst saved.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) init(rate, burst float64, now time.Time) {
	b.rate, b.burst, b.tokens, b.last = rate, burst, burst, now
}

func (b *bucket) refill(now time.Time) {
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	b.last = now
}

func (b *bucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) full(now time.Time) bool {
	b.refill(now)
	return b.tokens >= b.burst
}
