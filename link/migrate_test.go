package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRebindClientUDP: after a rebinding the server sees the client's datagrams from a new port,
// its replies to the new port reach the client's unchanged socket, and replies to the old port
// are dropped.
func TestRebindClientUDP(t *testing.T) {
	l := newLink(t, Config{Seed: 1, Settings: Both(Impairment{Delay: time.Millisecond})})
	srv, cli := udpPair(t, l)
	buf := make([]byte, 64)
	exchange := func(msg string) *net.UDPAddr {
		t.Helper()
		if _, err := cli.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := srv.ReadFrom(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("server read %q, %v", buf[:n], err)
		}
		return from.(*net.UDPAddr)
	}
	before := exchange("one")
	local := uint16(cli.LocalAddr().(*net.UDPAddr).Port)
	if before.Port != int(local) {
		t.Fatalf("server saw port %d before rebinding, want %d", before.Port, local)
	}
	ext, err := l.RebindClient("udp", before.AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	after := exchange("two")
	if after.AddrPort() != ext || ext.Port() == local || !after.IP.Equal(before.IP) {
		t.Fatalf("server saw %v after rebinding to %v (was %v)", after, ext, before)
	}
	if uint16(cli.LocalAddr().(*net.UDPAddr).Port) != local {
		t.Fatal("the client's socket changed port")
	}
	srv.WriteTo([]byte("to-old"), before)
	srv.WriteTo([]byte("to-new"), after)
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := cli.Read(buf)
	if err != nil || string(buf[:n]) != "to-new" {
		t.Fatalf("client read %q, %v; want only the reply to the new port", buf[:n], err)
	}
	c := l.Counts(ClientToServer)
	if c.Sent == 0 {
		t.Fatal("nothing on the wire")
	}
	if _, err := l.RebindClient("sctp", ext); err == nil {
		t.Error("rebinding sctp did not fail")
	}
}

// TestRebindServerSpeaksFirst: after a rebinding the server's packet to the old port may be the
// first thing the NAT sees (the migration lesson's QUIC server was mid-echo); the client's next
// datagram must still reach the server from the new port, every time, and the wire must carry the
// client's own port both ways. (A NAT in netstack's iptables failed this when connection tracking
// saw the server's packet first.)
func TestRebindServerSpeaksFirst(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	srv, cli := udpPair(t, l)
	local := cli.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	buf := make([]byte, 64)
	read := func(msg string) netip.AddrPort {
		t.Helper()
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := srv.ReadFrom(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("server read %q, %v; want %q", buf[:n], err, msg)
		}
		return from.(*net.UDPAddr).AddrPort()
	}
	cli.Write([]byte("hello"))
	port := read("hello")
	for i := range 20 {
		ext, err := l.RebindClient("udp", netip.AddrPortFrom(port.Addr(), local))
		if err != nil {
			t.Fatal(err)
		}
		srv.WriteTo([]byte("to-old"), net.UDPAddrFromAddrPort(port)) // the NAT forgot it: dropped
		msg := fmt.Sprintf("after-%d", i)
		cli.Write([]byte(msg))
		if got := read(msg); got != ext {
			t.Fatalf("rebinding %d: server saw %v, want the new external %v", i, got, ext)
		}
		port = ext
	}
	for _, pk := range l.Packets() {
		d := pk.Decoded
		if d.Proto == "udp" && d.Src.Port() != local && d.Dst.Port() != local {
			t.Fatalf("the wire carried a packet without the client's own port %d: %s", local, pk.Summary())
		}
		if d.Proto == "udp" && pk.Dir == ServerToClient && pk.Decoded.PayloadLen == len("to-old") {
			t.Fatalf("a reply to a forgotten port reached the wire: %s", pk.Summary())
		}
	}
}

// TestRebindClientTCP: the client's next segment after a rebinding reaches the server from a port
// it has no connection for; the server answers with a RST and the client's connection is reset.
func TestRebindClientTCP(t *testing.T) {
	l := newLink(t, Config{Seed: 1, Settings: Both(Impairment{Delay: time.Millisecond})})
	c, s := tcpPair(t, l)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := s.Read(b); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RebindClient("tcp", c.LocalAddr().(*net.TCPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("y"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(b)
	if err == nil || (!errors.Is(err, syscall.ECONNRESET) && !strings.Contains(err.Error(), "reset")) {
		t.Fatalf("client read after rebinding: %v, want ECONNRESET", err)
	}
	rst := false
	for _, p := range l.Packets() {
		if p.Dir == ServerToClient && p.Decoded.Flags&FlagRST != 0 {
			rst = true
		}
	}
	if !rst {
		t.Error("no RST from the server in the packet log")
	}
}

// TestClientAddr: a second client address can be bound and reached; removing the first makes new
// connections come from the second.
func TestClientAddr(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	second := netip.MustParseAddr("127.0.1.3")
	if err := l.AddClientAddr(second); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	srv, _ := udpPair(t, l)
	pc, err := l.Client().ListenPacket(ctx, "udp", "127.0.1.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.WriteTo([]byte("hi"), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := srv.ReadFrom(buf)
	if err != nil || from.(*net.UDPAddr).IP.String() != "127.0.1.3" {
		t.Fatalf("server got %v, %v", from, err)
	}
	srv.WriteTo([]byte("back"), from)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := pc.ReadFrom(buf); err != nil || string(buf[:n]) != "back" {
		t.Fatalf("reply to the second address: %q, %v", buf[:n], err)
	}
	if err := l.RemoveClientAddr(l.ClientAddr()); err != nil {
		t.Fatal(err)
	}
	ln, err := l.Server().Listen(ctx, "tcp", "127.0.1.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := l.Client().Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ip := c.LocalAddr().(*net.TCPAddr).IP.String(); ip != "127.0.1.3" {
		t.Errorf("dial after removing the first address came from %s", ip)
	}
	if err := l.AddClientAddr(netip.MustParseAddr("::1")); err == nil {
		t.Error("IPv6 address accepted")
	}
}
