package link

import (
	"fmt"
	"net/netip"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Client address changes, for connection migration: a NAT that rebinds a client flow to a new
// external port, and extra client addresses (a second interface).
//
// The NAT is a stateless port rewrite in the server host's netstack iptables (filter table, INPUT
// and OUTPUT hooks: the last step before a packet reaches a socket and the last rewrite before it
// leaves): the client's sockets keep their port and never learn of it, exactly as behind a real
// NAT, and the server's sockets see the external port. The wire — so the packet log and captures
// — carries the client's own port, as on the inside of a NAT. It is installed on the first
// RebindClient; until then the server host runs without iptables, as before. (On the client
// host's OUTPUT the rewrite would be undone by netstack's connection tracking, whose implicit
// source NAT restores the tracked port after the filter table.)

// RebindClient emulates NAT rebinding of the client's flow from client (proto "tcp" or "udp"):
// the NAT forgets the flow's mapping and gives it a fresh external port on the same address,
// which it returns. From then on the server receives the flow's packets from the new port, its
// packets to the new port reach the client's unchanged socket, and its packets to an earlier
// external port of the flow (client's own port at first) are dropped, that mapping being gone.
// The client sees nothing; the server sees a known connection arrive from a new address — QUIC
// validates the new path and carries on, TCP has no connection for that 4-tuple and answers with
// a RST.
//
// Rebinding a flow again moves it on to yet another port.
func (l *Link) RebindClient(proto string, client netip.AddrPort) (netip.AddrPort, error) {
	var tp tcpip.TransportProtocolNumber
	switch proto {
	case "tcp":
		tp = tcp.ProtocolNumber
	case "udp":
		tp = udp.ProtocolNumber
	default:
		return netip.AddrPort{}, fmt.Errorf("link rebind: protocol %q (want tcp or udp)", proto)
	}
	if !client.Addr().Is4() || client.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("link rebind: %v is not an IPv4 address and port", client)
	}
	// Reserve the new external port on the client host, so no socket there gets it later.
	var wq waiter.Queue
	ep, terr := l.hosts[ClientToServer].s.NewEndpoint(tp, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return netip.AddrPort{}, fmt.Errorf("link rebind: %w", tcpipErr(terr))
	}
	if terr := ep.Bind(tcpip.FullAddress{}); terr != nil {
		ep.Close()
		return netip.AddrPort{}, fmt.Errorf("link rebind: reserve a port: %w", tcpipErr(terr))
	}
	a, terr := ep.GetLocalAddress()
	if terr != nil {
		ep.Close()
		return netip.AddrPort{}, fmt.Errorf("link rebind: %w", tcpipErr(terr))
	}
	nat := l.serverNAT()
	nat.mu.Lock()
	defer nat.mu.Unlock()
	addr := tcpip.AddrFrom4(client.Addr().As4())
	k := natKey{tp, addr, client.Port()}
	old, ok := nat.ext[k]
	if !ok {
		old = client.Port()
	}
	delete(nat.int, natKey{tp, addr, old})
	nat.dead[natKey{tp, addr, old}] = true
	nat.ext[k] = a.Port
	nat.int[natKey{tp, addr, a.Port}] = client.Port()
	nat.reserved = append(nat.reserved, ep)
	return netip.AddrPortFrom(client.Addr(), a.Port), nil
}

// AddClientAddr gives the client host another IPv4 address on its NIC (in the link's /24), as
// when a device gains a second interface: sockets may bind to it, and the server's packets to it
// are delivered. The client's default source address (ClientAddr) stays as it was while it exists.
func (l *Link) AddClientAddr(a netip.Addr) error {
	if !a.Is4() {
		return fmt.Errorf("link: client address %v is not IPv4", a)
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(a.As4()), PrefixLen: 24},
	}
	if terr := l.hosts[ClientToServer].s.AddProtocolAddress(1, pa, stack.AddressProperties{}); terr != nil {
		return fmt.Errorf("link: add client address %v: %w", a, tcpipErr(terr))
	}
	return nil
}

// RemoveClientAddr takes an address away from the client host, as when its interface goes down:
// packets to it are no longer accepted, and new connections use another address. ClientAddr still
// reports the link's original client address.
func (l *Link) RemoveClientAddr(a netip.Addr) error {
	if !a.Is4() {
		return fmt.Errorf("link: client address %v is not IPv4", a)
	}
	if terr := l.hosts[ClientToServer].s.RemoveAddress(1, tcpip.AddrFrom4(a.As4())); terr != nil {
		return fmt.Errorf("link: remove client address %v: %w", a, tcpipErr(terr))
	}
	return nil
}

type natKey struct {
	proto tcpip.TransportProtocolNumber
	addr  tcpip.Address // the client's
	port  uint16
}

// natTarget is the NAT: an iptables target on the server host's filter INPUT and OUTPUT.
type natTarget struct {
	mu       sync.Mutex
	ext      map[natKey]uint16 // client port → external port
	int      map[natKey]uint16 // external port → client port
	dead     map[natKey]bool   // external ports whose mapping is gone
	reserved []tcpip.Endpoint
}

var natSetup sync.Mutex

// serverNAT returns the NAT, installing it on the server host on first use.
func (l *Link) serverNAT() *natTarget {
	natSetup.Lock()
	defer natSetup.Unlock()
	ipt := l.hosts[ServerToClient].s.IPTables()
	t := ipt.GetTable(stack.FilterID, false)
	for _, r := range t.Rules {
		if n, ok := r.Target.(*natTarget); ok {
			return n
		}
	}
	n := &natTarget{ext: map[natKey]uint16{}, int: map[natKey]uint16{}, dead: map[natKey]bool{}}
	accept := &stack.AcceptTarget{NetworkProtocol: header.IPv4ProtocolNumber}
	ipt.ReplaceTable(stack.FilterID, stack.Table{
		Rules: []stack.Rule{
			{Filter: stack.EmptyFilter4(), Target: n},      // 0: INPUT
			{Filter: stack.EmptyFilter4(), Target: accept}, // 1: FORWARD
			{Filter: stack.EmptyFilter4(), Target: n},      // 2: OUTPUT
			{Filter: stack.EmptyFilter4(), Target: &stack.ErrorTarget{NetworkProtocol: header.IPv4ProtocolNumber}},
		},
		BuiltinChains: [stack.NumHooks]int{stack.Prerouting: stack.HookUnset, stack.Input: 0, stack.Forward: 1, stack.Output: 2, stack.Postrouting: stack.HookUnset},
		Underflows:    [stack.NumHooks]int{stack.Prerouting: stack.HookUnset, stack.Input: 0, stack.Forward: 1, stack.Output: 2, stack.Postrouting: stack.HookUnset},
	}, false)
	return n
}

// Action implements stack.Target: on INPUT, a packet from a rebound client port gets its source
// port rewritten to the external one; on OUTPUT, a packet to an external port gets the client's
// port back, and one to a forgotten external port is dropped.
func (n *natTarget) Action(pkt *stack.PacketBuffer, hook stack.Hook, _ *stack.Route, _ stack.AddressableEndpoint) (stack.RuleVerdict, int) {
	tp := pkt.TransportProtocolNumber
	if tp != tcp.ProtocolNumber && tp != udp.ProtocolNumber {
		return stack.RuleAccept, 0
	}
	nh, th, isICMPError, ok := pkt.GetHeaders()
	if !ok || isICMPError {
		return stack.RuleAccept, 0
	}
	ct, ok := th.(header.ChecksummableTransport)
	if !ok {
		return stack.RuleAccept, 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch hook {
	case stack.Input:
		if ext, ok := n.ext[natKey{tp, nh.SourceAddress(), ct.SourcePort()}]; ok {
			ct.SetSourcePortWithChecksumUpdate(ext)
		}
	case stack.Output:
		k := natKey{tp, nh.DestinationAddress(), ct.DestinationPort()}
		if local, ok := n.int[k]; ok {
			ct.SetDestinationPortWithChecksumUpdate(local)
		} else if n.dead[k] {
			return stack.RuleDrop, 0
		}
	}
	return stack.RuleAccept, 0
}
