package link

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// An Internet is a small routed network of netstack hosts, some on the public side and some
// behind NATs, for NAT traversal: each host is a Host as on a Link (its own gVisor netstack, real
// UDP and TCP sockets), and a NAT is a packet-rewriting hop between its private hosts and the
// public side, behaving as RFC 4787 describes:
//
//   - Mapping: which outbound packets share an external port. Endpoint-independent mapping
//     (EIM) reuses the internal endpoint's one mapping for every destination; address-dependent
//     (ADM) makes one per destination address; address-and-port-dependent (APDM) one per
//     destination address and port. External ports are handed out in order from
//     NATConfig.FirstPort.
//   - Filtering: which inbound packets to an external port get in. Endpoint-independent (EIF)
//     lets in anyone; address-dependent (ADF) only packets from an address the internal endpoint
//     has sent to through that mapping; address-and-port-dependent (APDF) only from an address
//     and port it has sent to.
//   - Mapping timeout: a mapping no outbound packet has used for NATConfig.Timeout is removed
//     (outbound refresh, RFC 4787 REQ-6; inbound packets do not refresh it), and packets to its
//     port are dropped from then on.
//   - Hairpinning: a packet from a private host to an external endpoint of its own NAT is turned
//     back in, with the sender's external endpoint as source (REQ-9), or dropped when off.
//
// The NAT translates TCP and UDP over IPv4 (addresses and ports rewritten with incremental
// checksum updates) and drops anything else. Every hop is logged (HopPacket): what the sender
// wrote, what each NAT made of it, and who received it. The hosts' addresses are the
// documentation and private ranges; the whole network lives in the process and reaches no real
// one.
type Internet struct {
	cfg    Config
	delay  time.Duration
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards everything below, and every NAT's state
	public  map[netip.Addr]*inetHost
	nats    map[netip.Addr]*NAT
	hosts   []*inetHost
	log     []HopPacket
	logMax  int
	seq     uint64
	evicted uint64
	closed  bool
}

// InternetConfig configures an Internet.
type InternetConfig struct {
	// Delay is each packet's one-way delay from its sender to its receiver, whatever the hops.
	Delay time.Duration
	// LogSize is how many packets Packets keeps, the oldest dropped first; default 10,000.
	LogSize int
}

// Behavior is one of RFC 4787's three dependences, for a NAT's mapping and for its filtering.
type Behavior int

// The behaviours.
const (
	EndpointIndependent     Behavior = iota // same mapping / anyone may send
	AddressDependent                        // per destination address
	AddressAndPortDependent                 // per destination address and port
)

func (b Behavior) String() string {
	switch b {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressAndPortDependent:
		return "address-and-port-dependent"
	}
	return fmt.Sprintf("Behavior(%d)", int(b))
}

// NATConfig is a NAT's behaviour.
type NATConfig struct {
	Mapping, Filtering Behavior
	// Timeout removes a mapping idle (no outbound packet) for this long; default 2 minutes
	// (RFC 4787 REQ-5's least).
	Timeout time.Duration
	// Hairpinning turns packets between two private hosts' external endpoints back in.
	Hairpinning bool
	// FirstPort is the first external port handed out; default 20000.
	FirstPort uint16
}

// DefaultNATTimeout is NATConfig.Timeout's default.
const DefaultNATTimeout = 2 * time.Minute

// The classic NAT types (RFC 3489's names), in RFC 4787's terms.
var (
	FullCone       = NATConfig{Mapping: EndpointIndependent, Filtering: EndpointIndependent}
	RestrictedCone = NATConfig{Mapping: EndpointIndependent, Filtering: AddressDependent}
	PortRestricted = NATConfig{Mapping: EndpointIndependent, Filtering: AddressAndPortDependent}
	Symmetric      = NATConfig{Mapping: AddressAndPortDependent, Filtering: AddressAndPortDependent}
)

// NATStats are a NAT's counters.
type NATStats struct {
	MappingsCreated uint64 // mappings made by an outbound packet
	MappingsExpired uint64 // mappings removed after Timeout without an outbound packet
	Outbound        uint64 // packets translated on the way out
	Inbound         uint64 // packets translated on the way in and delivered
	Filtered        uint64 // inbound packets to a live mapping that its filtering refused
	NoMapping       uint64 // inbound packets to an external port with no (live) mapping
	Hairpinned      uint64 // packets turned back in to a private host
	HairpinDropped  uint64 // packets to its own external address dropped, hairpinning off
	Unsupported     uint64 // packets neither TCP nor UDP (or fragments), dropped
}

// NATMapping is one live mapping.
type NATMapping struct {
	Proto    string         // "udp" or "tcp"
	Internal netip.AddrPort // the private host's endpoint
	External netip.AddrPort // the NAT's
	// Remote is what the mapping is specific to: invalid for endpoint-independent mapping, the
	// destination address (port 0) for address-dependent, the destination endpoint otherwise.
	Remote netip.AddrPort
	// Permitted are the remote endpoints the internal endpoint has sent to through it, which
	// filtering checks.
	Permitted []netip.AddrPort
	LastOut   time.Time // the last outbound packet, from which Timeout counts
}

// NAT is one NAT of an Internet, with its public address.
type NAT struct {
	in   *Internet
	name string
	addr netip.Addr
	cfg  NATConfig

	// guarded by in.mu
	private  map[netip.Addr]*inetHost
	byKey    map[natMapKey]*natMapping
	byExt    map[natExtKey]*natMapping
	nextPort uint16
	stats    NATStats
}

type natMapKey struct {
	proto    uint8
	internal netip.AddrPort
	remote   netip.AddrPort // per Mapping: zero, address only, or address and port
}

type natExtKey struct {
	proto uint8
	port  uint16
}

type natMapping struct {
	key       natMapKey
	external  uint16
	permitted map[netip.AddrPort]struct{}
	lastOut   time.Time
}

// inetHost is one host of an Internet and its NIC.
type inetHost struct {
	h     *Host
	ep    *channel.Endpoint
	nat   *NAT // nil on the public side
	inbox chan inetDelivery
}

type inetDelivery struct {
	at   time.Time
	data []byte
}

// HopPacket is one packet an Internet carried, as its sender wrote it and as its receiver got it.
type HopPacket struct {
	Seq  uint64
	Time time.Time // when the sender wrote it
	From string    // the sending host's name
	To   string    // the receiving host's name; "" when it was dropped
	// Proto is "udp", "tcp" or "" (anything else).
	Proto string
	// Src and Dst are the addresses as the sender wrote them; OutSrc the source after the
	// sender's NAT (= Src on the public side); InDst the destination after the receiver's NAT
	// (= Dst when the receiver is public).
	Src, Dst, OutSrc, InDst netip.AddrPort
	// Payload is the transport payload's first bytes (up to 64); Size is the IP packet's length.
	Payload []byte
	Size    int
	// Verdict says what became of it: "delivered", "filtered" (by the receiving NAT's
	// filtering), "no mapping", "hairpin off", "no route", "unsupported", "queue full".
	Verdict string
	// NAT is the NAT that dropped it, or that translated it inbound; MappingCreated is set when
	// the sender's NAT made a new mapping for it.
	NAT            string
	MappingCreated bool
}

// Packet verdicts (HopPacket.Verdict).
const (
	VerdictDelivered   = "delivered"
	VerdictFiltered    = "filtered"
	VerdictNoMapping   = "no mapping"
	VerdictHairpinOff  = "hairpin off"
	VerdictNoRoute     = "no route"
	VerdictUnsupported = "unsupported"
	VerdictQueueFull   = "queue full"
)

const inetInbox = 1024

// NewInternet makes an empty Internet.
func NewInternet(cfg InternetConfig) (*Internet, error) {
	if cfg.Delay < 0 {
		return nil, fmt.Errorf("link internet: delay %v is negative", cfg.Delay)
	}
	if cfg.LogSize == 0 {
		cfg.LogSize = DefaultLogSize
	}
	lc, err := Config{}.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Internet{cfg: lc, delay: cfg.Delay, ctx: ctx, cancel: cancel, logMax: cfg.LogSize,
		public: map[netip.Addr]*inetHost{}, nats: map[netip.Addr]*NAT{}}, nil
}

// AddHost adds a host on the public side with address addr.
func (in *Internet) AddHost(name string, addr netip.Addr) (*Host, error) {
	return in.addHost(name, addr, nil)
}

// AddNAT adds a NAT with public address addr.
func (in *Internet) AddNAT(name string, addr netip.Addr, cfg NATConfig) (*NAT, error) {
	if !addr.Is4() {
		return nil, fmt.Errorf("link internet: NAT address %v is not IPv4", addr)
	}
	for _, b := range []Behavior{cfg.Mapping, cfg.Filtering} {
		if b < EndpointIndependent || b > AddressAndPortDependent {
			return nil, fmt.Errorf("link internet: NAT %s: bad behaviour %d", name, int(b))
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultNATTimeout
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("link internet: NAT %s: timeout %v is negative", name, cfg.Timeout)
	}
	if cfg.FirstPort == 0 {
		cfg.FirstPort = 20000
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.public[addr] != nil || in.nats[addr] != nil {
		return nil, fmt.Errorf("link internet: address %v taken", addr)
	}
	n := &NAT{in: in, name: name, addr: addr, cfg: cfg, nextPort: cfg.FirstPort,
		private: map[netip.Addr]*inetHost{}, byKey: map[natMapKey]*natMapping{}, byExt: map[natExtKey]*natMapping{}}
	in.nats[addr] = n
	return n, nil
}

// AddHost adds a private host behind n with address addr (unique behind n).
func (n *NAT) AddHost(name string, addr netip.Addr) (*Host, error) {
	return n.in.addHost(name, addr, n)
}

// Name is the NAT's name.
func (n *NAT) Name() string { return n.name }

// Addr is the NAT's public address.
func (n *NAT) Addr() netip.Addr { return n.addr }

// Config is the NAT's behaviour, defaults filled in.
func (n *NAT) Config() NATConfig { return n.cfg }

// Stats returns the NAT's counters.
func (n *NAT) Stats() NATStats {
	n.in.mu.Lock()
	defer n.in.mu.Unlock()
	return n.stats
}

// Mappings returns the NAT's live mappings (expiring the idle ones first), by external port.
func (n *NAT) Mappings() []NATMapping {
	n.in.mu.Lock()
	defer n.in.mu.Unlock()
	n.expire(time.Now())
	var out []NATMapping
	for _, m := range n.byExt {
		nm := NATMapping{Proto: protoName(m.key.proto), Internal: m.key.internal,
			External: netip.AddrPortFrom(n.addr, m.external), LastOut: m.lastOut}
		if n.cfg.Mapping != EndpointIndependent {
			nm.Remote = m.key.remote
		}
		for p := range m.permitted {
			nm.Permitted = append(nm.Permitted, p)
		}
		slices.SortFunc(nm.Permitted, func(a, b netip.AddrPort) int { return a.Compare(b) })
		out = append(out, nm)
	}
	slices.SortFunc(out, func(a, b NATMapping) int { return a.External.Compare(b.External) })
	return out
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	}
	return ""
}

func (in *Internet) addHost(name string, addr netip.Addr, n *NAT) (*Host, error) {
	if !addr.Is4() {
		return nil, fmt.Errorf("link internet: host address %v is not IPv4", addr)
	}
	ep := channel.New(inetInbox, uint32(in.cfg.MTU), "")
	h, err := newHost(name, addr, ep, in.cfg)
	if err != nil {
		return nil, err
	}
	ih := &inetHost{h: h, ep: ep, nat: n, inbox: make(chan inetDelivery, inetInbox)}
	in.mu.Lock()
	var refuse error
	switch {
	case in.closed:
		refuse = errors.New("link internet: closed")
	case n == nil && (in.public[addr] != nil || in.nats[addr] != nil):
		refuse = fmt.Errorf("link internet: address %v taken", addr)
	case n != nil && n.private[addr] != nil:
		refuse = fmt.Errorf("link internet: address %v taken behind %s", addr, n.name)
	}
	if refuse != nil {
		in.mu.Unlock()
		h.s.Close()
		h.s.Wait()
		return nil, refuse
	}
	if n != nil {
		n.private[addr] = ih
	} else {
		in.public[addr] = ih
	}
	in.hosts = append(in.hosts, ih)
	in.wg.Add(2)
	in.mu.Unlock()
	go in.pump(ih)
	go in.deliverLoop(ih)
	return h, nil
}

// pump takes what a host's stack writes and routes it.
func (in *Internet) pump(ih *inetHost) {
	defer in.wg.Done()
	for {
		pkt := ih.ep.ReadContext(in.ctx)
		if pkt == nil {
			return
		}
		v := pkt.ToView()
		data := append([]byte(nil), v.AsSlice()...)
		v.Release()
		pkt.DecRef()
		in.route(ih, data)
	}
}

// deliverLoop hands a host its packets when they are due, in order.
func (in *Internet) deliverLoop(ih *inetHost) {
	defer in.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var d inetDelivery
		select {
		case <-in.ctx.Done():
			return
		case d = <-ih.inbox:
		}
		if wait := time.Until(d.at); wait > 0 {
			t.Reset(wait)
			select {
			case <-in.ctx.Done():
				return
			case <-t.C:
			}
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(d.data)})
		ih.ep.InjectInbound(header.IPv4ProtocolNumber, pkt)
		pkt.DecRef()
	}
}

// endpoints reads an IPv4 TCP or UDP packet's addresses; ok false for anything else.
func endpoints(b []byte) (proto uint8, src, dst netip.AddrPort, payload []byte, ok bool) {
	proto, th, ok := transportPorts(b)
	if !ok {
		return 0, src, dst, nil, false
	}
	ip := header.IPv4(b)
	src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.SourceAddressSlice())), th.SourcePort())
	dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.DestinationAddressSlice())), th.DestinationPort())
	ihl := int(ip.HeaderLength())
	switch proto {
	case 17:
		payload = b[ihl+header.UDPMinimumSize:]
	case 6:
		if off := ihl + int(header.TCP(b[ihl:]).DataOffset()); off <= len(b) {
			payload = b[off:]
		}
	}
	return proto, src, dst, payload, true
}

// rewrite sets a packet's source (src) or destination endpoint, updating the IPv4 checksum and
// the transport checksum (its pseudo-header holds the addresses).
func rewrite(b []byte, src bool, to netip.AddrPort) {
	ip := header.IPv4(b)
	_, th, _ := transportPorts(b)
	addr := tcpip.AddrFrom4(to.Addr().As4())
	if src {
		old := ip.SourceAddress()
		ip.SetSourceAddressWithChecksumUpdate(addr)
		th.UpdateChecksumPseudoHeaderAddress(old, addr, true)
		th.SetSourcePortWithChecksumUpdate(to.Port())
		return
	}
	old := ip.DestinationAddress()
	ip.SetDestinationAddressWithChecksumUpdate(addr)
	th.UpdateChecksumPseudoHeaderAddress(old, addr, true)
	th.SetDestinationPortWithChecksumUpdate(to.Port())
}

// route takes one packet from host ih across the network; it owns b.
func (in *Internet) route(from *inetHost, b []byte) {
	now := time.Now()
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	rec := HopPacket{Time: now, From: from.h.name, Size: len(b)}
	if to, at := in.routeLocked(now, from, b, &rec); to != nil {
		select {
		case to.inbox <- inetDelivery{at: at, data: b}:
		default:
			rec.Verdict, rec.To = VerdictQueueFull, ""
		}
	}
	in.logLocked(&rec)
	in.mu.Unlock()
}

func (in *Internet) routeLocked(now time.Time, from *inetHost, b []byte, rec *HopPacket) (*inetHost, time.Time) {
	proto, src, dst, payload, ok := endpoints(b)
	if !ok {
		rec.Verdict = VerdictUnsupported
		if from.nat != nil {
			from.nat.stats.Unsupported++
			rec.NAT = from.nat.name
		}
		return nil, now
	}
	rec.Proto, rec.Src, rec.Dst, rec.OutSrc, rec.InDst = protoName(proto), src, dst, src, dst
	rec.Payload = append([]byte(nil), payload[:min(len(payload), 64)]...)
	at := now.Add(in.delay)
	if n := from.nat; n != nil {
		if peer := n.private[dst.Addr()]; peer != nil { // the same private network
			rec.Verdict, rec.To = VerdictDelivered, peer.h.name
			return peer, at
		}
		ext, created := n.outbound(now, proto, src, dst)
		rewrite(b, true, ext)
		rec.OutSrc, rec.MappingCreated = ext, created
	}
	if h := in.public[dst.Addr()]; h != nil {
		rec.Verdict, rec.To = VerdictDelivered, h.h.name
		return h, at
	}
	n := in.nats[dst.Addr()]
	if n == nil {
		rec.Verdict = VerdictNoRoute
		return nil, now
	}
	rec.NAT = n.name
	hairpin := from.nat == n
	if hairpin && !n.cfg.Hairpinning {
		n.stats.HairpinDropped++
		rec.Verdict = VerdictHairpinOff
		return nil, now
	}
	internal, verdict := n.inbound(now, proto, rec.OutSrc, dst.Port())
	if verdict != VerdictDelivered {
		rec.Verdict = verdict
		return nil, now
	}
	h := n.private[internal.Addr()]
	if h == nil {
		rec.Verdict = VerdictNoRoute
		return nil, now
	}
	if hairpin {
		n.stats.Hairpinned++
	}
	rewrite(b, false, internal)
	rec.InDst, rec.Verdict, rec.To = internal, VerdictDelivered, h.h.name
	return h, at
}

// outbound finds or makes the mapping for a packet from internal to remote and refreshes it;
// in.mu held.
func (n *NAT) outbound(now time.Time, proto uint8, internal, remote netip.AddrPort) (netip.AddrPort, bool) {
	n.expire(now)
	k := natMapKey{proto: proto, internal: internal}
	switch n.cfg.Mapping {
	case AddressDependent:
		k.remote = netip.AddrPortFrom(remote.Addr(), 0)
	case AddressAndPortDependent:
		k.remote = remote
	}
	m, ok := n.byKey[k]
	if !ok {
		port := n.allocPort(proto)
		m = &natMapping{key: k, external: port, permitted: map[netip.AddrPort]struct{}{}}
		n.byKey[k] = m
		n.byExt[natExtKey{proto, port}] = m
		n.stats.MappingsCreated++
	}
	m.lastOut = now
	m.permitted[remote] = struct{}{}
	n.stats.Outbound++
	return netip.AddrPortFrom(n.addr, m.external), !ok
}

// allocPort hands out the next free external port; in.mu held.
func (n *NAT) allocPort(proto uint8) uint16 {
	for {
		p := n.nextPort
		n.nextPort++
		if n.nextPort == 0 {
			n.nextPort = n.cfg.FirstPort
		}
		if _, used := n.byExt[natExtKey{proto, p}]; !used && p != 0 {
			return p
		}
	}
}

// inbound checks a packet from remote to external port against the mapping there and its
// filtering, and returns the internal endpoint to deliver to; in.mu held.
func (n *NAT) inbound(now time.Time, proto uint8, remote netip.AddrPort, port uint16) (netip.AddrPort, string) {
	n.expire(now)
	m := n.byExt[natExtKey{proto, port}]
	if m == nil {
		n.stats.NoMapping++
		return netip.AddrPort{}, VerdictNoMapping
	}
	allowed := false
	switch n.cfg.Filtering {
	case EndpointIndependent:
		allowed = true
	case AddressDependent:
		for p := range m.permitted {
			if p.Addr() == remote.Addr() {
				allowed = true
				break
			}
		}
	case AddressAndPortDependent:
		_, allowed = m.permitted[remote]
	}
	if !allowed {
		n.stats.Filtered++
		return netip.AddrPort{}, VerdictFiltered
	}
	n.stats.Inbound++
	return m.key.internal, VerdictDelivered
}

// expire removes the mappings idle for longer than the timeout; in.mu held.
func (n *NAT) expire(now time.Time) {
	for k, m := range n.byKey {
		if now.Sub(m.lastOut) > n.cfg.Timeout {
			delete(n.byKey, k)
			delete(n.byExt, natExtKey{k.proto, m.external})
			n.stats.MappingsExpired++
		}
	}
}

func (in *Internet) logLocked(rec *HopPacket) {
	if in.logMax < 0 {
		return
	}
	in.seq++
	rec.Seq = in.seq
	if len(in.log) >= in.logMax {
		copy(in.log, in.log[1:])
		in.log = in.log[:len(in.log)-1]
		in.evicted++
	}
	in.log = append(in.log, *rec)
}

// LogEvicted is how many packets the log has dropped, oldest first, to stay within LogSize.
func (in *Internet) LogEvicted() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.evicted
}

// Packets returns the logged packets, oldest first.
func (in *Internet) Packets() []HopPacket {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.log)
}

// Close stops every host (closing their sockets) and the network.
func (in *Internet) Close() error {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return errors.New("link internet: already closed")
	}
	in.closed = true
	hosts := slices.Clone(in.hosts)
	in.mu.Unlock()
	for _, ih := range hosts {
		ih.h.s.Close()
	}
	for _, ih := range hosts {
		ih.h.s.Wait()
	}
	in.cancel()
	in.wg.Wait()
	for _, ih := range hosts {
		ih.ep.Close()
	}
	return nil
}
