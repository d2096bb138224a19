package transports_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports"
)

// quicCapEcho is a QUIC echo on 127.0.0.1 with cfg, and what it refused.
type quicCapEcho struct {
	*transports.QUICEcho
	tls *tls.Config

	mu      sync.Mutex
	refused []transports.Refusal
}

func startQUICCapEcho(t *testing.T, cfg transports.QUICEchoConfig) *quicCapEcho {
	t.Helper()
	srvTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	e := &quicCapEcho{tls: srvTLS}
	cfg.OnRefuse = func(r *transports.Refusal) {
		e.mu.Lock()
		e.refused = append(e.refused, *r)
		e.mu.Unlock()
	}
	e.QUICEcho, err = transports.ListenQUICEcho(context.Background(), netx.Kernel, "127.0.0.1:0", srvTLS, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	go e.Serve()
	return e
}

// refusals are the distinct refusals so far: quic-go asks for each Initial packet of an attempt
// refused (a ClientHello with a post-quantum key share takes two), so one attempt may be told twice.
func (e *quicCapEcho) refusals() []transports.Refusal {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []transports.Refusal
	for _, r := range e.refused {
		if len(out) == 0 || out[len(out)-1] != r {
			out = append(out, r)
		}
	}
	return out
}

// dial connects from ip (a loopback address of its own), tracing the client's side with tracer.
func (e *quicCapEcho) dial(t *testing.T, ip string, tracer func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace) (*transports.QUICConn, error) {
	t.Helper()
	c, err := transports.DialQUIC(ctxT(t), netx.Kernel, e.Addr().String(), transports.QUICOptions{
		TLS: transports.ClientTLSConfig(e.tls), LocalAddr: net.JoinHostPort(ip, "0"), Tracer: tracer,
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// quicEchoes reports whether a stream on c is echoed.
func quicEchoes(t *testing.T, c *transports.QUICConn) bool {
	t.Helper()
	s, err := c.OpenStreamSync(ctxT(t))
	if err != nil {
		return false
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write([]byte("ping")); err != nil {
		return false
	}
	got := make([]byte, 4)
	_, err = io.ReadFull(s, got)
	return err == nil && string(got) == "ping"
}

// isConnRefused reports whether err is the server's CONNECTION_REFUSED.
func isConnRefused(err error) bool {
	var te *quic.TransportError
	return errors.As(err, &te) && te.Remote && te.ErrorCode == quic.ConnectionRefused
}

// waitFor waits (bounded) until cond holds; the bound only stops a broken test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQUICEchoPerIPCap: a client holding its cap of connections has the next one refused
// (CONNECTION_REFUSED, before any handshake state); another client is served; a closed
// connection's slot is reused; and the cap in all refuses whoever comes over it.
func TestQUICEchoPerIPCap(t *testing.T) {
	e := startQUICCapEcho(t, transports.QUICEchoConfig{MaxConnsPerIP: 3, MaxConns: 5})
	var held []*transports.QUICConn
	for i := range 3 {
		c, err := e.dial(t, "127.0.0.2", nil)
		if err != nil {
			t.Fatalf("connection %d from 127.0.0.2, within the cap: %v", i+1, err)
		}
		if !quicEchoes(t, c) {
			t.Fatal("a connection within the cap is not echoed")
		}
		held = append(held, c)
	}
	if n := e.Handshaking(); n != 0 {
		t.Errorf("%d handshakes in progress after three completed (and echoed)", n)
	}
	if _, err := e.dial(t, "127.0.0.2", nil); !isConnRefused(err) {
		t.Fatalf("4th connection from 127.0.0.2: %v, want CONNECTION_REFUSED", err)
	}
	if r := e.refusals(); len(r) != 1 || r[0].Reason != "per-ip" || r[0].Client.String() != "127.0.0.2" || r[0].Cap != 3 {
		t.Errorf("refusals %+v, want one per-ip refusal of 127.0.0.2, cap 3", r)
	}
	c3, err := e.dial(t, "127.0.0.3", nil)
	if err != nil || !quicEchoes(t, c3) {
		t.Fatalf("127.0.0.3 not served while 127.0.0.2 holds its cap: %v", err)
	}
	if e.Open() != 4 {
		t.Errorf("open %d, want 4", e.Open())
	}
	held[0].Close()
	waitFor(t, "the echo sees the close", func() bool { return e.Open() == 3 })
	c, err := e.dial(t, "127.0.0.2", nil)
	if err != nil || !quicEchoes(t, c) {
		t.Fatalf("a slot freed by a close is not reused: %v", err)
	}
	if _, err := e.dial(t, "127.0.0.4", nil); err != nil {
		t.Fatalf("5th connection in all: %v", err)
	}
	if _, err := e.dial(t, "127.0.0.5", nil); !isConnRefused(err) {
		t.Fatalf("6th connection in all: %v, want CONNECTION_REFUSED", err)
	}
	if r := e.refusals(); len(r) != 2 || r[1].Reason != "total" || r[1].Cap != 5 {
		t.Errorf("refusals %+v, want a total refusal (cap 5) second", r)
	}
}

// spoofedInitials is a client socket that never hears back — as an attacker sending Initials
// from addresses not its own — but counts the Retry packets sent to it, off the wire.
type spoofedInitials struct {
	net.PacketConn
	retries atomic.Int64
	got     chan struct{} // closed at the first Retry
	once    sync.Once
	stop    func() // stops its handshake (sending nothing more)
}

func (s *spoofedInitials) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := s.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		// A QUIC v1 long header with type Retry: header form, fixed bit, type 0b11 (RFC 9000 17.2.5).
		if n > 0 && b[0]&0xf0 == 0xf0 {
			s.retries.Add(1)
			s.once.Do(func() { close(s.got) })
		}
	}
}

// SetReadBuffer and SetWriteBuffer let quic-go size the socket's buffers, as it does a UDPConn's.
func (s *spoofedInitials) SetReadBuffer(n int) error {
	return s.PacketConn.(*net.UDPConn).SetReadBuffer(n)
}

func (s *spoofedInitials) SetWriteBuffer(n int) error {
	return s.PacketConn.(*net.UDPConn).SetWriteBuffer(n)
}

// floodFrom starts a handshake from ip that stays in progress (the client hears nothing); it
// ends with the test.
func floodFrom(t *testing.T, ctx context.Context, server net.Addr, ip string) *spoofedInitials {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &spoofedInitials{PacketConn: pc, got: make(chan struct{})}
	tr := &quic.Transport{Conn: s}
	s.stop = func() { tr.Close(); pc.Close() }
	t.Cleanup(s.stop)
	go tr.Dial(ctx, server, transports.ClientTLSConfig(nil), &quic.Config{HandshakeIdleTimeout: time.Minute})
	return s
}

// retryQLog counts the Retry packets a client's qlog records as received.
type retryQLog struct {
	q       transports.QLog
	retries atomic.Int64
}

func newRetryQLog() *retryQLog {
	r := &retryQLog{}
	r.q.OnEvent = func(_ *transports.QLogTrace, ev qlogwriter.Event) {
		if p, ok := ev.(qlog.PacketReceived); ok && p.Header.PacketType == qlog.PacketTypeRetry {
			r.retries.Add(1)
		}
	}
	return r
}

// TestQUICEchoRetryUnderInitialFlood: below the threshold of unvalidated handshakes in progress
// no Retry is sent; once a flood of Initials from addresses that never answer holds that many,
// every new attempt is sent a Retry (seen on the flooders' sockets and in a real client's qlog)
// and costs no state, and a real client still gets through (validated by the Retry's token).
func TestQUICEchoRetryUnderInitialFlood(t *testing.T) {
	const threshold = 8
	e := startQUICCapEcho(t, transports.QUICEchoConfig{RetryThreshold: threshold, HandshakeIdleTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	first := newRetryQLog()
	c, err := e.dial(t, "127.0.0.3", first.q.Tracer)
	if err != nil || !quicEchoes(t, c) {
		t.Fatalf("a single client: %v", err)
	}
	if n := first.retries.Load(); n != 0 {
		t.Errorf("a single client's qlog has %d Retry packets, want none", n)
	}
	c.Close()

	var below []*spoofedInitials
	for i := range threshold {
		below = append(below, floodFrom(t, ctx, e.Addr(), fmt.Sprintf("127.0.1.%d", i+1)))
	}
	waitFor(t, fmt.Sprintf("%d unvalidated handshakes in progress", threshold), func() bool { return e.Handshaking() == threshold })
	var over []*spoofedInitials
	for i := range 2 * threshold {
		over = append(over, floodFrom(t, ctx, e.Addr(), fmt.Sprintf("127.0.2.%d", i+1)))
	}
	for i, s := range over {
		select {
		case <-s.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("flooder %d over the threshold was never sent a Retry", i+1)
		}
	}
	for i, s := range below {
		if n := s.retries.Load(); n != 0 {
			t.Errorf("flooder %d below the threshold was sent %d Retry packets", i+1, n)
		}
	}
	if n := e.Handshaking(); n != threshold {
		t.Errorf("%d unvalidated handshakes in progress after the flood over the threshold, want %d", n, threshold)
	}

	late := newRetryQLog()
	c, err = e.dial(t, "127.0.0.4", late.q.Tracer)
	if err != nil || !quicEchoes(t, c) {
		t.Fatalf("a real client during the flood: %v", err)
	}
	if n := late.retries.Load(); n == 0 {
		t.Error("the real client's qlog has no Retry packet received")
	}
	if r := e.refusals(); len(r) != 0 {
		t.Errorf("refused %+v; with Retry nothing need be", r)
	}
}

// TestQUICEchoHandshakeCap: with Retry off, handshakes from unvalidated addresses beyond the cap
// are refused, and the cap frees when they end.
func TestQUICEchoHandshakeCap(t *testing.T) {
	const hardCap = 4
	e := startQUICCapEcho(t, transports.QUICEchoConfig{RetryThreshold: -1, MaxHandshakes: hardCap, HandshakeIdleTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var flood []*spoofedInitials
	for i := range hardCap {
		flood = append(flood, floodFrom(t, ctx, e.Addr(), fmt.Sprintf("127.0.1.%d", i+1)))
	}
	waitFor(t, "the flood's handshakes in progress", func() bool { return e.Handshaking() == hardCap })
	if _, err := e.dial(t, "127.0.0.3", nil); !isConnRefused(err) {
		t.Fatalf("a handshake over the cap: %v, want CONNECTION_REFUSED", err)
	}
	if r := e.refusals(); len(r) != 1 || r[0].Reason != "handshakes" || r[0].Cap != hardCap {
		t.Errorf("refusals %+v, want one handshakes refusal, cap %d", r, hardCap)
	}
	for _, s := range flood {
		if n := s.retries.Load(); n != 0 {
			t.Errorf("Retry off, yet a flooder was sent %d", n)
		}
	}
	if e.Open() != hardCap {
		t.Errorf("open %d, want %d (the flood's)", e.Open(), hardCap)
	}
}

// TestQUICEchoHandshakeTimeoutFreesSlots: a handshake that never completes holds its slots only
// until quic-go gives it up (the handshake timeout), and they serve the next client.
func TestQUICEchoHandshakeTimeoutFreesSlots(t *testing.T) {
	e := startQUICCapEcho(t, transports.QUICEchoConfig{RetryThreshold: -1, MaxHandshakes: 2, MaxConnsPerIP: 2,
		HandshakeIdleTimeout: 250 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, b := floodFrom(t, ctx, e.Addr(), "127.0.1.1"), floodFrom(t, ctx, e.Addr(), "127.0.1.1")
	waitFor(t, "both handshakes in progress", func() bool { return e.Handshaking() == 2 && e.Open() == 2 })
	a.stop()
	b.stop()
	waitFor(t, "the handshakes given up", func() bool { return e.Handshaking() == 0 && e.Open() == 0 })
	c, err := e.dial(t, "127.0.1.1", nil)
	if err != nil || !quicEchoes(t, c) {
		t.Fatalf("after the stalled handshakes ended: %v", err)
	}
}

// TestQUICEchoRetryPerClient: Initials spoofed from one address hold at most RetryPerClient of
// its handshakes, far below the threshold in all: past that, that address is sent Retry, so its
// real owner still gets in (with a Retry) while its per-client slots are not taken; another
// address is not sent one.
func TestQUICEchoRetryPerClient(t *testing.T) {
	e := startQUICCapEcho(t, transports.QUICEchoConfig{MaxConnsPerIP: 8, HandshakeIdleTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var held []*spoofedInitials
	for range transports.RetryPerClient {
		held = append(held, floodFrom(t, ctx, e.Addr(), "127.0.1.1"))
	}
	waitFor(t, "the spoofed handshakes in progress", func() bool { return e.Handshaking() == transports.RetryPerClient })
	more := floodFrom(t, ctx, e.Addr(), "127.0.1.1")
	select {
	case <-more.got:
	case <-time.After(10 * time.Second):
		t.Fatal("a spoofed attempt past the per-client count was never sent a Retry")
	}
	for i, s := range held {
		if n := s.retries.Load(); n != 0 {
			t.Errorf("spoofed attempt %d, within the per-client count, was sent %d Retry packets", i+1, n)
		}
	}
	owner := newRetryQLog()
	c, err := e.dial(t, "127.0.1.1", owner.q.Tracer)
	if err != nil || !quicEchoes(t, c) {
		t.Fatalf("the address's owner: %v", err)
	}
	if owner.retries.Load() == 0 {
		t.Error("the address's owner was not sent a Retry")
	}
	other := newRetryQLog()
	if c, err := e.dial(t, "127.0.0.3", other.q.Tracer); err != nil || !quicEchoes(t, c) {
		t.Fatalf("another client: %v", err)
	}
	if n := other.retries.Load(); n != 0 {
		t.Errorf("another client was sent %d Retry packets", n)
	}
	if n := e.Handshaking(); n != transports.RetryPerClient {
		t.Errorf("%d unvalidated handshakes in progress, want %d (the spoofed ones)", n, transports.RetryPerClient)
	}
}

// TestQUICEchoNoPerClientRetryWithoutCap: with no per-client cap (the relay's own endpoint,
// dialled from one address) one address's handshakes in progress bring no Retry below the
// threshold in all.
func TestQUICEchoNoPerClientRetryWithoutCap(t *testing.T) {
	e := startQUICCapEcho(t, transports.QUICEchoConfig{HandshakeIdleTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for range transports.RetryPerClient {
		floodFrom(t, ctx, e.Addr(), "127.0.1.1")
	}
	waitFor(t, "the handshakes in progress", func() bool { return e.Handshaking() == transports.RetryPerClient })
	q := newRetryQLog()
	if c, err := e.dial(t, "127.0.1.1", q.q.Tracer); err != nil || !quicEchoes(t, c) {
		t.Fatalf("dial: %v", err)
	}
	if n := q.retries.Load(); n != 0 {
		t.Errorf("sent %d Retry packets without a per-client cap, below the threshold", n)
	}
}
