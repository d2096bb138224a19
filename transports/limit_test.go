package transports_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/netx"
	"github.com/wireplay/wireplay/transports"
)

func TestConnLimit(t *testing.T) {
	l := transports.NewConnLimit(2, 3)
	a1 := &net.TCPAddr{IP: net.ParseIP("2001:db8:0:1::1"), Port: 1}
	a2 := &net.TCPAddr{IP: net.ParseIP("2001:db8:0:1:ffff::2"), Port: 2} // the same /64
	b := &net.TCPAddr{IP: net.ParseIP("2001:db8:0:2::1"), Port: 3}
	c := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 4}
	r1, err := l.Acquire(a1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(a2); err != nil {
		t.Fatal(err)
	}
	_, err = l.Acquire(a1)
	if r, ok := err.(*transports.Refusal); !ok || r.Reason != "per-ip" || r.Client.String() != "2001:db8:0:1::" {
		t.Errorf("third from one /64: %v, want a per-ip refusal for 2001:db8:0:1::", err)
	}
	if _, err := l.Acquire(b); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	if _, err := l.Acquire(c); err == nil || err.(*transports.Refusal).Reason != "total" {
		t.Errorf("fourth in all: %v, want a total refusal", err)
	}
	r1()
	r1() // twice is harmless
	if _, err := l.Acquire(c); err != nil {
		t.Errorf("after a release: %v", err)
	}
	if l.Open() != 3 {
		t.Errorf("open %d, want 3", l.Open())
	}
}

// TestTCPEchoPerIPCap: one IP holding its cap of connections is told why its next one is refused;
// another IP is still served, and a freed slot is reused.
func TestTCPEchoPerIPCap(t *testing.T) {
	e, err := transports.ListenTCPEcho(ctxT(t), netx.Kernel, "127.0.0.1:0", transports.TCPEchoConfig{MaxConnsPerIP: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	go e.Serve()
	dial := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	echoes := func(c net.Conn) bool {
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return false
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		return err == nil && line == "ping\n"
	}
	var held []net.Conn
	for range 3 {
		c := dial("127.0.0.2")
		if !echoes(c) {
			t.Fatal("a connection within the cap is not echoed")
		}
		held = append(held, c)
	}
	over := dial("127.0.0.2")
	msg, _ := io.ReadAll(over)
	if !strings.Contains(string(msg), "too many connections from 127.0.0.2 (cap 3 per client)") {
		t.Errorf("the 4th connection from 127.0.0.2 read %q, want the reason, then EOF", msg)
	}
	if !echoes(dial("127.0.0.3")) {
		t.Error("127.0.0.3 not served while 127.0.0.2 holds its cap")
	}
	held[0].Close()
	for deadline := time.Now().Add(10 * time.Second); e.Open() > 3 && time.Now().Before(deadline); { // the echo sees the close
		time.Sleep(5 * time.Millisecond)
	}
	if !echoes(dial("127.0.0.2")) {
		t.Error("a slot freed by a close is not reused")
	}
}
