package link

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// Config describes a link.
type Config struct {
	// Settings are the initial impairments of each direction.
	Settings
	// Seed seeds each direction's random source: the same seed and settings drop, duplicate
	// and jitter the same packets (by index) on every run. Queue drops also depend on timing.
	Seed int64
	// CongestionControl is netstack TCP's algorithm on both hosts: "cubic" (default) or "reno".
	CongestionControl string
	// MTU of both NICs, in bytes; default 1500.
	MTU int
	// LogSize is how many packets Packets keeps; default 10,000; negative keeps none.
	LogSize int
	// SnapLen is how many bytes of each packet the log (and WritePcapng) keeps; default 256.
	SnapLen int
	// TCPBufferBytes is the default TCP send and receive buffer; netstack's receive-buffer
	// auto-tuning may grow it up to 4×. Default 4 MiB.
	TCPBufferBytes int
}

// Defaults.
const (
	DefaultMTU            = 1500
	DefaultLogSize        = 10_000
	DefaultSnapLen        = 256
	DefaultTCPBufferBytes = 4 << 20
)

// ClientAddr and ServerAddr are the addresses of the two hosts: in the loopback range, so they
// can never be mistaken for (or routed to) a real network.
var (
	DefaultClientAddr = netip.AddrFrom4([4]byte{127, 0, 1, 1})
	DefaultServerAddr = netip.AddrFrom4([4]byte{127, 0, 1, 2})
)

// Link is one emulated wire between a client host and a server host, each a gVisor netstack.
type Link struct {
	cfg    Config
	hosts  [2]*Host // indexed by the Direction the host sends on
	nics   [2]*nic
	wires  [2]*wire
	done   chan struct{}
	wg     sync.WaitGroup
	closed bool // guarded by mu

	mu        sync.Mutex
	seq       uint64
	ring      []Packet
	ringNext  int
	ringFull  bool
	subs      map[int]func(Packet)
	nextSub   int
	captures  map[int]*pcapngWriter
	nextCap   int
	quicFlows map[[2]uint16]struct{}
}

// New builds a link and starts its wire.
func New(cfg Config) (*Link, error) {
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("link: MTU %d out of range [576, 65535]", cfg.MTU)
	}
	if cfg.LogSize == 0 {
		cfg.LogSize = DefaultLogSize
	}
	if cfg.SnapLen <= 0 {
		cfg.SnapLen = DefaultSnapLen
	}
	if cfg.TCPBufferBytes <= 0 {
		cfg.TCPBufferBytes = DefaultTCPBufferBytes
	}
	switch cfg.CongestionControl {
	case "":
		cfg.CongestionControl = "cubic"
	case "cubic", "reno":
	default:
		return nil, fmt.Errorf("link: unknown congestion control %q (want cubic or reno)", cfg.CongestionControl)
	}
	for _, dir := range Directions {
		if err := cfg.Settings.Get(dir).validate(); err != nil {
			return nil, err
		}
	}
	l := &Link{
		cfg:       cfg,
		done:      make(chan struct{}),
		subs:      map[int]func(Packet){},
		captures:  map[int]*pcapngWriter{},
		quicFlows: map[[2]uint16]struct{}{},
	}
	now := time.Now()
	for _, dir := range Directions {
		w := &wire{
			l:    l,
			dir:  dir,
			rng:  rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15*uint64(dir+1))),
			wake: make(chan struct{}, 1),
		}
		w.apply(cfg.Settings.Get(dir), now)
		l.wires[dir] = w
		l.nics[dir] = &nic{l: l, dir: dir, mtu: uint32(cfg.MTU)}
	}
	addrs := [2]netip.Addr{DefaultClientAddr, DefaultServerAddr}
	names := [2]string{"client", "server"}
	for _, dir := range Directions {
		h, err := newHost(names[dir], addrs[dir], l.nics[dir], cfg)
		if err != nil {
			for _, h := range l.hosts {
				if h != nil {
					h.s.Close()
					h.s.Wait()
				}
			}
			return nil, err
		}
		l.hosts[dir] = h
	}
	for _, w := range l.wires {
		l.wg.Add(1)
		go w.run()
	}
	return l, nil
}

func newHost(name string, addr netip.Addr, n *nic, cfg Config) (*Host, error) {
	s := stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{
			ipv4.NewProtocolWithOptions(ipv4.Options{AllowExternalLoopbackTraffic: true}),
		},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
		HandleLocal:        true,
	})
	fail := func(what string, terr tcpip.Error) (*Host, error) {
		s.Close()
		s.Wait()
		return nil, fmt.Errorf("link: %s host: %s: %s", name, what, terr)
	}
	sack := tcpip.TCPSACKEnabled(true)
	if terr := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); terr != nil {
		return fail("enable SACK", terr)
	}
	cc := tcpip.CongestionControlOption(cfg.CongestionControl)
	if terr := s.SetTransportProtocolOption(tcp.ProtocolNumber, &cc); terr != nil {
		return fail("congestion control", terr)
	}
	buf := cfg.TCPBufferBytes
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: buf, Max: 4 * buf}
	if terr := s.SetTransportProtocolOption(tcp.ProtocolNumber, &snd); terr != nil {
		return fail("send buffer", terr)
	}
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: buf, Max: 4 * buf}
	if terr := s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv); terr != nil {
		return fail("receive buffer", terr)
	}
	mod := tcpip.TCPModerateReceiveBufferOption(true)
	if terr := s.SetTransportProtocolOption(tcp.ProtocolNumber, &mod); terr != nil {
		return fail("receive buffer moderation", terr)
	}
	if terr := s.CreateNIC(1, n); terr != nil {
		return fail("create NIC", terr)
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(addr.As4()), PrefixLen: 24},
	}
	if terr := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); terr != nil {
		return fail("add address", terr)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	return &Host{name: name, s: s, addr: addr, mss: uint32(cfg.MTU - 52)}, nil
}

// Client is the client host's network.
func (l *Link) Client() *Host { return l.hosts[ClientToServer] }

// Server is the server host's network.
func (l *Link) Server() *Host { return l.hosts[ServerToClient] }

// ClientAddr is the client host's IPv4 address.
func (l *Link) ClientAddr() netip.Addr { return l.hosts[ClientToServer].addr }

// ServerAddr is the server host's IPv4 address.
func (l *Link) ServerAddr() netip.Addr { return l.hosts[ServerToClient].addr }

// Close stops both hosts (closing every socket on them) and the wire. Packets still in flight
// are discarded.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("link: already closed")
	}
	l.closed = true
	l.mu.Unlock()
	for _, h := range l.hosts {
		h.s.Close()
	}
	for _, h := range l.hosts {
		h.s.Wait()
	}
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.wires {
		for _, it := range w.pending {
			it.v.Release()
		}
		w.pending = nil
	}
	var errs []error
	for id, c := range l.captures {
		errs = append(errs, c.flush())
		delete(l.captures, id)
	}
	return errors.Join(errs...)
}

// SetImpairment changes one direction's impairment, effective from the next packet. Packets
// already on the wire keep their fate and delivery time.
func (l *Link) SetImpairment(dir Direction, imp Impairment) error {
	if !dir.valid() {
		return fmt.Errorf("link: bad direction %d", dir)
	}
	if err := imp.validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wires[dir].apply(imp, time.Now())
	return nil
}

// Apply sets both directions at once (e.g. a Preset).
func (l *Link) Apply(s Settings) error {
	for _, dir := range Directions {
		if err := s.Get(dir).validate(); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for _, dir := range Directions {
		l.wires[dir].apply(s.Get(dir), now)
	}
	return nil
}

// Impairment returns one direction's current impairment, as last set.
func (l *Link) Impairment(dir Direction) Impairment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wires[dir].imp
}

// Counts returns a direction's counters.
func (l *Link) Counts(dir Direction) Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.wires[dir].counts
	c.Dropped = make(map[Rule]uint64, len(Rules))
	for r, n := range l.wires[dir].dropped {
		c.Dropped[r] = n
	}
	return c
}

// Packets returns the logged packets, oldest first: the last Config.LogSize packets that
// entered the wire, in either direction.
func (l *Link) Packets() []Packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ringFull {
		return append([]Packet(nil), l.ring[:l.ringNext]...)
	}
	out := make([]Packet, 0, len(l.ring))
	out = append(out, l.ring[l.ringNext:]...)
	return append(out, l.ring[:l.ringNext]...)
}

// OnPacket calls fn for every packet that enters the wire, from the sending stack's goroutine,
// after its fate is decided and before the other host can receive it; fn must be quick and must
// not call back into the Link's setters synchronously. The returned func unsubscribes.
func (l *Link) OnPacket(fn func(Packet)) (cancel func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.nextSub
	l.nextSub++
	l.subs[id] = fn
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.subs, id)
	}
}

// WritePcapng writes the logged packets (see Packets) as a pcapng capture: one interface per
// direction (0 = c2s, 1 = s2c), link type raw IPv4, each packet cut to Config.SnapLen bytes, its
// fate in the packet comment. Dropped packets are included: the capture shows what each host
// sent.
func (l *Link) WritePcapng(w io.Writer) error {
	pkts := l.Packets()
	p := newPcapngWriter(w, l.cfg.SnapLen)
	for i := range pkts {
		p.packet(&pkts[i], pkts[i].Data)
	}
	if err := p.flush(); err != nil {
		return fmt.Errorf("link pcapng: %w", err)
	}
	return nil
}

// CapturePcapng streams every packet from now on, whole, to w as pcapng (see WritePcapng for
// the layout). Writes happen on the wire's hot path, so w should be fast (a file, a buffer).
// stop flushes and detaches the capture; Close also flushes it.
func (l *Link) CapturePcapng(w io.Writer) (stop func() error, err error) {
	p := newPcapngWriter(w, 65535)
	if err := p.flush(); err != nil {
		return nil, fmt.Errorf("link pcapng: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("link pcapng: link closed")
	}
	id := l.nextCap
	l.nextCap++
	l.captures[id] = p
	return func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, ok := l.captures[id]; !ok {
			return nil
		}
		delete(l.captures, id)
		if err := p.flush(); err != nil {
			return fmt.Errorf("link pcapng: %w", err)
		}
		return nil
	}, nil
}

// wire is one direction: it decides each packet's fate and delivers survivors on time.
type wire struct {
	l   *Link
	dir Direction
	rng *rand.Rand

	// guarded by l.mu
	imp            Impairment
	dropAt         uint64
	blackholeUntil time.Time
	index          uint64
	geBad          bool
	busyUntil      time.Time
	queue          []queued
	queueBytes     int
	lastDeliver    time.Time
	pending        pendingHeap
	counts         Counts
	dropped        map[Rule]uint64

	wake chan struct{}
}

type queued struct {
	done time.Time
	size int
}

type pendingPacket struct {
	at  time.Time
	seq uint64
	v   *buffer.View
}

type pendingHeap []pendingPacket

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(pendingPacket)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = pendingPacket{}
	*h = old[:len(old)-1]
	return x
}

// apply installs an impairment; l.mu held.
func (w *wire) apply(imp Impairment, now time.Time) {
	w.imp = imp
	w.dropAt = 0
	if imp.DropNth > 0 {
		w.dropAt = w.index + imp.DropNth
	}
	w.blackholeUntil = time.Time{}
	if imp.BlackholeFor > 0 {
		w.blackholeUntil = now.Add(imp.BlackholeFor)
	}
	if imp.RateBitsPerSec == 0 {
		w.queue, w.queueBytes, w.busyUntil = nil, 0, time.Time{}
	}
	if w.dropped == nil {
		w.dropped = map[Rule]uint64{}
	}
}

// run delivers delayed packets when they are due.
func (w *wire) run() {
	defer w.l.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*buffer.View
	for {
		w.l.mu.Lock()
		now := time.Now()
		due = due[:0]
		for len(w.pending) > 0 && !w.pending[0].at.After(now) {
			due = append(due, heap.Pop(&w.pending).(pendingPacket).v)
		}
		wait := time.Duration(-1)
		if len(w.pending) > 0 {
			wait = w.pending[0].at.Sub(now)
		}
		w.l.mu.Unlock()
		peer := w.l.nics[1-w.dir]
		for i, v := range due {
			peer.deliver(v)
			due[i] = nil
		}
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-w.l.done:
			return
		case <-w.wake:
		case <-timer.C:
		}
	}
}

// send is the wire's entry: a packet from the host that sends on w.dir. It owns v.
func (l *Link) send(dir Direction, v *buffer.View) {
	data := v.AsSlice()
	now := time.Now()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		v.Release()
		return
	}
	w := l.wires[dir]
	w.index++
	// Draw the same number of random numbers for every packet, whatever the settings, so
	// packet k's fate depends only on the seed, k and the settings that apply to it.
	var u [5]float64
	for i := range u {
		u[i] = w.rng.Float64()
	}
	imp := w.imp
	l.seq++
	pk := Packet{Seq: l.seq, Index: w.index, Time: now, Dir: dir, Size: len(data), Fate: Delivered}

	burstLoss := false
	if imp.Burst.enabled() {
		if w.geBad {
			if u[1] < imp.Burst.R {
				w.geBad = false
			}
		} else if u[1] < imp.Burst.P {
			w.geBad = true
		}
		p := imp.Burst.LossGood
		if w.geBad {
			p = imp.Burst.LossBad
		}
		burstLoss = u[2] < p
	} else {
		w.geBad = false
	}

	switch {
	case imp.Blackhole || now.Before(w.blackholeUntil):
		pk.Rule = RuleBlackhole
	case imp.MTU > 0 && len(data) > imp.MTU:
		pk.Rule = RuleMTU
	case w.dropAt != 0 && w.index == w.dropAt:
		pk.Rule = RuleDropNth
	case burstLoss:
		pk.Rule = RuleBurst
	case u[0] < imp.Loss:
		pk.Rule = RuleLoss
	}

	at := now
	if pk.Rule == "" && imp.RateBitsPerSec > 0 {
		for len(w.queue) > 0 && !w.queue[0].done.After(now) {
			w.queueBytes -= w.queue[0].size
			w.queue = w.queue[1:]
		}
		limP, limB := imp.QueuePackets, imp.QueueBytes
		if limP == 0 && limB == 0 {
			limP = DefaultQueuePackets
		}
		if (limP > 0 && len(w.queue) >= limP) || (limB > 0 && w.queueBytes+len(data) > limB) {
			pk.Rule = RuleQueue
		} else {
			start := now
			if w.busyUntil.After(now) {
				start = w.busyUntil
			}
			tx := time.Duration(int64(len(data)) * 8 * int64(time.Second) / imp.RateBitsPerSec)
			w.busyUntil = start.Add(tx)
			w.queue = append(w.queue, queued{done: w.busyUntil, size: len(data)})
			w.queueBytes += len(data)
			pk.Queued = start.Sub(now)
			at = w.busyUntil
		}
	}

	w.counts.Sent++
	w.counts.SentBytes += uint64(len(data))
	inline := false
	var dup *buffer.View
	if pk.Rule != "" {
		pk.Fate = Dropped
		w.dropped[pk.Rule]++
	} else {
		w.counts.Delivered++
		d := imp.Delay
		if imp.Jitter > 0 {
			d += time.Duration((u[4]*2 - 1) * float64(imp.Jitter))
			if d < 0 {
				d = 0
			}
		}
		at = at.Add(d)
		if !imp.Reorder && at.Before(w.lastDeliver) {
			at = w.lastDeliver
		}
		if at.After(w.lastDeliver) {
			w.lastDeliver = at
		}
		pk.Latency = at.Sub(now)
		if u[3] < imp.Duplicate {
			pk.Duplicated = true
			w.counts.Duplicated++
			dup = v.Clone()
		}
		if !at.After(now) && len(w.pending) == 0 {
			inline = true
		} else {
			heap.Push(&w.pending, pendingPacket{at: at, seq: pk.Seq, v: v})
			if dup != nil {
				heap.Push(&w.pending, pendingPacket{at: at, seq: pk.Seq, v: dup})
				dup = nil
			}
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}

	pk.Decoded = decode(data)
	l.classifyQUIC(&pk.Decoded)
	for _, c := range l.captures {
		c.packet(&pk, data)
	}
	if l.cfg.LogSize > 0 {
		n := min(len(data), l.cfg.SnapLen)
		pk.Data = append(make([]byte, 0, n), data[:n]...)
		if len(l.ring) < l.cfg.LogSize {
			l.ring = append(l.ring, pk)
			l.ringNext = len(l.ring) % l.cfg.LogSize
			l.ringFull = len(l.ring) == l.cfg.LogSize
		} else {
			l.ring[l.ringNext] = pk
			l.ringNext = (l.ringNext + 1) % l.cfg.LogSize
		}
	}
	var subs []func(Packet)
	if len(l.subs) > 0 {
		subs = make([]func(Packet), 0, len(l.subs))
		for _, fn := range l.subs {
			subs = append(subs, fn)
		}
	}
	l.mu.Unlock()

	// Subscribers hear of a packet before the peer can act on it, so an observer never sees an
	// answer before its question, and whoever waits for an answer has had its question observed.
	for _, fn := range subs {
		fn(pk)
	}
	if pk.Fate == Dropped {
		v.Release()
	} else if inline {
		peer := l.nics[1-dir]
		peer.deliver(v)
		if dup != nil {
			peer.deliver(dup)
		}
	}
}

// classifyQUIC keeps "short header" only for flows that have carried a QUIC long header; l.mu
// held.
func (l *Link) classifyQUIC(d *Decoded) {
	if d.Proto != "udp" || d.QUIC == "" {
		return
	}
	a, b := d.Src.Port(), d.Dst.Port()
	if a > b {
		a, b = b, a
	}
	key := [2]uint16{a, b}
	if d.QUIC == "short header" {
		if _, ok := l.quicFlows[key]; !ok {
			d.QUIC = ""
		}
		return
	}
	if len(l.quicFlows) >= 4096 {
		clear(l.quicFlows)
	}
	l.quicFlows[key] = struct{}{}
}

// nic is a host's link endpoint: what the host's stack writes goes onto the wire.
type nic struct {
	l   *Link
	dir Direction // the direction this NIC sends on

	mu         sync.RWMutex
	dispatcher stack.NetworkDispatcher
	mtu        uint32
	linkAddr   tcpip.LinkAddress
}

var _ stack.LinkEndpoint = (*nic)(nil)

func (n *nic) deliver(v *buffer.View) {
	n.mu.RLock()
	d := n.dispatcher
	n.mu.RUnlock()
	if d == nil {
		v.Release()
		return
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithView(v)})
	d.DeliverNetworkPacket(header.IPv4ProtocolNumber, pkt)
	pkt.DecRef()
}

// WritePackets implements stack.LinkEndpoint.
func (n *nic) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	for _, pkt := range pkts.AsSlice() {
		n.l.send(n.dir, pkt.ToView())
	}
	return pkts.Len(), nil
}

// Attach implements stack.LinkEndpoint.
func (n *nic) Attach(d stack.NetworkDispatcher) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dispatcher = d
}

// IsAttached implements stack.LinkEndpoint.
func (n *nic) IsAttached() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.dispatcher != nil
}

// Wait implements stack.LinkEndpoint.
func (*nic) Wait() {}

// MTU implements stack.LinkEndpoint.
func (n *nic) MTU() uint32 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.mtu
}

// SetMTU implements stack.LinkEndpoint.
func (n *nic) SetMTU(mtu uint32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mtu = mtu
}

// Capabilities implements stack.LinkEndpoint.
func (*nic) Capabilities() stack.LinkEndpointCapabilities { return 0 }

// MaxHeaderLength implements stack.LinkEndpoint.
func (*nic) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.LinkEndpoint.
func (n *nic) LinkAddress() tcpip.LinkAddress {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.linkAddr
}

// SetLinkAddress implements stack.LinkEndpoint.
func (n *nic) SetLinkAddress(a tcpip.LinkAddress) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.linkAddr = a
}

// ARPHardwareType implements stack.LinkEndpoint.
func (*nic) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.LinkEndpoint.
func (*nic) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.LinkEndpoint.
func (*nic) ParseHeader(*stack.PacketBuffer) bool { return true }

// Close implements stack.LinkEndpoint.
func (*nic) Close() {}

// SetOnCloseAction implements stack.LinkEndpoint.
func (*nic) SetOnCloseAction(func()) {}
