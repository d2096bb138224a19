package transports

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// ConnLimit caps concurrent connections from one client — an IPv4 address or an IPv6 /64, as
// one host is usually handed — and in all. The zero value is not usable: NewConnLimit.
type ConnLimit struct {
	perIP, total int

	mu  sync.Mutex
	n   map[netip.Addr]int
	all int
}

// NewConnLimit caps each client at perIP connections and all of them at total.
func NewConnLimit(perIP, total int) *ConnLimit {
	return &ConnLimit{perIP: perIP, total: total, n: map[netip.Addr]int{}}
}

// Refusal says why a connection was not admitted.
type Refusal struct {
	Reason string // "per-ip", "total", or "handshakes" (QUIC: unvalidated handshakes in progress)
	Client netip.Addr
	Cap    int
}

func (r *Refusal) Error() string {
	switch r.Reason {
	case "total":
		return fmt.Sprintf("too many connections in all (cap %d)", r.Cap)
	case "handshakes":
		return fmt.Sprintf("too many handshakes from unvalidated addresses in progress (cap %d)", r.Cap)
	}
	return fmt.Sprintf("too many connections from %s (cap %d per client)", r.Client, r.Cap)
}

// ClientOf is the client a connection from addr counts against: its IPv4 address, or its IPv6 /64.
func ClientOf(addr net.Addr) netip.Addr {
	var a netip.Addr
	switch v := addr.(type) {
	case *net.TCPAddr:
		a = v.AddrPort().Addr()
	case *net.UDPAddr:
		a = v.AddrPort().Addr()
	default:
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			a = ap.Addr()
		}
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a
}

// Acquire admits one more connection from addr, or says why not. release gives the slot back;
// calling it more than once is harmless.
func (l *ConnLimit) Acquire(addr net.Addr) (release func(), err error) {
	c := ClientOf(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.all >= l.total:
		return nil, &Refusal{Reason: "total", Client: c, Cap: l.total}
	case l.n[c] >= l.perIP:
		return nil, &Refusal{Reason: "per-ip", Client: c, Cap: l.perIP}
	}
	l.n[c]++
	l.all++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.n[c]--; l.n[c] <= 0 {
				delete(l.n, c)
			}
			l.all--
			l.mu.Unlock()
		})
	}, nil
}

// Open is how many connections are admitted now.
func (l *ConnLimit) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all
}
