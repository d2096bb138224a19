package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlogwriter"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/linkspec"
	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/observe"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

const (
	maxLinks      = 64                  // emulated links in use server-wide
	linkLogSize   = link.DefaultLogSize // packets a session's capture keeps at most
	linkLogBytes  = 4 << 20             // and bytes: maxLinks of them are 256 MiB at most
	qlogMaxEvents = 16 << 10            // events of a qlog trace a session keeps, each end (about 4 MiB)
	// serverQLogTraces is how many of the echo's QUIC connections a link keeps the qlog of:
	// the latest of each QUIC transport and the ones before them.
	serverQLogTraces = 4
	errTooMany       = "too many emulated links in use; try again later"
	errSwitched      = "the session switched networks while this connection was being set up; send again"
	errLinkClosed    = "the emulated link was closed"
)

// linkMode is a session's own emulated link: the link, wireplay's echo endpoints on its server
// host, where the session's transports dial them, and what is watching its packets.
type linkMode struct {
	s      *session
	l      *link.Link
	echo   *linkEcho
	preset string
	seed   int64
	obs    *observe.Stream
	quic   *observe.QUIC // what the QUIC endpoints sent, for the packets' summaries
	// serverQLog is the echo's side of the session's latest QUIC connections (the qlog download
	// pairs it with the client's by original destination connection ID).
	serverQLog *transports.QLog
	unsub      func()
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup // the TCP sampler

	mu       sync.Mutex
	ports    map[portKey]protocol.Transport // client-side ports of the session's connections
	recent   map[protocol.Transport][]portKey
	dialing  map[protocol.Transport]int
	sampling bool // a TCP sampler is running
}

// portKey is a socket on the link's client host.
type portKey struct {
	udp  bool
	port uint16
}

// keepPorts is how many recent connections per transport keep their packets attributed (the one
// in use and the one before it, whose closing handshake may still be crossing).
const keepPorts = 2

// presetInfos lists link.Presets for the welcome event.
var presetInfos = linkspec.Presets()

// acquireLink counts one more emulated link in use, if the server has room for it.
func (r *relay) acquireLink() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.links >= r.cfg.MaxLinks {
		return false
	}
	r.links++
	return true
}

func (r *relay) releaseLink() {
	r.mu.Lock()
	r.links--
	r.mu.Unlock()
}

// handleLink answers a "link" request: it switches the session between the kernel's loopback and
// its own emulated link, or changes the link's settings live. It runs on the session's reading
// goroutine, so requests that follow it use the network it chose.
func (s *session) handleLink(req protocol.Request) {
	lr := req.Link
	s.mu.Lock()
	cur := s.lk
	s.mu.Unlock()
	if lr.Mode == protocol.ModeKernel {
		if cur != nil {
			s.switchTo(nil)
			s.r.releaseLink()
		}
		s.notify(protocol.Event{Type: protocol.EventLink, Req: req.ID, Link: s.linkState()})
		return
	}
	spec, err := linkspec.Resolve(linkspec.Spec{Preset: lr.Preset, Up: lr.Up, Down: lr.Down, Seed: lr.Seed}, "")
	if err != nil {
		s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID, Error: "link: " + err.Error()})
		return
	}
	name, set, seed := spec.Preset, spec.Settings, spec.Seed
	if cur != nil && cur.seed == seed {
		if err := cur.l.Apply(set); err != nil {
			s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID, Error: "link: " + err.Error()})
			return
		}
		s.mu.Lock()
		cur.preset = name
		s.mu.Unlock()
		s.notify(protocol.Event{Type: protocol.EventLink, Req: req.ID, Link: s.linkState()})
		return
	}
	if cur == nil && !s.r.acquireLink() {
		s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID, Error: errTooMany})
		return
	}
	lk, err := s.newLinkMode(name, seed, set)
	if err != nil {
		if cur == nil {
			s.r.releaseLink()
		}
		s.r.log.Error("relay: emulated link", "err", err)
		s.notify(protocol.Event{Type: protocol.EventError, Req: req.ID, Error: "link: " + err.Error()})
		return
	}
	s.switchTo(lk) // a rebuilt link takes over the old one's place in the count
	s.notify(protocol.Event{Type: protocol.EventLink, Req: req.ID, Link: s.linkState()})
}

// switchTo makes lk (nil: the kernel) the session's network: it closes every transport
// connection, so the next send dials (and shows) a new handshake, and then the previous link.
func (s *session) switchTo(lk *linkMode) {
	s.mu.Lock()
	old := s.lk
	s.lk = lk
	s.gen++
	var open []*transports.Client
	for _, sl := range s.clients {
		if sl.c != nil {
			open = append(open, sl.c)
			sl.c = nil
			clear(sl.pending)
		}
	}
	s.mu.Unlock()
	// A send still running on one of these gets an error; its slot dials anew next time.
	for _, c := range open {
		c.Close()
	}
	if old != nil {
		old.close()
	}
}

// closeLink closes the session's link, if it has one, when the session ends.
func (s *session) closeLink() {
	s.mu.Lock()
	lk := s.lk
	s.lk = nil
	s.mu.Unlock()
	if lk != nil {
		lk.close()
		s.r.releaseLink()
	}
}

// linkState describes the session's network now.
func (s *session) linkState() *protocol.LinkState {
	s.mu.Lock()
	lk := s.lk
	var preset string
	if lk != nil {
		preset = lk.preset
	}
	s.mu.Unlock()
	if lk == nil {
		return &protocol.LinkState{Mode: protocol.ModeKernel}
	}
	return &protocol.LinkState{
		Mode:       protocol.ModeLink,
		Preset:     preset,
		Seed:       lk.seed,
		Up:         linkspec.ToWire(lk.l.Impairment(link.ClientToServer)),
		Down:       linkspec.ToWire(lk.l.Impairment(link.ServerToClient)),
		UpCounts:   linkspec.WireCounts(lk.l.Counts(link.ClientToServer)),
		DownCounts: linkspec.WireCounts(lk.l.Counts(link.ServerToClient)),
	}
}

// newLinkMode builds a link with the session's own echo endpoints on its server host.
func (s *session) newLinkMode(preset string, seed int64, set link.Settings) (*linkMode, error) {
	l, err := link.New(link.Config{Seed: seed, Settings: set, LogSize: linkLogSize, LogBytes: linkLogBytes})
	if err != nil {
		return nil, err
	}
	lk := &linkMode{s: s, l: l, preset: preset, seed: seed,
		ports: map[portKey]protocol.Transport{}, recent: map[protocol.Transport][]portKey{}, dialing: map[protocol.Transport]int{}}
	lk.ctx, lk.cancel = context.WithCancel(s.ctx) // the session ending ends its endpoints
	lk.quic = observe.NewQUIC()
	lk.serverQLog = &transports.QLog{MaxEvents: qlogMaxEvents, MaxTraces: serverQLogTraces}
	lk.echo, err = startLinkEcho(lk.ctx, l, s.r.ep.ServerTLS, s.r.cfg, transports.JoinTracers(lk.quic.Tracer, lk.serverQLog.Tracer))
	if err != nil {
		lk.cancel()
		l.Close()
		return nil, err
	}
	lk.obs = s.newObserver(lk.attribute, lk.quic)
	lk.unsub = l.OnPacket(lk.obs.Add)
	return lk, nil
}

// close stops watching, ends the link's context, closes the endpoints and then the link.
func (lk *linkMode) close() {
	lk.unsub()
	lk.cancel()
	lk.echo.close()
	if err := lk.l.Close(); err != nil {
		lk.s.r.log.Debug("relay: close link", "err", err)
	}
	lk.wg.Wait()
	lk.obs.Stop()
}

// dialer returns the network and target a dial of transport t uses on the link, and a func to
// call with its result. The network tells the link which client port is t's as soon as the socket
// exists, so its handshake's packets are shown too; QUIC dials get a qlog of their own.
func (lk *linkMode) dialer(t protocol.Transport) (netx.Network, transports.Target, func(*transports.Client)) {
	lk.mu.Lock()
	lk.dialing[t]++
	lk.mu.Unlock()
	target := lk.echo.target
	if t == protocol.QUICStream || t == protocol.QUICDgram {
		target.QUICConfig = lk.s.qlogConfig(t, lk.obs, func(tr *transports.QLogTrace, ev qlogwriter.Event) {
			lk.quic.Record(tr.ODCID, tr.IsClient, ev)
		})
	}
	n := watchNet{Network: lk.l.Client(), host: lk.l.ClientAddr(), seen: func(a net.Addr) { lk.addPort(a, t) }}
	return n, target, func(c *transports.Client) {
		lk.mu.Lock()
		lk.dialing[t]--
		lk.mu.Unlock()
		if c != nil {
			lk.addPort(c.LocalAddr(), t)
		}
	}
}

// addPort attributes the packets of the client socket at a to transport t.
func (lk *linkMode) addPort(a net.Addr, t protocol.Transport) {
	if a == nil { // a netstack conn closed already
		return
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return
	}
	udp := t == protocol.UDP || t == protocol.QUICStream || t == protocol.QUICDgram
	lk.mu.Lock()
	lk.addPortLocked(portKey{udp, ap.Port()}, t)
	lk.mu.Unlock()
}

func (lk *linkMode) addPortLocked(k portKey, t protocol.Transport) {
	if _, ok := lk.ports[k]; ok {
		return
	}
	lk.ports[k] = t
	r := append(lk.recent[t], k)
	if len(r) > keepPorts {
		delete(lk.ports, r[0])
		r = r[1:]
	}
	lk.recent[t] = r
}

// attribute tells the session's own connections' packets by their client port, and which
// transport each is.
func (lk *linkMode) attribute(p *link.Packet) (protocol.Transport, uint16, bool) {
	d := &p.Decoded
	if d.Proto != "tcp" && d.Proto != "udp" {
		return "", 0, false
	}
	client, server := d.Src, d.Dst
	if p.Dir == link.ServerToClient {
		client, server = server, client
	}
	k := portKey{udp: d.Proto == "udp", port: client.Port()}
	lk.mu.Lock()
	t, ok := lk.ports[k]
	if !ok && !k.udp {
		// A TCP or WebSocket handshake before Dial has returned the conn.
		for _, c := range []protocol.Transport{protocol.TCP, protocol.WS} {
			if lk.dialing[c] > 0 && server.Port() == lk.echo.ports[c] {
				t, ok = c, true
				lk.addPortLocked(k, c)
			}
		}
	}
	lk.mu.Unlock()
	if !ok || server.Port() != lk.echo.ports[t] {
		return "", 0, false // not one of the session's transports
	}
	return t, client.Port(), true
}

// watchNet is a Network that reports the local address of each socket it opens.
type watchNet struct {
	netx.Network
	host netip.Addr // the host's own address
	seen func(net.Addr)
}

func (w watchNet) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	// Bound to the wildcard, a link socket's LocalAddr has an empty IP, which quic-go's qlog
	// cannot log (it panics converting it): bind to the client host's address instead.
	if host, p, err := net.SplitHostPort(address); err == nil && w.host.IsValid() {
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
			address = net.JoinHostPort(w.host.String(), p)
		}
	}
	pc, err := w.Network.ListenPacket(ctx, network, address)
	if err == nil {
		w.seen(pc.LocalAddr())
	}
	return pc, err
}

func (w watchNet) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := w.Network.Dial(ctx, network, address)
	if err == nil {
		w.seen(c.LocalAddr())
	}
	return c, err
}

// linkEcho is wireplay's echo endpoints on a link's server host, and the server port of each
// transport (to tell the session's packets from others).
type linkEcho struct {
	*transports.Echo
	target transports.Target
	ports  map[protocol.Transport]uint16
}

// startLinkEcho starts the echo endpoints; tracer traces the QUIC endpoint's connections.
func startLinkEcho(ctx context.Context, l *link.Link, tlsConf *tls.Config, cfg Config,
	tracer func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace) (*linkEcho, error) {
	e, err := transports.StartEcho(ctx, l.Server(), l.ServerAddr().String(), transports.EchoOptions{
		TLS:        tlsConf,
		QUICTracer: tracer,
		TCP:        transports.TCPEchoConfig{IdleTimeout: cfg.IdleTimeout},
		UDP:        cfg.UDPEcho,
		WS:         transports.WSEchoConfig{IdleTimeout: cfg.IdleTimeout},
	})
	if err != nil {
		return nil, err
	}
	t := e.Target
	t.QUICConfig = nil // the session sets its own (with its qlog)
	return &linkEcho{Echo: e, target: t, ports: map[protocol.Transport]uint16{
		protocol.TCP:        port(t.TCP),
		protocol.UDP:        port(t.UDP),
		protocol.QUICStream: port(t.QUIC),
		protocol.QUICDgram:  port(t.QUIC),
		protocol.WS:         port(strings.TrimSuffix(strings.TrimPrefix(t.WS, "ws://"), "/ws/echo")),
	}}, nil
}

func (e *linkEcho) close() { e.Close() }

func port(hostport string) uint16 {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return 0
	}
	return ap.Port()
}
