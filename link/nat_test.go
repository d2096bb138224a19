package link

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

var (
	natTestPub    = netip.MustParseAddr("198.51.100.1")
	natTestS1     = netip.MustParseAddr("192.0.2.1")
	natTestS2     = netip.MustParseAddr("192.0.2.2")
	natTestInside = netip.MustParseAddr("192.168.1.2")
	natTestPeer   = netip.MustParseAddr("192.168.1.3")
)

// natNet is a NAT with one private host and two public servers, S1 with two sockets.
type natNet struct {
	in          *Internet
	nat         *NAT
	p           net.PacketConn // the private host's socket
	s1a, s1b    net.PacketConn // on S1
	s2          net.PacketConn // on S2
	priv, other *Host
}

func newNATNet(t *testing.T, cfg NATConfig) *natNet {
	t.Helper()
	in, err := NewInternet(InternetConfig{Delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	nat, err := in.AddNAT("nat", natTestPub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := in.AddHost("s1", natTestS1)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := in.AddHost("s2", natTestS2)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := nat.AddHost("inside", natTestInside)
	if err != nil {
		t.Fatal(err)
	}
	nn := &natNet{in: in, nat: nat, priv: priv}
	nn.p = natListen(t, priv, natTestInside)
	nn.s1a = natListen(t, s1, natTestS1)
	nn.s1b = natListen(t, s1, natTestS1)
	nn.s2 = natListen(t, s2, natTestS2)
	return nn
}

func natListen(t *testing.T, h *Host, a netip.Addr) net.PacketConn {
	t.Helper()
	c, err := h.ListenPacket(context.Background(), "udp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func natAddr(c net.PacketConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// natSend sends msg from c to to and returns the hop record of it, from the log.
func natSend(t *testing.T, in *Internet, c net.PacketConn, to netip.AddrPort, msg string) HopPacket {
	t.Helper()
	if _, err := c.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		for _, p := range in.Packets() {
			if string(p.Payload) == msg {
				return p
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%q never crossed the network", msg)
	return HopPacket{}
}

// natRecv reads one datagram, which must be msg, and returns its source as the reader sees it.
func natRecv(t *testing.T, c net.PacketConn, msg string) netip.AddrPort {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 100)
	n, from, err := c.ReadFrom(b)
	if err != nil {
		t.Fatalf("waiting for %q: %v", msg, err)
	}
	if string(b[:n]) != msg {
		t.Fatalf("got %q, want %q", b[:n], msg)
	}
	return from.(*net.UDPAddr).AddrPort()
}

var behaviors = []Behavior{EndpointIndependent, AddressDependent, AddressAndPortDependent}

// TestNATMapping: what the servers see of one private socket sending to S1 (two ports) and S2,
// for each mapping behaviour: one external port for all (EIM), one per address (ADM), one per
// address and port (APDM). The source address is the NAT's in every case.
func TestNATMapping(t *testing.T) {
	for _, m := range behaviors {
		t.Run(m.String(), func(t *testing.T) {
			nn := newNATNet(t, NATConfig{Mapping: m, Filtering: EndpointIndependent})
			natSend(t, nn.in, nn.p, natAddr(nn.s1a), "to s1a")
			a := natRecv(t, nn.s1a, "to s1a")
			natSend(t, nn.in, nn.p, natAddr(nn.s1b), "to s1b")
			b := natRecv(t, nn.s1b, "to s1b")
			natSend(t, nn.in, nn.p, natAddr(nn.s2), "to s2")
			c := natRecv(t, nn.s2, "to s2")
			for _, x := range []netip.AddrPort{a, b, c} {
				if x.Addr() != natTestPub {
					t.Fatalf("server saw %v, want the NAT's address %v", x, natTestPub)
				}
			}
			sameAddrSamePort, otherAddrSamePort := a == b, a == c
			want := map[Behavior][2]bool{
				EndpointIndependent:     {true, true},
				AddressDependent:        {true, false},
				AddressAndPortDependent: {false, false},
			}[m]
			if sameAddrSamePort != want[0] || otherAddrSamePort != want[1] {
				t.Errorf("S1 port A saw %v, S1 port B %v, S2 %v: same port for another port of S1 %v (want %v), for S2 %v (want %v)",
					a, b, c, sameAddrSamePort, want[0], otherAddrSamePort, want[1])
			}
			distinct := map[netip.AddrPort]bool{a: true, b: true, c: true}
			if st := nn.nat.Stats(); st.MappingsCreated != uint64(len(distinct)) || st.Outbound != 3 {
				t.Errorf("stats %+v, want %d mappings created, 3 outbound", st, len(distinct))
			}
			if ms := nn.nat.Mappings(); len(ms) != len(distinct) || ms[0].Internal != natAddr(nn.p) {
				t.Errorf("mappings %+v", ms)
			}
		})
	}
}

// TestNATFiltering: after the private socket sent to S1's first socket only, who may send to
// its external endpoint: that socket always; S1's other port too unless filtering is
// address-and-port-dependent; S2 only with endpoint-independent filtering. What is refused is
// counted and never reaches the socket.
func TestNATFiltering(t *testing.T) {
	for _, f := range behaviors {
		t.Run(f.String(), func(t *testing.T) {
			nn := newNATNet(t, NATConfig{Mapping: EndpointIndependent, Filtering: f})
			natSend(t, nn.in, nn.p, natAddr(nn.s1a), "hello")
			ext := natRecv(t, nn.s1a, "hello")
			want := map[Behavior][3]bool{
				EndpointIndependent:     {true, true, true},
				AddressDependent:        {true, true, false},
				AddressAndPortDependent: {true, false, false},
			}[f]
			filtered := 0
			for i, s := range []net.PacketConn{nn.s1a, nn.s1b, nn.s2} {
				msg := "reply " + string(rune('a'+i))
				hp := natSend(t, nn.in, s, ext, msg)
				if got := hp.Verdict == VerdictDelivered; got != want[i] {
					t.Fatalf("%s from %v: verdict %q, want delivered %v", msg, natAddr(s), hp.Verdict, want[i])
				}
				if !want[i] {
					filtered++
					if hp.Verdict != VerdictFiltered || hp.NAT != "nat" {
						t.Errorf("%s: verdict %q by %q, want filtered by nat", msg, hp.Verdict, hp.NAT)
					}
					continue
				}
				if from := natRecv(t, nn.p, msg); from != natAddr(s) {
					t.Errorf("%s arrived from %v, want %v", msg, from, natAddr(s))
				}
				if hp.InDst != natAddr(nn.p) || hp.To != "inside" {
					t.Errorf("%s translated to %v for %q", msg, hp.InDst, hp.To)
				}
			}
			if st := nn.nat.Stats(); st.Filtered != uint64(filtered) {
				t.Errorf("filtered %d, want %d", st.Filtered, filtered)
			}
			// Nothing else is waiting on the socket: what was filtered never came in.
			nn.p.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			var ne net.Error
			if _, _, err := nn.p.ReadFrom(make([]byte, 10)); !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("extra datagram: %v", err)
			}
		})
	}
}

// TestNATTimeout: a mapping nothing goes out on for longer than the timeout is gone: the
// server's next packet finds no mapping, and the private socket's next packet gets a new
// external port. Sending in time keeps it; packets coming in do not.
func TestNATTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	nn := newNATNet(t, NATConfig{Mapping: EndpointIndependent, Filtering: AddressAndPortDependent, Timeout: timeout})
	natSend(t, nn.in, nn.p, natAddr(nn.s1a), "one")
	ext := natRecv(t, nn.s1a, "one")
	// Inbound traffic alone does not hold the mapping.
	for i := range 2 {
		time.Sleep(timeout / 4)
		msg := "in " + string(rune('0'+i))
		if hp := natSend(t, nn.in, nn.s1a, ext, msg); hp.Verdict != VerdictDelivered {
			t.Fatalf("%s: %q within the timeout", msg, hp.Verdict)
		}
		natRecv(t, nn.p, msg)
	}
	time.Sleep(timeout) // over the timeout since the last outbound packet, whatever came in
	if hp := natSend(t, nn.in, nn.s1a, ext, "late"); hp.Verdict != VerdictNoMapping {
		t.Fatalf("after the timeout: %q, want %q", hp.Verdict, VerdictNoMapping)
	}
	st := nn.nat.Stats()
	if st.MappingsExpired != 1 || st.NoMapping != 1 {
		t.Errorf("stats %+v, want 1 expired, 1 with no mapping", st)
	}
	natSend(t, nn.in, nn.p, natAddr(nn.s1a), "two")
	if again := natRecv(t, nn.s1a, "two"); again == ext {
		t.Errorf("the new mapping has the old port %v", ext)
	}
	// Outbound keep-alives hold the mapping well past the timeout.
	for i := range 6 {
		time.Sleep(timeout / 3)
		natSend(t, nn.in, nn.p, natAddr(nn.s1a), "ka "+string(rune('0'+i)))
		natRecv(t, nn.s1a, "ka "+string(rune('0'+i)))
	}
	if st := nn.nat.Stats(); st.MappingsExpired != 1 || st.MappingsCreated != 2 {
		t.Errorf("with keep-alives: stats %+v, want still 1 expired, 2 created", st)
	}
}

// TestNATHairpinning: a private host sending to another private host's external endpoint on
// the same NAT reaches it, from its own external endpoint, when the NAT hairpins; otherwise
// the packet is dropped and counted.
func TestNATHairpinning(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[on], func(t *testing.T) {
			nn := newNATNet(t, NATConfig{Mapping: EndpointIndependent, Filtering: EndpointIndependent, Hairpinning: on})
			other, err := nn.nat.AddHost("other", natTestPeer)
			if err != nil {
				t.Fatal(err)
			}
			q := natListen(t, other, natTestPeer)
			natSend(t, nn.in, nn.p, natAddr(nn.s1a), "p out")
			pExt := natRecv(t, nn.s1a, "p out")
			natSend(t, nn.in, q, natAddr(nn.s1a), "q out")
			qExt := natRecv(t, nn.s1a, "q out")
			hp := natSend(t, nn.in, nn.p, qExt, "hairpin")
			st := nn.nat.Stats()
			if !on {
				if hp.Verdict != VerdictHairpinOff || st.HairpinDropped != 1 || st.Hairpinned != 0 {
					t.Fatalf("verdict %q, stats %+v; want dropped, hairpinning off", hp.Verdict, st)
				}
				return
			}
			if hp.Verdict != VerdictDelivered || st.Hairpinned != 1 {
				t.Fatalf("verdict %q, stats %+v; want hairpinned", hp.Verdict, st)
			}
			if from := natRecv(t, q, "hairpin"); from != pExt {
				t.Errorf("hairpinned packet from %v, want the sender's external endpoint %v", from, pExt)
			}
		})
	}
}

// TestNATSameLAN: two hosts behind one NAT reach each other on their private addresses
// without translation.
func TestNATSameLAN(t *testing.T) {
	nn := newNATNet(t, FullCone)
	other, err := nn.nat.AddHost("other", natTestPeer)
	if err != nil {
		t.Fatal(err)
	}
	q := natListen(t, other, natTestPeer)
	hp := natSend(t, nn.in, nn.p, natAddr(q), "lan")
	if from := natRecv(t, q, "lan"); from != natAddr(nn.p) || hp.OutSrc != hp.Src {
		t.Errorf("from %v (hop %+v), want %v untranslated", from, hp, natAddr(nn.p))
	}
	if st := nn.nat.Stats(); st.MappingsCreated != 0 {
		t.Errorf("stats %+v, want no mapping", st)
	}
}

// TestNATTCP: a TCP connection from a private host through the NAT works both ways (the
// rewritten headers' checksums are right, or netstack would drop the segments), and the server
// sees it come from the NAT's external endpoint.
func TestNATTCP(t *testing.T) {
	nn := newNATNet(t, PortRestricted)
	s1 := nn.in.public[natTestS1].h
	ln, err := s1.Listen(context.Background(), "tcp", netip.AddrPortFrom(natTestS1, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	seen := make(chan netip.AddrPort, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		seen <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
		b := make([]byte, 5)
		if _, err := io.ReadFull(c, b); err == nil {
			c.Write(b)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := nn.priv.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
		t.Fatalf("echo %q, %v", b, err)
	}
	if from := <-seen; from.Addr() != natTestPub || from.Port() != nn.nat.Config().FirstPort {
		t.Errorf("server saw the connection from %v, want %v:%d", from, natTestPub, nn.nat.Config().FirstPort)
	}
	if ms := nn.nat.Mappings(); len(ms) != 1 || ms[0].Proto != "tcp" {
		t.Errorf("mappings %+v, want one TCP mapping", ms)
	}
}

// TestInternetAddresses: an address is taken once on the public side (host or NAT) and once
// behind each NAT; private addresses may repeat behind different NATs.
func TestInternetAddresses(t *testing.T) {
	nn := newNATNet(t, FullCone)
	if _, err := nn.in.AddHost("again", natTestS1); err == nil {
		t.Error("a second public host on S1's address")
	}
	if _, err := nn.in.AddHost("nat's", natTestPub); err == nil {
		t.Error("a public host on the NAT's address")
	}
	if _, err := nn.in.AddNAT("again", natTestS2, FullCone); err == nil {
		t.Error("a NAT on S2's address")
	}
	if _, err := nn.nat.AddHost("again", natTestInside); err == nil {
		t.Error("a second private host on one address behind one NAT")
	}
	other, err := nn.in.AddNAT("other", netip.MustParseAddr("203.0.113.1"), Symmetric)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.AddHost("twin", natTestInside); err != nil {
		t.Errorf("the same private address behind another NAT: %v", err)
	}
}
