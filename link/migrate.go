package link

import (
	"fmt"
	"net/netip"
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
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
// The NAT is a stateless port rewrite at the server host's NIC: a client packet has its source
// port rewritten as the wire hands it to the server host, and a server packet to an external
// port gets the client's port back as it leaves the server host, before it enters the wire (one
// to a forgotten external port is discarded there, as a NAT with no mapping for it would). The
// client's sockets keep their port and never learn of it, exactly as behind a real NAT; the
// server's sockets see the external port; the wire — so the packet log and captures — carries
// the client's own port, as on the inside of a NAT. It sits outside both stacks, so neither
// netstack's connection tracking nor its iptables can undo or race it (an iptables version, in
// the server host's filter table, was undone by connection tracking whenever the server's
// packet was the first the tracker saw after the rule went in).

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
	addr, pn := client.Addr().As4(), uint8(tp)
	k := natKey{pn, addr, client.Port()}
	old, ok := nat.ext[k]
	if !ok {
		old = client.Port()
	}
	delete(nat.int, natKey{pn, addr, old})
	nat.dead[natKey{pn, addr, old}] = true
	nat.ext[k] = a.Port
	nat.int[natKey{pn, addr, a.Port}] = client.Port()
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
	proto uint8   // IP protocol number
	addr  [4]byte // the client's
	port  uint16
}

// wireNAT is the NAT's state.
type wireNAT struct {
	mu       sync.Mutex
	ext      map[natKey]uint16 // client port → external port
	int      map[natKey]uint16 // external port → client port
	dead     map[natKey]bool   // external ports whose mapping is gone
	reserved []tcpip.Endpoint
}

// serverNAT returns the NAT, installing it on first use.
func (l *Link) serverNAT() *wireNAT {
	for {
		if n := l.nat.Load(); n != nil {
			return n
		}
		n := &wireNAT{ext: map[natKey]uint16{}, int: map[natKey]uint16{}, dead: map[natKey]bool{}}
		if l.nat.CompareAndSwap(nil, n) {
			return n
		}
	}
}

// transportPorts returns an IPv4 packet's protocol and its TCP or UDP header, or ok false for
// anything else (other protocols, later fragments, short packets).
func transportPorts(b []byte) (proto uint8, th header.ChecksummableTransport, ok bool) {
	if len(b) < header.IPv4MinimumSize || b[0]>>4 != 4 {
		return 0, nil, false
	}
	ip := header.IPv4(b)
	ihl := int(ip.HeaderLength())
	if ihl < header.IPv4MinimumSize || ip.FragmentOffset() != 0 {
		return 0, nil, false
	}
	switch proto = ip.Protocol(); proto {
	case uint8(tcp.ProtocolNumber):
		if len(b) < ihl+header.TCPMinimumSize {
			return 0, nil, false
		}
		return proto, header.TCP(b[ihl:]), true
	case uint8(udp.ProtocolNumber):
		if len(b) < ihl+header.UDPMinimumSize {
			return 0, nil, false
		}
		return proto, header.UDP(b[ihl:]), true
	}
	return 0, nil, false
}

// inbound rewrites a client packet's source port, as the server host receives it. It returns
// the view to deliver: v itself, or a rewritten copy (v released), since the wire may hand a
// duplicate of the same bytes to the host too.
func (n *wireNAT) inbound(v *buffer.View) *buffer.View {
	b := v.AsSlice()
	proto, th, ok := transportPorts(b)
	if !ok {
		return v
	}
	n.mu.Lock()
	ext, ok := n.ext[natKey{proto, [4]byte(header.IPv4(b).SourceAddressSlice()), th.SourcePort()}]
	n.mu.Unlock()
	if !ok {
		return v
	}
	c := buffer.NewViewWithData(b)
	v.Release()
	_, th, _ = transportPorts(c.AsSlice())
	th.SetSourcePortWithChecksumUpdate(ext)
	return c
}

// outbound gives a server packet to an external port the client's port back, in place (the
// server host's stack handed the wire this view); it reports false for a packet to a forgotten
// external port, which goes nowhere.
func (n *wireNAT) outbound(b []byte) bool {
	proto, th, ok := transportPorts(b)
	if !ok {
		return true
	}
	k := natKey{proto, [4]byte(header.IPv4(b).DestinationAddressSlice()), th.DestinationPort()}
	n.mu.Lock()
	local, mapped := n.int[k]
	dead := n.dead[k]
	n.mu.Unlock()
	switch {
	case mapped:
		th.SetDestinationPortWithChecksumUpdate(local)
	case dead:
		return false
	}
	return true
}
