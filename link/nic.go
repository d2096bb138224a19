package link

import (
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

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
	if nat := n.l.nat.Load(); nat != nil && n.dir == ServerToClient {
		v = nat.inbound(v)
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
