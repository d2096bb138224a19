package link

import (
	"fmt"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// TimeWait is how long a connection of this host that closed first stays in TIME-WAIT (netstack's
// TCPTimeWaitTimeoutOption; its default is 60 s, where Linux's is also 60 s).
func (h *Host) TimeWait() time.Duration {
	var tw tcpip.TCPTimeWaitTimeoutOption
	if terr := h.s.TransportProtocolOption(tcp.ProtocolNumber, &tw); terr != nil {
		// Netstack answers this option for TCP on every stack; the default is what is in force
		// if it ever did not.
		return tcp.DefaultTCPTimeWaitTimeout
	}
	return time.Duration(tw)
}

// SetTimeWait sets the TIME-WAIT duration of the host's TCP connections that close from now on.
func (h *Host) SetTimeWait(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("link time-wait: %v is not positive", d)
	}
	tw := tcpip.TCPTimeWaitTimeoutOption(d)
	if terr := h.s.SetTransportProtocolOption(tcp.ProtocolNumber, &tw); terr != nil {
		return fmt.Errorf("link time-wait: %w", tcpipErr(terr))
	}
	return nil
}

// InvalidRateLimit is the least time between two answers of one TCP connection of this host to
// segments outside its receive window (netstack's TCPInvalidRateLimitOption; default 500 ms, as
// Linux's net.ipv4.tcp_invalid_ratelimit). A keepalive probe (seq = snd.nxt−1, no data) is such a
// segment: a peer probing more often than this gets only some probes answered.
func (h *Host) InvalidRateLimit() time.Duration {
	var v stack.TCPInvalidRateLimitOption
	if terr := h.s.Option(&v); terr != nil {
		// Netstack answers this option on every stack.
		return 500 * time.Millisecond
	}
	return time.Duration(v)
}

// SetInvalidRateLimit sets InvalidRateLimit for the host's TCP connections; 0 answers every
// out-of-window segment.
func (h *Host) SetInvalidRateLimit(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("link invalid rate limit: %v is negative", d)
	}
	if terr := h.s.SetOption(stack.TCPInvalidRateLimitOption(d)); terr != nil {
		return fmt.Errorf("link invalid rate limit: %w", tcpipErr(terr))
	}
	return nil
}

// Counters is a host stack's own count of what it did, since the link was made.
type Counters struct {
	TCPSegmentsSent      uint64 // TCP segments sent, retransmissions included
	TCPSegmentsReceived  uint64 // TCP segments received
	TCPRetransmits       uint64 // TCP segments sent again
	TCPTimeouts          uint64 // retransmission timer expiries
	TCPResetsSent        uint64 // RSTs sent
	TCPResetsReceived    uint64 // RSTs received
	TCPActiveOpens       uint64 // connections this host dialled
	TCPPassiveOpens      uint64 // connections this host accepted
	UDPSent              uint64 // UDP datagrams sent
	UDPReceived          uint64 // UDP datagrams delivered to a socket
	UDPUnknownPort       uint64 // UDP datagrams for a port nobody listens on
	UDPReceiveBufferFull uint64 // UDP datagrams dropped because the socket's buffer was full
}

// Counters reads the host stack's TCP and UDP counters.
func (h *Host) Counters() Counters {
	st := h.s.Stats()
	return Counters{
		TCPSegmentsSent:      st.TCP.SegmentsSent.Value(),
		TCPSegmentsReceived:  st.TCP.ValidSegmentsReceived.Value(),
		TCPRetransmits:       st.TCP.Retransmits.Value(),
		TCPTimeouts:          st.TCP.Timeouts.Value(),
		TCPResetsSent:        st.TCP.ResetsSent.Value(),
		TCPResetsReceived:    st.TCP.ResetsReceived.Value(),
		TCPActiveOpens:       st.TCP.ActiveConnectionOpenings.Value(),
		TCPPassiveOpens:      st.TCP.PassiveConnectionOpenings.Value(),
		UDPSent:              st.UDP.PacketsSent.Value(),
		UDPReceived:          st.UDP.PacketsReceived.Value(),
		UDPUnknownPort:       st.UDP.UnknownPortErrors.Value(),
		UDPReceiveBufferFull: st.UDP.ReceiveBufferErrors.Value(),
	}
}

// newHost builds one host: a netstack with IPv4, TCP (SACK, the configured congestion control and
// buffers) and UDP, its one NIC n and its address.
func newHost(name string, addr netip.Addr, n stack.LinkEndpoint, cfg Config) (*Host, error) {
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
