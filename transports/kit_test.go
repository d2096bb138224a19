package transports_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/quic-go/quic-go"
	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
	"go.uber.org/goleak"
)

// kitNet is a pair of networks for the kit's tests: the server's, the client's and the server
// host's address.
type kitNet struct {
	name           string
	server, client netx.Network
	host           string
}

// kitNets is the kernel's loopback and a fresh link with a small delay each way; the link is
// closed when the test ends, before the goroutine check the caller registered first.
func kitNets(t *testing.T) []kitNet {
	l, err := link.New(link.Config{Seed: 1, Settings: link.Both(link.Impairment{Delay: 2 * time.Millisecond})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return []kitNet{
		{"kernel", netx.Kernel, netx.Kernel, "127.0.0.1"},
		{"link", l.Server(), l.Client(), l.ServerAddr().String()},
	}
}

// kitServers starts an echo for each transport with the kit on n, each registered in g.
type kitServers struct {
	tcp, udp, quic, ws string
	tls                *tls.Config
}

func startKitServers(t *testing.T, ctx context.Context, g *transports.Group, kn kitNet) kitServers {
	t.Helper()
	at := net.JoinHostPort(kn.host, "0")
	srvTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	var s kitServers
	s.tls = srvTLS

	ln, err := transports.ListenTCP(ctx, kn.server, at)
	if err != nil {
		t.Fatal(err)
	}
	g.Add(ln.Close)
	g.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.Add(c.Close)
			g.Go(func() { io.Copy(c, c) })
		}
	})
	s.tcp = ln.Addr().String()

	pc, err := transports.ListenUDP(ctx, kn.server, at)
	if err != nil {
		t.Fatal(err)
	}
	g.Add(pc.Close)
	g.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	})
	s.udp = pc.LocalAddr().String()

	ql, err := transports.ListenQUIC(ctx, kn.server, at, transports.QUICOptions{TLS: srvTLS})
	if err != nil {
		t.Fatal(err)
	}
	g.Add(ql.Close)
	g.Go(func() {
		for {
			c, err := ql.Accept(context.Background())
			if err != nil {
				return
			}
			g.Go(func() {
				for {
					d, err := c.ReceiveDatagram(c.Context())
					if err != nil {
						return
					}
					c.SendDatagram(d)
				}
			})
			g.Go(func() {
				for {
					st, err := c.AcceptStream(c.Context())
					if err != nil {
						return
					}
					g.Go(func() { io.Copy(st, st); st.Close() })
				}
			})
		}
	})
	s.quic = ql.Addr().String()

	hs, err := transports.ListenWS(ctx, kn.server, at, nil) // WSEchoHandler
	if err != nil {
		t.Fatal(err)
	}
	g.Add(hs.Close)
	s.ws = "ws://" + hs.Addr().String() + "/"
	return s
}

// TestKitRoundTrip: each of the five transports, listened for and dialled with the kit, echoes a
// message on the kernel's loopback and across a link; closing the one Group that holds every
// listener and conn leaves no goroutine behind and every conn closed.
func TestKitRoundTrip(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the links close
	msg := []byte("hello, kit")
	type roundTrip func(ctx context.Context, g *transports.Group, kn kitNet, s kitServers) (got []byte, closed func() error, err error)
	cases := []struct {
		transport string
		rt        roundTrip
	}{
		{"tcp", func(ctx context.Context, g *transports.Group, kn kitNet, s kitServers) ([]byte, func() error, error) {
			c, err := transports.DialTCP(ctx, kn.client, s.tcp, transports.TCPOptions{})
			if err != nil {
				return nil, nil, err
			}
			g.Add(c.Close)
			if _, err := c.Write(msg); err != nil {
				return nil, nil, err
			}
			got := make([]byte, len(msg))
			_, err = io.ReadFull(c, got)
			return got, func() error { _, err := c.Write(msg); return err }, err
		}},
		{"udp", func(ctx context.Context, g *transports.Group, kn kitNet, s kitServers) ([]byte, func() error, error) {
			c, err := transports.DialUDP(ctx, kn.client, s.udp)
			if err != nil {
				return nil, nil, err
			}
			g.Add(c.Close)
			if _, err := c.Write(msg); err != nil {
				return nil, nil, err
			}
			buf := make([]byte, 1500)
			n, err := c.Read(buf)
			return buf[:n], func() error { _, err := c.Write(msg); return err }, err
		}},
		{"quic-stream", func(ctx context.Context, g *transports.Group, kn kitNet, s kitServers) ([]byte, func() error, error) {
			c, err := transports.DialQUIC(ctx, kn.client, s.quic, transports.QUICOptions{TLS: transports.ClientTLSConfig(s.tls)})
			if err != nil {
				return nil, nil, err
			}
			g.Add(c.Close)
			st, err := c.OpenStreamSync(ctx)
			if err != nil {
				return nil, nil, err
			}
			if _, err := st.Write(msg); err != nil {
				return nil, nil, err
			}
			got := make([]byte, len(msg))
			_, err = io.ReadFull(st, got)
			return got, func() error { _, err := c.OpenStream(); return err }, err
		}},
		{"quic-dgram", func(ctx context.Context, g *transports.Group, kn kitNet, s kitServers) ([]byte, func() error, error) {
			c, err := transports.DialQUIC(ctx, kn.client, s.quic, transports.QUICOptions{TLS: transports.ClientTLSConfig(s.tls)})
			if err != nil {
				return nil, nil, err
			}
			g.Add(c.Close)
			if !c.ConnectionState().SupportsDatagrams.Remote {
				return nil, nil, errors.New("no datagrams")
			}
			if err := c.SendDatagram(msg); err != nil {
				return nil, nil, err
			}
			got, err := c.ReceiveDatagram(ctx)
			return got, func() error { return c.SendDatagram(msg) }, err
		}},
		{"ws", func(ctx context.Context, g *transports.Group, kn kitNet, s kitServers) ([]byte, func() error, error) {
			c, err := transports.DialWS(ctx, kn.client, s.ws, transports.WSOptions{})
			if err != nil {
				return nil, nil, err
			}
			g.Add(c.CloseNow)
			if c.LocalAddr() == nil || c.LocalAddr().String() == "" {
				return nil, nil, errors.New("no local address")
			}
			if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
				return nil, nil, err
			}
			_, got, err := c.Read(ctx)
			return got, func() error { return c.Write(ctx, websocket.MessageBinary, msg) }, err
		}},
	}
	for _, kn := range kitNets(t) {
		t.Run(kn.name, func(t *testing.T) {
			ctx := ctxT(t)
			var g transports.Group
			s := startKitServers(t, ctx, &g, kn)
			var writes []func() error
			for _, tc := range cases {
				t.Run(tc.transport, func(t *testing.T) {
					got, write, err := tc.rt(ctx, &g, kn, s)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, msg) {
						t.Errorf("echo %q, want %q", got, msg)
					}
					writes = append(writes, write)
				})
			}
			if err := g.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			for i, w := range writes {
				if err := w(); err == nil {
					t.Errorf("%s: a write after the group closed succeeded", cases[i].transport)
				}
			}
		})
	}
}

// notifyingCache is a TLS session cache that says when a ticket arrives.
type notifyingCache struct {
	tls.ClientSessionCache
	put chan struct{}
}

func (c *notifyingCache) Put(key string, cs *tls.ClientSessionState) {
	c.ClientSessionCache.Put(key, cs)
	if cs != nil {
		select {
		case c.put <- struct{}{}:
		default:
		}
	}
}

// TestKitZeroRTT: a second dial with ZeroRTT, after the first left a session ticket, sends its
// data in 0-RTT when the listener accepts early data, and falls back to a full handshake when it
// does not (quic-go's ConnectionState says which).
func TestKitZeroRTT(t *testing.T) {
	for _, kn := range kitNets(t) {
		for _, accept := range []bool{true, false} {
			name := kn.name + "/listener-refuses"
			if accept {
				name = kn.name + "/listener-accepts"
			}
			t.Run(name, func(t *testing.T) {
				ctx := ctxT(t)
				var g transports.Group
				defer g.Close()
				srvTLS, err := transports.ServerTLSConfig("", "")
				if err != nil {
					t.Fatal(err)
				}
				ln, err := transports.ListenQUIC(ctx, kn.server, net.JoinHostPort(kn.host, "0"), transports.QUICOptions{TLS: srvTLS, ZeroRTT: accept})
				if err != nil {
					t.Fatal(err)
				}
				g.Add(ln.Close)
				g.Go(func() {
					for {
						c, err := ln.Accept(context.Background())
						if err != nil {
							return
						}
						g.Go(func() {
							for {
								st, err := c.AcceptStream(c.Context())
								if err != nil {
									return
								}
								g.Go(func() { io.Copy(st, st); st.Close() })
							}
						})
					}
				})
				cache := &notifyingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4), put: make(chan struct{}, 1)}
				cliTLS := transports.ClientTLSConfig(srvTLS)
				cliTLS.ClientSessionCache = cache
				o := transports.QUICOptions{TLS: cliTLS, ZeroRTT: true}
				echo := func(c *transports.QUICConn) {
					t.Helper()
					st, err := c.OpenStream()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := st.Write([]byte("x")); err != nil {
						t.Fatal(err)
					}
					if _, err := io.ReadFull(st, make([]byte, 1)); err != nil {
						t.Fatal(err)
					}
					select {
					case <-c.HandshakeComplete():
					case <-ctx.Done():
						t.Fatal(ctx.Err())
					}
				}
				first, err := transports.DialQUIC(ctx, kn.client, ln.Addr().String(), o)
				if err != nil {
					t.Fatal(err)
				}
				g.Add(first.Close)
				echo(first)
				if first.ConnectionState().Used0RTT {
					t.Error("the first dial used 0-RTT without a session ticket")
				}
				select {
				case <-cache.put:
				case <-ctx.Done():
					t.Fatal("no session ticket arrived")
				}
				second, err := transports.DialQUIC(ctx, kn.client, ln.Addr().String(), o)
				if err != nil {
					t.Fatal(err)
				}
				g.Add(second.Close)
				echo(second)
				if got := second.ConnectionState().Used0RTT; got != accept {
					t.Errorf("second dial: Used0RTT %v, want %v", got, accept)
				}
				if !second.ConnectionState().TLS.DidResume {
					t.Error("second dial did not resume the TLS session")
				}
			})
		}
	}
}

// TestKitDatagramsFlag: datagrams are on by default and NoDatagrams on either side turns them off
// for that side, as each side's transport parameters say.
func TestKitDatagramsFlag(t *testing.T) {
	kn := kitNets(t)[1]
	for _, tc := range []struct {
		serverOff, clientOff bool
	}{{false, false}, {true, false}, {false, true}} {
		ctx := ctxT(t)
		var g transports.Group
		srvTLS, err := transports.ServerTLSConfig("", "")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := transports.ListenQUIC(ctx, kn.server, net.JoinHostPort(kn.host, "0"), transports.QUICOptions{TLS: srvTLS, NoDatagrams: tc.serverOff})
		if err != nil {
			t.Fatal(err)
		}
		g.Add(ln.Close)
		g.Go(func() {
			if c, err := ln.Accept(ctx); err == nil {
				<-c.Context().Done()
			}
		})
		c, err := transports.DialQUIC(ctx, kn.client, ln.Addr().String(), transports.QUICOptions{TLS: transports.ClientTLSConfig(srvTLS), NoDatagrams: tc.clientOff})
		if err != nil {
			t.Fatal(err)
		}
		g.Add(c.Close)
		st := c.ConnectionState().SupportsDatagrams
		if st.Local != !tc.clientOff || st.Remote != !tc.serverOff {
			t.Errorf("server off %v, client off %v: local %v, remote %v", tc.serverOff, tc.clientOff, st.Local, st.Remote)
		}
		g.Close()
	}
}

// TestKitQUICKeepAliveAndTracer: two quiet connections with a short idle timeout, one with a
// keep-alive period: the one without times out (quic-go says idle timeout); by then the other is
// still up and has sent packets since its handshake. The Tracer hook sees both sides of each.
func TestKitQUICKeepAliveAndTracer(t *testing.T) {
	kn := kitNets(t)[1]
	ctx := ctxT(t)
	var g transports.Group
	defer g.Close()
	qlog := &transports.QLog{}
	srvTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	const idle = 400 * time.Millisecond
	ln, err := transports.ListenQUIC(ctx, kn.server, net.JoinHostPort(kn.host, "0"), transports.QUICOptions{TLS: srvTLS, MaxIdleTimeout: 10 * time.Second, Tracer: qlog.Tracer})
	if err != nil {
		t.Fatal(err)
	}
	g.Add(ln.Close)
	g.Go(func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			g.Go(func() { <-c.Context().Done() })
		}
	})
	dial := func(ka time.Duration) *transports.QUICConn {
		c, err := transports.DialQUIC(ctx, kn.client, ln.Addr().String(), transports.QUICOptions{
			TLS: transports.ClientTLSConfig(srvTLS), MaxIdleTimeout: idle, KeepAlivePeriod: ka, Tracer: qlog.Tracer,
		})
		if err != nil {
			t.Fatal(err)
		}
		g.Add(c.Close)
		return c
	}
	quiet := dial(0)
	kept := dial(idle / 8)
	sentAtStart := kept.ConnectionStats().PacketsSent
	select {
	case <-quiet.Context().Done():
	case <-ctx.Done():
		t.Fatal("the connection without keep-alive never timed out")
	}
	var ie *quic.IdleTimeoutError
	if err := context.Cause(quiet.Context()); !errors.As(err, &ie) {
		t.Errorf("quiet connection ended with %v, want an idle timeout", err)
	}
	if err := context.Cause(kept.Context()); err != nil {
		t.Errorf("the connection with keep-alive ended: %v", err)
	}
	if sent := kept.ConnectionStats().PacketsSent - sentAtStart; sent == 0 {
		t.Error("the connection with keep-alive sent nothing while quiet")
	}
	var client, server int
	for _, tr := range qlog.Traces() {
		if tr.IsClient {
			client++
		} else {
			server++
		}
	}
	if client != 2 || server != 2 {
		t.Errorf("tracer saw %d client and %d server traces, want 2 and 2", client, server)
	}
}

// TestQUICOptionsConfig: each option lands in quic-go's configuration, over wireplay's defaults or
// over a base Config, which is never changed.
func TestQUICOptionsConfig(t *testing.T) {
	tracer := (&transports.QLog{}).Tracer
	base := &quic.Config{MaxIdleTimeout: time.Minute, EnableDatagrams: true, MaxIncomingStreams: 7}
	for _, tc := range []struct {
		name  string
		o     transports.QUICOptions
		check func(*quic.Config) bool
	}{
		{"defaults", transports.QUICOptions{}, func(c *quic.Config) bool {
			return c.EnableDatagrams && !c.Allow0RTT && c.MaxIdleTimeout == 30*time.Second && c.HandshakeIdleTimeout == 5*time.Second && c.KeepAlivePeriod == 0
		}},
		{"zero-rtt", transports.QUICOptions{ZeroRTT: true}, func(c *quic.Config) bool { return c.Allow0RTT }},
		{"no datagrams", transports.QUICOptions{NoDatagrams: true}, func(c *quic.Config) bool { return !c.EnableDatagrams }},
		{"keep-alive", transports.QUICOptions{KeepAlivePeriod: time.Second}, func(c *quic.Config) bool { return c.KeepAlivePeriod == time.Second }},
		{"timeouts", transports.QUICOptions{HandshakeIdleTimeout: time.Second, MaxIdleTimeout: 2 * time.Second}, func(c *quic.Config) bool {
			return c.HandshakeIdleTimeout == time.Second && c.MaxIdleTimeout == 2*time.Second
		}},
		{"tracer", transports.QUICOptions{Tracer: tracer}, func(c *quic.Config) bool { return c.Tracer != nil }},
		{"base", transports.QUICOptions{Config: base, KeepAlivePeriod: time.Second}, func(c *quic.Config) bool {
			return c.MaxIdleTimeout == time.Minute && c.MaxIncomingStreams == 7 && c.KeepAlivePeriod == time.Second && c != base
		}},
	} {
		if c := tc.o.QUICConfig(); !tc.check(c) {
			t.Errorf("%s: %+v", tc.name, c)
		}
	}
	if base.KeepAlivePeriod != 0 {
		t.Error("the base Config was changed")
	}
}

// TestGroup: closers run last added first, with their errors joined; goroutines started with Go
// are waited for; what is added after Close is closed at once.
func TestGroup(t *testing.T) {
	var g transports.Group
	var mu sync.Mutex
	var order []string
	rec := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	release := make(chan struct{})
	g.Go(func() { <-release; rec("goroutine") })
	g.Defer(func() { rec("first"); close(release) }) // the last closer frees the goroutine
	g.Add(func() error { rec("second"); return errors.New("boom") })
	g.Defer(func() { rec("third") })
	err := g.Close()
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Close: %v, want the closer's error", err)
	}
	if want := []string{"third", "second", "first", "goroutine"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	g.Defer(func() { rec("late") })
	if order[len(order)-1] != "late" {
		t.Error("a closer added after Close did not run at once")
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestKitErrors: each failure is said once, with the kit's prefix.
func TestKitErrors(t *testing.T) {
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"dial quic", func() error {
			_, err := transports.DialQUIC(ctx, netx.Kernel, "no-port", transports.QUICOptions{})
			return err
		}, "dial quic: "},
		{"dial ws", func() error {
			_, err := transports.DialWS(ctx, netx.Kernel, "ws://127.0.0.1:1/", transports.WSOptions{})
			return err
		}, "dial ws: "},
		{"dial tcp", func() error {
			_, err := transports.DialTCP(ctx, netx.Kernel, "127.0.0.1:1", transports.TCPOptions{})
			return err
		}, "dial tcp 127.0.0.1:1: "},
		{"measuring client over tcp", func() error {
			_, err := transports.Dial(ctx, netx.Kernel, protocol.TCP, transports.Target{TCP: "127.0.0.1:1"}, transports.ClientOptions{})
			if err != nil && strings.Count(err.Error(), "dial tcp") != 1 {
				return fmt.Errorf("said twice: %w", err)
			}
			return err
		}, "dial tcp 127.0.0.1:1: "},
		{"listen quic without TLS", func() error {
			ln, err := transports.ListenQUIC(ctx, netx.Kernel, "127.0.0.1:0", transports.QUICOptions{})
			if err == nil {
				ln.Close()
			}
			return err
		}, "listen quic: "},
		{"measuring client", func() error {
			_, err := transports.Dial(ctx, netx.Kernel, protocol.QUICStream, transports.Target{QUIC: "no-port"}, transports.ClientOptions{})
			if err != nil && strings.Contains(err.Error(), "dial quic: ") {
				return fmt.Errorf("said twice: %w", err)
			}
			return err
		}, "dial quic-stream: "},
	} {
		err := tc.err()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Count(err.Error(), tc.want) != 1 {
			t.Errorf("%s: %v, want one %q first", tc.name, err, tc.want)
		}
	}
}

// TestKitTCPKeepAlive: across a link, a conn dialled with TCPOptions.KeepAlive sends keep-alive
// probes (segments from its port carrying the sequence number before its first byte, as the
// link's packet log shows them) while idle; one dialled without sends nothing after its
// handshake meanwhile.
func TestKitTCPKeepAlive(t *testing.T) {
	l, err := link.New(link.Config{Seed: 1, Settings: link.Both(link.Impairment{Delay: time.Millisecond})})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := ctxT(t)
	var g transports.Group
	defer g.Close()
	ln, err := transports.ListenTCP(ctx, l.Server(), net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	g.Add(ln.Close)
	g.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.Add(c.Close)
		}
	})
	dial := func(o transports.TCPOptions) uint16 {
		c, err := transports.DialTCP(ctx, l.Client(), ln.Addr().String(), o)
		if err != nil {
			t.Fatal(err)
		}
		g.Add(c.Close)
		return c.LocalAddr().(*net.TCPAddr).AddrPort().Port()
	}
	plain := dial(transports.TCPOptions{})
	kept := dial(transports.TCPOptions{KeepAlive: net.KeepAliveConfig{Enable: true, Idle: 50 * time.Millisecond, Interval: 50 * time.Millisecond, Count: 100}})
	// after counts a port's segments after its handshake (SYN, then the ACK that completes it),
	// and the keep-alive probes among them.
	after := func(port uint16) (segments, probes int) {
		var flow []link.Decoded
		for _, p := range l.Packets() {
			if d := p.Decoded; p.Dir == link.ClientToServer && d.Proto == "tcp" && d.Src.Port() == port {
				flow = append(flow, d)
			}
		}
		if len(flow) < 2 || flow[0].Flags&link.FlagSYN == 0 {
			return 0, 0
		}
		isn := flow[0].TCPSeq
		for _, d := range flow[2:] {
			segments++
			if d.TCPSeq == isn && d.PayloadLen == 0 {
				probes++
			}
		}
		return segments, probes
	}
	for {
		if _, probes := after(kept); probes >= 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no keep-alive probes on the link")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if n, _ := after(plain); n != 0 {
		t.Errorf("the conn without keep-alive sent %d segments after its handshake", n)
	}
}
