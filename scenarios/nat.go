package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

func init() {
	Register(&Scenario{
		Name:    "nat",
		Title:   "Peer to peer across NATs",
		Summary: "two peers behind emulated NATs meet at a rendezvous server and punch UDP holes: which NAT types connect directly, which must relay, and the keep-alive a mapping needs",
		Explain: `Two peers behind home routers cannot simply send to each other. Each router is a NAT: it hides its private network (192.168.x.x) behind one public address, and it lets a packet in only when it has a mapping for it — a record, made by a packet going out, of which private socket an external port stands for. Nobody outside knows a peer's external endpoint until the peer sends something.

So both peers first talk to a rendezvous server on the public side. The server sees each peer's packets arrive from the NAT's external endpoint — the observed address, which the peer itself cannot know — records it, and tells each peer the other's. Then both peers send to each other at once, again and again: hole punching. A peer's first packets may be refused by the other NAT, but each packet it sends opens (or uses) a mapping in its own NAT, so the other's packets, once they come, are let in as answers. Whether that works depends on two behaviours RFC 4787 names. Mapping: does the NAT reuse one external port for all destinations (endpoint-independent), or make a new one per destination address (address-dependent) or per address and port (address-and-port-dependent)? Filtering: does it let in anyone to a mapped port (endpoint-independent), only addresses the peer has sent to (address-dependent), or only the exact address and port (address-and-port-dependent)? The classic names: a full cone maps and filters endpoint-independently, a restricted cone filters by address, a port-restricted cone by address and port, and a symmetric NAT also maps per destination.

The trouble is the symmetric NAT: its packets to the other peer leave from a new port, not the one the server saw and passed on. A full cone or a restricted cone on the other side lets them in anyway (anyone may send / the address is one it has sent to) and answers to the port they came from, which the symmetric NAT expects; a port-restricted cone refuses them, since it has only sent to the old port — and its own packets go to that old port, which the symmetric NAT keeps for the server alone. Two symmetric NATs never meet. Those pairs fall back to relaying every message through the server (what TURN does), which always works because each peer's mapping to the server is open.

A mapping lives only while the peer uses it: a NAT forgets a mapping idle for its timeout (RFC 4787 asks for at least 2 minutes for UDP; many home routers keep 30 s), and then the server's packets to the peer find nothing. A peer that wants to stay reachable sends a keep-alive more often than the timeout. The second table runs that with the timeout shortened.

Losing a mapping mid-conversation and getting a new one is NAT rebinding: the same flow suddenly comes from a new port. A TCP connection dies of it; QUIC, which names connections by IDs instead of addresses, validates the new path and carries on. The last table measures that here: a QUIC connection (quic-go) idles past the mapping timeout, and its next echo leaves from a new external port; the migration lesson sets it beside TCP and WebSocket.

Each pair runs on its own emulated network: two peers and the server, each a netstack with real UDP sockets, and two NATs rewriting packet headers between them. The first table is the matrix (peer A's NAT down, peer B's across), each cell measured: "direct" when each peer received the other's packets straight from the other's NAT, "relayed" otherwise. The second gives each pair's addresses — what the server saw, where each peer heard the other from (a port the server never saw means a new mapping) — its punches let in and sent, and RFC 4787's reasoning for the cell. The third traces one pair (trace_a, trace_b) packet by packet: the private addresses each packet left with, what the sender's NAT rewrote them to (and when that made a new mapping), and whether the receiver's NAT let it in. The sequence diagram draws the same pair from A's side: A behind its NAT on the left, the public side (the server, B behind its NAT) on the right, each packet labelled with the address A's NAT sent it out as, or why a packet for A was dropped. Then the keep-alive runs, and QUIC across the rebinding.`,
		Preset: "clean",
		Params: []Param{
			{Name: "delay", Label: "one-way delay", Kind: KindDuration, Min: "0", Max: "200ms", Default: "5ms", Help: "one-way delay of every packet between two hosts"},
			{Name: "punches", Label: "punches per peer", Kind: KindInt, Min: "1", Max: "50", Unit: "packets", Default: "20", Help: "hole-punching packets each peer sends at most (it stops once answered)"},
			{Name: "punch_every", Label: "time between punches", Kind: KindDuration, Min: "1ms", Max: "500ms", Default: "25ms", Help: "time between two punches of a peer"},
			{Name: "mapping_timeout", Label: "mapping timeout", Kind: KindDuration, Min: "50ms", Max: "5s", Default: "300ms", Help: "the keep-alive run's NAT timeout: an idle mapping is forgotten after this long"},
			{Name: "keepalive", Label: "keep-alive interval", Kind: KindDuration, Min: "10ms", Max: "5s", Default: "100ms", Help: "how often the peer with keep-alives sends one to the server"},
			{Name: "trace_a", Label: "traced pair: A's NAT", Kind: KindEnum, Values: natTypeNames(), Default: "port-restricted", Help: "NAT type of peer A in the pair traced packet by packet"},
			{Name: "trace_b", Label: "traced pair: B's NAT", Kind: KindEnum, Values: natTypeNames(), Default: "symmetric", Help: "NAT type of peer B in the pair traced packet by packet"},
		},
		Run: runNAT,
	})
}

// natType is a classic NAT type.
type natType struct {
	name string
	cfg  link.NATConfig
}

var natTypes = []natType{
	{"full cone", link.FullCone},
	{"restricted", link.RestrictedCone},
	{"port-restricted", link.PortRestricted},
	{"symmetric", link.Symmetric},
}

func natTypeNames() []string {
	var out []string
	for _, t := range natTypes {
		out = append(out, strings.ReplaceAll(t.name, " ", "-"))
	}
	return out
}

func natTypeByName(n string) natType {
	for _, t := range natTypes {
		if strings.ReplaceAll(t.name, " ", "-") == n {
			return t
		}
	}
	panic("scenarios: unknown NAT type " + n)
}

// The emulated networks' addresses: documentation ranges on the public side, private ones behind
// the NATs.
var (
	natServerAddr = netip.MustParseAddr("192.0.2.1")
	natPubA       = netip.MustParseAddr("198.51.100.1")
	natPubB       = netip.MustParseAddr("203.0.113.1")
	natPrivA      = netip.MustParseAddr("192.168.1.2")
	natPrivB      = netip.MustParseAddr("192.168.2.2")
)

type natParams struct {
	delay, every, timeout, keepalive time.Duration
	punches                          int
}

// natPair is one pair's run: peer A behind a, peer B behind b.
type natPair struct {
	a, b natType
	// Measured by the peers' sockets:
	observed [2]netip.AddrPort // what the server saw of A and B (what it told the other)
	heard    [2]netip.AddrPort // where B heard A from and A heard B from, directly; invalid: never
	data     [2]string         // how A's and B's message reached the other: "direct", "relayed" or ""
	punches  [2]int            // punches sent by A and B
	// From the NATs and the hop log:
	stats     [2]link.NATStats
	refused   [2]int // punches of A refused by B's NAT, and of B by A's
	delivered [2]int // punches of A that reached B, and of B that reached A
	hops      []link.HopPacket
	err       error
}

// direct says whether each peer heard the other straight from its NAT.
func (p *natPair) direct() bool { return p.heard[0].IsValid() && p.heard[1].IsValid() }

func runNAT(ctx context.Context, env *Env) (*Result, error) {
	pr := natParams{delay: env.Duration("delay"), every: env.Duration("punch_every"), punches: env.Int("punches"),
		timeout: env.Duration("mapping_timeout"), keepalive: env.Duration("keepalive")}
	if pr.keepalive >= pr.timeout {
		return nil, fmt.Errorf("nat: keepalive %v is not shorter than mapping_timeout %v: the keep-alive could not hold the mapping", pr.keepalive, pr.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var pairs []*natPair
	var ka [2]*natKeepalive
	var wg sync.WaitGroup
	var matrixErr error
	wg.Go(func() { pairs, matrixErr = runNATMatrix(ctx, pr) })
	for i, with := range []bool{false, true} {
		ka[i] = &natKeepalive{with: with}
		wg.Go(func() { ka[i].err = runNATKeepalive(ctx, pr, ka[i]) })
	}
	qr := &natQUIC{}
	wg.Go(func() { qr.err = runNATQUIC(ctx, pr, qr) })
	wg.Wait()
	if qr.err != nil {
		return nil, fmt.Errorf("nat quic: %w", qr.err)
	}
	if matrixErr != nil {
		return nil, matrixErr
	}
	for _, k := range ka {
		if k.err != nil {
			return nil, fmt.Errorf("nat keep-alive: %w", k.err)
		}
	}
	ta, tb := natTypeByName(env.Enum("trace_a")), natTypeByName(env.Enum("trace_b"))
	if env.Progress != nil {
		for _, p := range pairs {
			if p.a.name == ta.name && p.b.name == tb.name {
				env.Progress(natSeqEvent(p, env.Epoch))
			}
		}
	}
	return natReport(pr, pairs, ka, qr, ta, tb), nil
}

// natSeqEvent is the traced pair's packets as the page's sequence diagram draws a run's: peer A
// (behind its NAT) on the left, the public side (the server, and B behind its NAT) on the right;
// each label says what A's NAT made of the packet — the mapping — or why it was dropped.
func natSeqEvent(p *natPair, epoch time.Time) protocol.Event {
	aPublic := p.observed[0].Addr() // A's NAT, as the server saw it
	ev := protocol.Event{Type: protocol.EventPackets}
	for _, h := range p.hops {
		var pi protocol.PacketInfo
		switch {
		case h.From == "A":
			pi.Dir = "up"
			pi.Summary = fmt.Sprintf("%s %s → %s", strings.ToUpper(h.Proto), h.Src, h.Dst)
			if h.OutSrc != h.Src {
				pi.Summary += ", out as " + h.OutSrc.String()
				if h.MappingCreated {
					pi.Summary += " (new mapping)"
				}
			}
		case h.To == "A" || h.To == "" && h.Dst.Addr() == aPublic:
			pi.Dir = "down"
			pi.Summary = fmt.Sprintf("%s from %s %s → %s", strings.ToUpper(h.Proto), h.From, h.OutSrc, h.Dst)
			if h.To == "A" {
				pi.Summary += ", in to " + h.InDst.String()
			}
		default: // between B and the server: not A's
			continue
		}
		pi.Summary += fmt.Sprintf(" %q", h.Payload)
		pi.AtMicros = h.Time.Sub(epoch).Microseconds()
		pi.Size, pi.PayloadLen = h.Size, len(h.Payload)
		pi.Fate = "delivered"
		if h.Verdict != link.VerdictDelivered {
			pi.Fate, pi.Rule = "dropped", h.Verdict
			if h.NAT != "" {
				pi.Rule += " by " + h.NAT
			}
		}
		ev.Packets = append(ev.Packets, pi)
	}
	return ev
}

// runNATMatrix runs every pair of classic NAT types, all at once, each on its own network; the
// pairs are in natTypes order, A's type the slower index.
func runNATMatrix(ctx context.Context, pr natParams) ([]*natPair, error) {
	return runNATPairs(ctx, pr, natTypes, len(natTypes)*len(natTypes))
}

// runNATPairs runs every ordered pair of types, at most atOnce at a time (each is 3 netstacks
// and a dozen goroutines, punching on a timer: too many at once on a busy machine and a peer
// waits longer for the CPU than its punching lasts).
func runNATPairs(ctx context.Context, pr natParams, types []natType, atOnce int) ([]*natPair, error) {
	pairs := make([]*natPair, 0, len(types)*len(types))
	for _, a := range types {
		for _, b := range types {
			pairs = append(pairs, &natPair{a: a, b: b})
		}
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, atOnce)
	for _, p := range pairs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			p.err = runNATPair(ctx, pr, p)
		})
	}
	wg.Wait()
	for _, p := range pairs {
		if p.err != nil {
			return nil, fmt.Errorf("nat %s/%s: %w", p.a.name, p.b.name, p.err)
		}
	}
	return pairs, nil
}

// natNames are the two peers' names, A behind the first NAT and B behind the second.
var natNames = [2]string{"A", "B"}

func natOther(name string) string {
	if name == "A" {
		return "B"
	}
	return "A"
}

// runNATPair builds one pair's network, has both peers meet at the server and punch, and records
// what arrived.
func runNATPair(ctx context.Context, pr natParams, p *natPair) error {
	in, err := link.NewInternet(link.InternetConfig{Delay: pr.delay})
	if err != nil {
		return err
	}
	defer in.Close()
	var nats [2]*link.NAT
	var conns [2]net.PacketConn
	for i, t := range []natType{p.a, p.b} {
		pub, priv := []netip.Addr{natPubA, natPubB}[i], []netip.Addr{natPrivA, natPrivB}[i]
		if nats[i], err = in.AddNAT("NAT "+natNames[i], pub, t.cfg); err != nil {
			return err
		}
		h, err := nats[i].AddHost(natNames[i], priv)
		if err != nil {
			return err
		}
		if conns[i], err = h.ListenPacket(ctx, "udp", netip.AddrPortFrom(priv, 0).String()); err != nil {
			return fmt.Errorf("peer %s: %w", natNames[i], err)
		}
		defer conns[i].Close()
	}
	srvHost, err := in.AddHost("server", natServerAddr)
	if err != nil {
		return err
	}
	sc, err := srvHost.ListenPacket(ctx, "udp", netip.AddrPortFrom(natServerAddr, 0).String())
	if err != nil {
		return fmt.Errorf("rendezvous server: %w", err)
	}
	server := sc.LocalAddr().(*net.UDPAddr).AddrPort()
	stopServer := natServe(sc)
	defer stopServer()

	var res [2]natPeerResult
	var errs [2]error
	var wg sync.WaitGroup
	// Each peer says when its part is over (finished), then goes on answering and recording
	// until both are over (stop): a punch that gets through late is still heard.
	stop := make(chan struct{})
	var finished sync.WaitGroup
	finished.Add(2)
	for i := range 2 {
		wg.Go(func() { res[i], errs[i] = natPeer(ctx, pr, conns[i], natNames[i], server, finished.Done, stop) })
	}
	finished.Wait()
	close(stop)
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	for i := range 2 {
		p.observed[i] = res[i].observed
		p.heard[i] = res[1-i].heard // what the other peer heard of i
		p.data[i] = res[1-i].dataFrom
		p.punches[i] = res[i].punches
		p.stats[i] = nats[i].Stats()
	}
	p.hops = in.Packets()
	for _, h := range p.hops {
		for i, n := range natNames {
			if h.From == n && strings.HasPrefix(string(h.Payload), "PUNCH ") {
				if h.Verdict == link.VerdictDelivered {
					p.delivered[i]++
				} else {
					p.refused[i]++
				}
			}
		}
	}
	return nil
}

// natServe runs the rendezvous server on c: "REG name" records the address the registration came
// from and, once both peers are known, tells each "PEER <the other's address> <your address>";
// "RELAY name" forwards "DATA name" to the other peer. stop closes c and waits.
func natServe(c net.PacketConn) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		reg := map[string]netip.AddrPort{}
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			src := from.(*net.UDPAddr).AddrPort()
			f := strings.Fields(string(buf[:n]))
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "REG":
				reg[f[1]] = src
				if o, ok := reg[natOther(f[1])]; ok {
					natSendTo(c, src, "PEER "+o.String()+" "+src.String())
					natSendTo(c, o, "PEER "+src.String()+" "+o.String())
				}
			case "RELAY":
				if o, ok := reg[natOther(f[1])]; ok {
					natSendTo(c, o, "DATA "+f[1])
				}
			}
		}
	}()
	return func() {
		c.Close()
		<-done
	}
}

func natSendTo(c net.PacketConn, to netip.AddrPort, msg string) {
	c.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(to)) // a UDP send on the emulated network: lost only as the NATs decide, which the hop log records
}

// natPeerResult is what one peer saw.
type natPeerResult struct {
	observed netip.AddrPort // its own address as the server saw it
	peer     netip.AddrPort // the other's, as the server told it
	heard    netip.AddrPort // where it first heard the other peer from directly; invalid: never
	dataFrom string         // how the other's message came: "direct", "relayed" or "" (never)
	punches  int
}

type natMsg struct {
	from netip.AddrPort
	text string
}

// natPeer registers with the server, punches towards the peer it is told of, answers the punches
// it hears (to where they came from), and then sends one message: straight to the peer when a
// punch of its own was answered (both ways work), through the server otherwise.
func natPeer(ctx context.Context, pr natParams, c net.PacketConn, name string, server netip.AddrPort, finished func(), stop <-chan struct{}) (natPeerResult, error) {
	var r natPeerResult
	var once sync.Once
	finish := func() { once.Do(finished) }
	defer finish()
	msgs := make(chan natMsg, 64)
	done := make(chan struct{})
	defer close(done)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case msgs <- natMsg{from.(*net.UDPAddr).AddrPort(), string(buf[:n])}:
			case <-done:
				return
			}
		}
	}()
	var target netip.AddrPort
	acked := false
	reg := time.NewTicker(50 * time.Millisecond)
	defer reg.Stop()
	natSendTo(c, server, "REG "+name)
	var punch <-chan time.Time
	var punchT *time.Ticker
	defer func() {
		if punchT != nil {
			punchT.Stop()
		}
	}()
	sendPunch := func() {
		r.punches++
		natSendTo(c, target, fmt.Sprintf("PUNCH %s %d", name, r.punches))
		if r.punches >= pr.punches {
			punchT.Stop()
			punch = nil
		}
	}
	// The phases: registered (until PEER), punching (a fixed time from PEER), data sent (until the
	// other's message comes or the wait is over).
	var punchEnd, dataEnd <-chan time.Time
	regTries := 0
	for {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-reg.C:
			if regTries++; regTries > 20 {
				return r, errors.New("no answer from the rendezvous server")
			}
			natSendTo(c, server, "REG "+name)
		case <-punch:
			sendPunch()
		case <-punchEnd:
			punchEnd = nil
			if acked { // the peer heard this peer's punch, and its answer came back: both ways work
				natSendTo(c, target, "DATA "+name)
			} else {
				natSendTo(c, server, "RELAY "+name)
			}
			if r.dataFrom != "" {
				finish()
			} else {
				dataEnd = time.After(500*time.Millisecond + 4*pr.delay) // ends early when the message comes
			}
		case <-dataEnd:
			dataEnd = nil
			finish()
		case <-stop:
			return r, nil
		case m := <-msgs:
			f := strings.Fields(m.text)
			switch {
			case len(f) == 3 && f[0] == "PEER" && !target.IsValid():
				peer, err1 := netip.ParseAddrPort(f[1])
				self, err2 := netip.ParseAddrPort(f[2])
				if err := errors.Join(err1, err2); err != nil {
					return r, fmt.Errorf("bad PEER message %q: %w", m.text, err)
				}
				reg.Stop()
				r.peer, r.observed, target = peer, self, peer
				punchT = time.NewTicker(pr.every)
				punch = punchT.C
				sendPunch()
				punchEnd = time.After(time.Duration(pr.punches)*pr.every + 4*pr.delay)
			case m.from == server:
				if len(f) == 2 && f[0] == "DATA" && r.dataFrom == "" {
					r.dataFrom = "relayed"
				}
			case len(f) >= 2 && f[1] == natOther(name):
				if !r.heard.IsValid() {
					r.heard = m.from
				}
				target = m.from // answer, and go on punching, where the peer's packets come from
				switch f[0] {
				case "PUNCH":
					natSendTo(c, m.from, "ACK "+name)
				case "ACK":
					if !acked && punchT != nil {
						acked = true
						punchT.Stop()
						punch = nil
					}
				case "DATA":
					if r.dataFrom == "" {
						r.dataFrom = "direct"
					}
				}
			}
			if r.dataFrom != "" && punchEnd == nil && dataEnd != nil {
				dataEnd = nil
				finish()
			}
		}
	}
}

// natKeepalive is one run of a peer that registers and then sits idle (with keep-alives or
// without) for longer than its NAT's mapping timeout, after which the server sends it a message.
type natKeepalive struct {
	with          bool
	idle          time.Duration
	keepalives    int    // sent by the peer
	pushVerdict   string // what became of the server's message, from the hop log
	pushReceived  bool   // the peer's socket got it
	before, after netip.AddrPort
	stats         link.NATStats
	err           error
}

func runNATKeepalive(ctx context.Context, pr natParams, k *natKeepalive) error {
	in, err := link.NewInternet(link.InternetConfig{Delay: pr.delay})
	if err != nil {
		return err
	}
	defer in.Close()
	cfg := link.PortRestricted
	cfg.Timeout = pr.timeout
	nat, err := in.AddNAT("NAT A", natPubA, cfg)
	if err != nil {
		return err
	}
	h, err := nat.AddHost("A", natPrivA)
	if err != nil {
		return err
	}
	pc, err := h.ListenPacket(ctx, "udp", netip.AddrPortFrom(natPrivA, 0).String())
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	defer pc.Close()
	srvHost, err := in.AddHost("server", natServerAddr)
	if err != nil {
		return err
	}
	sc, err := srvHost.ListenPacket(ctx, "udp", netip.AddrPortFrom(natServerAddr, 0).String())
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	server := sc.LocalAddr().(*net.UDPAddr).AddrPort()
	regs := make(chan netip.AddrPort, 4) // where each REG came from, as the server saw it
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		buf := make([]byte, 100)
		for {
			n, from, err := sc.ReadFrom(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) == "REG A" {
				select {
				case regs <- from.(*net.UDPAddr).AddrPort():
				default:
				}
			}
		}
	}()
	defer func() {
		sc.Close()
		<-srvDone
	}()
	seen := func() (netip.AddrPort, error) {
		select {
		case a := <-regs:
			return a, nil
		case <-time.After(2*time.Second + 4*pr.delay):
			return netip.AddrPort{}, errors.New("the server never heard the peer register")
		case <-ctx.Done():
			return netip.AddrPort{}, ctx.Err()
		}
	}
	natSendTo(pc, server, "REG A")
	if k.before, err = seen(); err != nil {
		return err
	}
	// Idle for twice the timeout, the peer sending a keep-alive every interval or not at all.
	k.idle = 2 * pr.timeout
	idleEnd := time.After(k.idle)
	var tick <-chan time.Time
	if k.with {
		t := time.NewTicker(pr.keepalive)
		defer t.Stop()
		tick = t.C
	}
idle:
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			k.keepalives++
			natSendTo(pc, server, "KA")
		case <-idleEnd:
			break idle
		}
	}
	// The server pushes a message to where the peer registered from.
	natSendTo(sc, k.before, "PUSH")
	pc.SetReadDeadline(time.Now().Add(100*time.Millisecond + 4*pr.delay))
	buf := make([]byte, 100)
	if n, _, err := pc.ReadFrom(buf); err == nil && string(buf[:n]) == "PUSH" {
		k.pushReceived = true
	}
	for _, hp := range in.Packets() {
		if string(hp.Payload) == "PUSH" {
			k.pushVerdict = hp.Verdict
		}
	}
	// The peer speaks again: the server sees it at its mapping's port, a new one if it expired.
	natSendTo(pc, server, "REG A")
	if k.after, err = seen(); err != nil {
		return err
	}
	k.stats = nat.Stats()
	return nil
}

// natPredict is RFC 4787's reasoning about this lesson's hole punching between peer A behind a
// and peer B behind b: both learn the other's endpoint as the server saw it, both send to it, and
// each answers to wherever the other's packets come from. Direct contact needs one peer's
// punches to get in and the other's answer to get back (natLeg), either way round.
func natPredict(a, b link.NATConfig) (direct bool, why string) {
	okAB, whyAB := natLeg(a, b, "A", "B")
	okBA, whyBA := natLeg(b, a, "B", "A")
	switch {
	case okAB && okBA:
		return true, whyAB + " Either way round: " + whyBA
	case okAB:
		return true, whyAB + " (The other way: " + whyBA + ")"
	case okBA:
		return true, whyBA + " (The other way: " + whyAB + ")"
	}
	return false, whyAB + " " + whyBA
}

// natLeg says whether the punches of peer x (behind NAT config xc) get through y's NAT and y's
// answer gets back through x's, and why. x sends to y's server-mapped endpoint; with
// endpoint-independent mapping from its own server-mapped endpoint, otherwise — the peer's NAT
// having another public address than the server — from a new port. y's server mapping lets
// the punches in if its filtering allows them: always (EIF); if y has sent to x's address
// through that mapping (ADF), which y's own punches did only if y maps endpoint-independently;
// if y has sent to exactly that endpoint (APDF), so x's punches must come from the endpoint the
// server told y. y answers from the mapping the punches came to when it maps
// endpoint-independently, else from a new port of its own; x's NAT lets that answer in unless it
// filters by port and the port is new.
func natLeg(xc, yc link.NATConfig, x, y string) (bool, string) {
	xReuses := xc.Mapping == link.EndpointIndependent
	yReuses := yc.Mapping == link.EndpointIndependent
	var in bool
	var why string
	switch yc.Filtering {
	case link.EndpointIndependent:
		in, why = true, fmt.Sprintf("%s's punches get in: %s's NAT lets anyone send to a mapped port.", x, y)
	case link.AddressDependent:
		in = yReuses
		if in {
			why = fmt.Sprintf("%s's punches get in: %s's NAT lets in addresses %s has sent to, and %s's own punches went to %s's address from the same mapping.", x, y, y, y, x)
		} else {
			why = fmt.Sprintf("%s's punches are refused: %s's punches left from a new mapping, so the one the server saw lets in only the server.", x, y)
		}
	case link.AddressAndPortDependent:
		in = yReuses && xReuses
		switch {
		case !yReuses:
			why = fmt.Sprintf("%s's punches are refused: %s's punches left from a new mapping, so the one the server saw lets in only the server.", x, y)
		case !xReuses:
			why = fmt.Sprintf("%s's punches are refused: they come from a new port %s's NAT made for %s, and %s's NAT lets in only the exact endpoints %s has sent to (the one the server saw).", x, x, y, y, y)
		default:
			why = fmt.Sprintf("%s's punches get in: they come from the endpoint the server saw, which %s's own punches went to.", x, y)
		}
	}
	if !in {
		return false, why
	}
	if !yReuses && xc.Filtering == link.AddressAndPortDependent {
		return false, why + fmt.Sprintf(" But %s answers from a new port, which %s's NAT refuses.", y, x)
	}
	if !yReuses {
		return true, why + fmt.Sprintf(" %s answers from a new port, which %s's NAT lets in (it filters by address at most).", y, x)
	}
	return true, why + fmt.Sprintf(" %s answers from the endpoint %s punched to, which %s's NAT expects.", y, x, x)
}

// natReport writes the tables, metrics and conclusion.
func natReport(pr natParams, pairs []*natPair, ka [2]*natKeepalive, qr *natQUIC, ta, tb natType) *Result {
	res := &Result{}
	names := make([]string, len(natTypes))
	for i, t := range natTypes {
		names[i] = t.name
	}
	matrix := Table{Title: "Which pairs connect directly (peer A's NAT down, peer B's across), measured", Columns: append([]string{"A \\ B"}, names...)}
	detail := Table{Title: "Each pair: what the server saw, where each peer heard the other from, the punches, how each message went",
		Columns: []string{"A's NAT", "B's NAT", "server saw A", "server saw B", "B heard A from", "A heard B from",
			"A's punches in / sent", "B's punches in / sent", "mappings at NAT A / B", "A→B message", "B→A message", "RFC 4787 predicts", "why"}}
	var direct, relayed, agree, refused, lost int
	var traced *natPair
	row := []string{}
	for i, p := range pairs {
		if i%len(natTypes) == 0 {
			row = []string{p.a.name}
		}
		pred, why := natPredict(p.a.cfg, p.b.cfg)
		got := p.direct()
		cell := natOutcome(got)
		if got == pred {
			agree++
		} else {
			cell += " (predicted " + natOutcome(pred) + ")"
		}
		if got {
			direct++
		} else {
			relayed++
		}
		for j := range 2 {
			refused += p.refused[j]
			if p.data[j] == "" {
				lost++
			}
		}
		row = append(row, cell)
		if len(row) == len(natTypes)+1 {
			matrix.Rows = append(matrix.Rows, row)
		}
		detail.Rows = append(detail.Rows, []string{p.a.name, p.b.name, p.observed[0].String(), p.observed[1].String(),
			natAddrOrDash(p.heard[0]), natAddrOrDash(p.heard[1]),
			fmt.Sprintf("%d / %d", p.delivered[0], p.punches[0]), fmt.Sprintf("%d / %d", p.delivered[1], p.punches[1]),
			fmt.Sprintf("%d / %d", p.stats[0].MappingsCreated, p.stats[1].MappingsCreated),
			natDashIfEmpty(p.data[0]), natDashIfEmpty(p.data[1]), natOutcome(pred), why})
		if p.a.name == ta.name && p.b.name == tb.name {
			traced = p
		}
	}
	res.Tables = []Table{matrix, detail}
	if traced != nil {
		res.Tables = append(res.Tables, natTrace(traced))
	}
	kat := Table{Title: fmt.Sprintf("Keep-alive against a %v mapping timeout (port-restricted NAT; the peer idles %v, then the server sends to where it registered from)", pr.timeout, ka[0].idle),
		Columns: []string{"peer", "keep-alives sent", "server's message", "peer received it", "mappings expired", "server saw the peer at", "and afterwards at"}}
	for _, k := range ka {
		who := "no keep-alive"
		if k.with {
			who = fmt.Sprintf("keep-alive every %v", pr.keepalive)
		}
		kat.Rows = append(kat.Rows, []string{who, fmt.Sprint(k.keepalives), k.pushVerdict, fmt.Sprint(k.pushReceived),
			fmt.Sprint(k.stats.MappingsExpired), k.before.String(), k.after.String()})
	}
	res.Tables = append(res.Tables, kat)
	res.Tables = append(res.Tables, Table{Title: fmt.Sprintf("QUIC across the NAT's rebinding: one connection idle %v behind a NAT with a %v mapping timeout, no keep-alives", qr.idle, pr.timeout),
		Columns: []string{"external endpoint before", "after the idle time", "mappings expired", "echo after the idle time", "connections the server accepted"}},
	)
	res.Tables[len(res.Tables)-1].Rows = [][]string{{qr.before.String(), qr.after.String(), fmt.Sprint(qr.stats.MappingsExpired),
		map[bool]string{true: "came back on the same connection", false: "never came back"}[qr.survived], fmt.Sprint(qr.accepted)}}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	res.Metrics = []Metric{
		{Transport: "udp", Name: "pairs", Unit: "count", Value: float64(len(pairs))},
		{Transport: "udp", Name: "pairs_direct", Unit: "count", Value: float64(direct)},
		{Transport: "udp", Name: "pairs_relayed", Unit: "count", Value: float64(relayed)},
		{Transport: "udp", Name: "pairs_as_rfc4787_predicts", Unit: "count", Value: float64(agree)},
		{Transport: "udp", Name: "punches_refused", Unit: "count", Value: float64(refused)},
		{Transport: "udp", Name: "messages_lost", Unit: "count", Value: float64(lost)},
		{Transport: "udp", Name: "push_received_without_keepalive", Unit: "bool", Value: b2f(ka[0].pushReceived)},
		{Transport: "udp", Name: "push_received_with_keepalive", Unit: "bool", Value: b2f(ka[1].pushReceived)},
		{Transport: "udp", Name: "mappings_expired_without_keepalive", Unit: "count", Value: float64(ka[0].stats.MappingsExpired)},
		{Transport: "udp", Name: "mappings_expired_with_keepalive", Unit: "count", Value: float64(ka[1].stats.MappingsExpired)},
		{Transport: "quic", Name: "quic_survived_rebinding", Unit: "bool", Value: b2f(qr.survived && qr.accepted == 1)},
		{Name: "one_way_delay_ms", Unit: "ms", Value: millis(pr.delay)},
	}
	res.Conclusion = natConclusion(pr, pairs, ka, direct, relayed, agree, lost) + " " + natQUICConclusion(qr)
	return res
}

func natOutcome(direct bool) string {
	if direct {
		return "direct"
	}
	return "relayed"
}

func natAddrOrDash(a netip.AddrPort) string {
	if !a.IsValid() {
		return "—"
	}
	return a.String()
}

func natDashIfEmpty(s string) string {
	if s == "" {
		return "lost"
	}
	return s
}

// natTraceRows bounds the trace table.
const natTraceRows = 80

// natTrace is one pair's packets through both NATs.
func natTrace(p *natPair) Table {
	t := Table{Title: fmt.Sprintf("Trace: A behind a %s NAT, B behind a %s NAT, every packet through both NATs (times from the first packet)", p.a.name, p.b.name),
		Columns: []string{"#", "ms", "from", "says", "sent as", "after the sender's NAT", "to (after the receiver's NAT)", "what happened"}}
	if len(p.hops) == 0 {
		return t
	}
	t0 := p.hops[0].Time
	for i, h := range p.hops {
		if i == natTraceRows {
			t.Rows = append(t.Rows, []string{"…", "", "", fmt.Sprintf("%d more packets", len(p.hops)-i), "", "", "", ""})
			break
		}
		out := "—"
		if h.OutSrc != h.Src {
			out = h.OutSrc.String()
			if h.MappingCreated {
				out += " (new mapping)"
			}
		}
		to := h.Dst.String()
		if h.To != "" {
			to = h.InDst.String() + " (" + h.To + ")"
		}
		what := h.Verdict
		if h.Verdict != link.VerdictDelivered && h.NAT != "" {
			what += " by " + h.NAT
		}
		t.Rows = append(t.Rows, []string{fmt.Sprint(i + 1), fmt.Sprintf("%.1f", millis(h.Time.Sub(t0))), h.From, string(h.Payload),
			h.Src.String() + " → " + h.Dst.String(), out, to, what})
	}
	return t
}

func natConclusion(pr natParams, pairs []*natPair, ka [2]*natKeepalive, direct, relayed, agree, lost int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Of the %d pairs of NAT types, %d connected directly by hole punching and %d had to relay through the server; %d of %d cells are what RFC 4787's mapping and filtering rules predict. ",
		len(pairs), direct, relayed, agree, len(pairs))
	var failed []string
	for _, p := range pairs {
		if !p.direct() && natIndex(p.a) <= natIndex(p.b) {
			failed = append(failed, p.a.name+" ↔ "+p.b.name)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "The pairs that could not meet (in either order): %s", strings.Join(failed, ", "))
		if natAllSymmetricVsAPDF(pairs) {
			b.WriteString(" — each a symmetric NAT, whose punches leave from a port nobody was told of, facing a NAT that lets in only the exact endpoints its peer has sent to")
		}
		b.WriteString(". ")
	}
	for _, p := range pairs {
		if p.a.cfg == link.Symmetric && p.b.cfg == link.FullCone {
			fmt.Fprintf(&b, "With a symmetric NAT facing a full cone, the server saw A at %v but B heard A from %v: a new mapping, let in only because a full cone lets anyone in. ",
				p.observed[0], natAddrOrDash(p.heard[0]))
		}
	}
	if lost == 0 {
		b.WriteString("Every message arrived, directly or through the relay. ")
	} else {
		fmt.Fprintf(&b, "%d messages were lost. ", lost)
	}
	no, with := ka[0], ka[1]
	fmt.Fprintf(&b, "Idle for %v behind a NAT with a %v mapping timeout, the peer without keep-alives lost its mapping (%d expired) and the server's message was %s; ",
		no.idle, pr.timeout, no.stats.MappingsExpired, natVerdictWords(no.pushVerdict))
	fmt.Fprintf(&b, "when it spoke again the server saw it at %v instead of %v: a NAT rebinding. ", no.after, no.before)
	got := "did not receive the message"
	if with.pushReceived {
		got = "received the message"
	}
	fmt.Fprintf(&b, "The peer sending a keep-alive every %v (%d in all) had %d mappings expire, %s and was seen at %v afterwards.",
		pr.keepalive, with.keepalives, with.stats.MappingsExpired, got, with.after)
	return b.String()
}

// natAllSymmetricVsAPDF says whether every pair that relayed had a NAT mapping per destination on
// one side and one filtering by address and port on the other.
func natAllSymmetricVsAPDF(pairs []*natPair) bool {
	for _, p := range pairs {
		if p.direct() {
			continue
		}
		symA := p.a.cfg.Mapping != link.EndpointIndependent && p.b.cfg.Filtering == link.AddressAndPortDependent
		symB := p.b.cfg.Mapping != link.EndpointIndependent && p.a.cfg.Filtering == link.AddressAndPortDependent
		if !symA && !symB {
			return false
		}
	}
	return true
}

func natIndex(t natType) int {
	for i, u := range natTypes {
		if u.name == t.name {
			return i
		}
	}
	return -1
}

func natVerdictWords(v string) string {
	switch v {
	case link.VerdictDelivered:
		return "delivered"
	case "":
		return "never sent"
	}
	return "dropped (" + v + ")"
}

// natQUIC is a QUIC connection from behind a NAT whose mapping expires while the connection is
// idle: the next packet out gets a new external port, a NAT rebinding.
type natQUIC struct {
	idle          time.Duration
	before, after netip.AddrPort // the client's external endpoint before and after the idle time
	survived      bool           // the echo after the idle time came back on the same connection
	accepted      int            // connections the server accepted
	stats         link.NATStats
	err           error
}

func runNATQUIC(ctx context.Context, pr natParams, q *natQUIC) error {
	in, err := link.NewInternet(link.InternetConfig{Delay: pr.delay})
	if err != nil {
		return err
	}
	defer in.Close()
	cfg := link.PortRestricted
	cfg.Timeout = pr.timeout
	nat, err := in.AddNAT("NAT A", natPubA, cfg)
	if err != nil {
		return err
	}
	h, err := nat.AddHost("A", natPrivA)
	if err != nil {
		return err
	}
	srvHost, err := in.AddHost("server", natServerAddr)
	if err != nil {
		return err
	}
	serverTLS, err := transports.ServerTLSConfig("", "")
	if err != nil {
		return err
	}
	qconf := transports.QUICEchoConfig{}.QUICConfig() // no keep-alives: the connection idles
	ln, err := transports.ListenQUIC(ctx, srvHost, netip.AddrPortFrom(natServerAddr, 0).String(), transports.QUICOptions{TLS: serverTLS, Config: qconf})
	if err != nil {
		return err
	}
	var grp transports.Group
	defer grp.Close()
	grp.Add(ln.Close)
	var mu sync.Mutex
	grp.Go(func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			q.accepted++
			mu.Unlock()
			grp.Defer(func() { c.CloseWithError(0, "") })
			grp.Go(func() {
				for {
					s, err := c.AcceptStream(ctx)
					if err != nil {
						return
					}
					grp.Go(func() { io.Copy(s, s); s.Close() })
				}
			})
		}
	})
	qc, err := transports.DialQUIC(ctx, h, ln.Addr().String(), transports.QUICOptions{TLS: transports.ClientTLSConfig(serverTLS), Config: qconf})
	if err != nil {
		return err
	}
	grp.Add(qc.Close)
	s, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("quic open stream: %w", err)
	}
	echo := func(msg string) error {
		s.SetDeadline(time.Now().Add(3*time.Second + 8*pr.delay))
		if _, err := s.Write([]byte(msg)); err != nil {
			return err
		}
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(s, buf)
		return err
	}
	lastOut := func() netip.AddrPort {
		var a netip.AddrPort
		for _, hp := range in.Packets() {
			if hp.From == "A" {
				a = hp.OutSrc
			}
		}
		return a
	}
	if err := echo("before"); err != nil {
		return fmt.Errorf("quic echo before the idle time: %w", err)
	}
	q.before = lastOut()
	q.idle = 2 * pr.timeout
	select {
	case <-time.After(q.idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	q.survived = echo("after!") == nil
	q.after = lastOut()
	mu.Lock()
	defer mu.Unlock()
	q.stats = nat.Stats()
	return nil
}

func natQUICConclusion(q *natQUIC) string {
	if q.before == q.after {
		return fmt.Sprintf("The idle QUIC connection kept its external endpoint %v (%d mappings expired).", q.before, q.stats.MappingsExpired)
	}
	if q.survived && q.accepted == 1 {
		return fmt.Sprintf("A QUIC connection idle as long came back from %v instead of %v and its echo still arrived on the same connection (the server accepted %d): QUIC names connections by IDs, so it validates the new path and carries on, where TCP's four-tuple would be gone (the migration lesson compares them).",
			q.after, q.before, q.accepted)
	}
	return fmt.Sprintf("A QUIC connection idle as long came back from %v instead of %v, and its echo did not get through on the same connection (the server accepted %d).", q.after, q.before, q.accepted)
}
