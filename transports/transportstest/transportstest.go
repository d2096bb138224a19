// Package transportstest is the conformance suite every netx.Network implementation
// passes: the operating system's (netx.Kernel) and package link's emulated hosts.
package transportstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wireplay/wireplay/netx"
	"golang.org/x/net/nettest"
)

// MakeNetworks returns a server and a client Network that reach each other, and the host (an IP
// literal) the server's sockets are reachable at from the client. It registers its own cleanup
// with t.
type MakeNetworks func(t *testing.T) (server, client netx.Network, serverHost string)

// TestNetwork runs the suite. Each subtest gets fresh networks from mk.
func TestNetwork(t *testing.T, mk func(t *testing.T) (server, client netx.Network, serverHost string)) {
	t.Run("TCP/nettest", func(t *testing.T) {
		server, client, host := mk(t)
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			return tcpPipe(server, client, host)
		})
	})
	t.Run("TCP/EphemeralPorts", func(t *testing.T) { testTCPEphemeral(t, mk) })
	t.Run("TCP/Close", func(t *testing.T) { testTCPClose(t, mk) })
	t.Run("TCP/HalfClose", func(t *testing.T) { testTCPHalfClose(t, mk) })
	t.Run("TCP/DialErrors", func(t *testing.T) { testTCPDialErrors(t, mk) })
	t.Run("TCP/ManyConns", func(t *testing.T) { testTCPManyConns(t, mk) })
	t.Run("UDP/RoundTrip", func(t *testing.T) { testUDPRoundTrip(t, mk) })
	t.Run("UDP/Unconnected", func(t *testing.T) { testUDPUnconnected(t, mk) })
	t.Run("UDP/Deadline", func(t *testing.T) { testUDPDeadline(t, mk) })
	t.Run("UDP/Close", func(t *testing.T) { testUDPClose(t, mk) })
	t.Run("BadArguments", func(t *testing.T) { testBadArguments(t, mk) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func portOf(t *testing.T, a net.Addr) int {
	t.Helper()
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatalf("address %v: %v", a, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %v: %v", a, err)
	}
	return n
}

func tcpPipe(server, client netx.Network, host string) (c1, c2 net.Conn, stop func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := server.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, nil, nil, err
	}
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c1, err = client.Dial(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		ln.Close()
		<-ch
		return nil, nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		c1.Close()
		ln.Close()
		return nil, nil, nil, r.err
	}
	return c1, r.c, func() {
		c1.Close()
		r.c.Close()
		ln.Close()
	}, nil
}

func mustPipe(t *testing.T, server, client netx.Network, host string) (c1, c2 net.Conn) {
	t.Helper()
	c1, c2, stop, err := tcpPipe(server, client, host)
	if err != nil {
		t.Fatalf("tcp pipe: %v", err)
	}
	t.Cleanup(stop)
	return c1, c2
}

func testTCPEphemeral(t *testing.T, mk MakeNetworks) {
	server, client, host := mk(t)
	ctx := ctx(t)
	ln1, err := server.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln1.Close()
	ln2, err := server.Listen(ctx, "tcp4", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	p1, p2 := portOf(t, ln1.Addr()), portOf(t, ln2.Addr())
	if p1 == 0 || p2 == 0 || p1 == p2 {
		t.Fatalf("ephemeral listener ports %d and %d: want distinct and non-zero", p1, p2)
	}
	// A second listener on a port in use fails.
	if ln3, err := server.Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(p1))); err == nil {
		ln3.Close()
		t.Errorf("second Listen on port %d succeeded", p1)
	}
	go func() {
		if c, err := ln1.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := client.Dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(p1)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if portOf(t, c.LocalAddr()) == 0 {
		t.Errorf("dialed conn local address %v has port 0", c.LocalAddr())
	}
	if got := portOf(t, c.RemoteAddr()); got != p1 {
		t.Errorf("dialed conn remote port %d, want %d", got, p1)
	}
}

func testTCPClose(t *testing.T, mk MakeNetworks) {
	server, client, host := mk(t)
	c1, c2 := mustPipe(t, server, client, host)

	// A Read blocked on a conn unblocks with net.ErrClosed when that conn is closed.
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := c1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked Read did not return after Close")
	}
	if _, err := c1.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	// The peer sees EOF.
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c2.Read(make([]byte, 10)); err != io.EOF {
		t.Errorf("peer Read after Close = %d, %v; want io.EOF", n, err)
	}

	// A blocked Accept unblocks when the listener is closed; later Accepts fail too.
	ln, err := server.Listen(ctx(t), "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	acc := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		acc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := ln.Close(); err != nil {
		t.Fatalf("listener Close: %v", err)
	}
	select {
	case err := <-acc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked Accept did not return after Close")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

func testTCPHalfClose(t *testing.T, mk MakeNetworks) {
	server, client, host := mk(t)
	c1, c2 := mustPipe(t, server, client, host)
	cw, ok := c1.(interface{ CloseWrite() error })
	if !ok {
		t.Skipf("%T has no CloseWrite", c1)
	}
	if _, err := c1.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c2.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c2)
	if err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v; want %q then EOF", got, err, "request")
	}
	if _, err := c2.Write([]byte("response")); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	_ = c1.SetDeadline(time.Now().Add(10 * time.Second))
	got, err = io.ReadAll(c1)
	if err != nil || string(got) != "response" {
		t.Fatalf("client read %q, %v; want %q after half close", got, err, "response")
	}
}

func testTCPDialErrors(t *testing.T, mk MakeNetworks) {
	server, client, host := mk(t)
	// Find a port nobody listens on: listen, note the port, close.
	ln, err := server.Listen(ctx(t), "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(t, ln.Addr())
	ln.Close()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if conn, err := client.Dial(c, "tcp", net.JoinHostPort(host, strconv.Itoa(port))); err == nil {
		conn.Close()
		t.Errorf("Dial to closed port %d succeeded", port)
	} else if time.Since(start) > 5*time.Second {
		t.Errorf("Dial to closed port took %v; want a prompt refusal", time.Since(start))
	}
	// A cancelled context fails the Dial.
	cc, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if conn, err := client.Dial(cc, "tcp", net.JoinHostPort(host, strconv.Itoa(port))); err == nil {
		conn.Close()
		t.Error("Dial with a cancelled context succeeded")
	}
}

func testTCPManyConns(t *testing.T, mk MakeNetworks) {
	server, client, host := mk(t)
	ctx := ctx(t)
	ln, err := server.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	port := portOf(t, ln.Addr())
	const conns = 20
	errs := make(chan error, conns)
	for i := range conns {
		go func() {
			errs <- func() error {
				c, err := client.Dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
				if err != nil {
					return err
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				msg := bytes.Repeat([]byte{byte(i)}, 10_000+i)
				go func() { _, _ = c.Write(msg) }()
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					return fmt.Errorf("conn %d: %w", i, err)
				}
				if !bytes.Equal(got, msg) {
					return fmt.Errorf("conn %d: echo differs", i)
				}
				return nil
			}()
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	ln.Close()
	wg.Wait()
}

func udpServer(t *testing.T, server netx.Network, host string) (net.PacketConn, string) {
	t.Helper()
	pc, err := server.ListenPacket(ctx(t), "udp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	port := portOf(t, pc.LocalAddr())
	if port == 0 {
		t.Fatalf("ListenPacket on port 0: local address %v has port 0", pc.LocalAddr())
	}
	return pc, net.JoinHostPort(host, strconv.Itoa(port))
}

// echo answers every datagram on pc until it is closed.
func echo(t *testing.T, pc net.PacketConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := pc.WriteTo(buf[:n], addr); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
}

func testUDPRoundTrip(t *testing.T, mk MakeNetworks) {
	server, client, host := mk(t)
	pc, addr := udpServer(t, server, host)
	echo(t, pc)
	c, err := client.Dial(ctx(t), "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if portOf(t, c.LocalAddr()) == 0 {
		t.Errorf("dialed UDP conn local address %v has port 0", c.LocalAddr())
	}
	buf := make([]byte, 2000)
	for i, size := range []int{1, 100, 1200, 1400, 0, 512} {
		msg := bytes.Repeat([]byte{byte('a' + i)}, size)
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write %d bytes: %v", size, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read echo of %d bytes: %v", size, err)
		}
		if !bytes.Equal(buf[:n], msg) {
			t.Fatalf("echo of %d bytes came back as %d bytes", size, n)
		}
	}
}

func testUDPUnconnected(t *testing.T, mk MakeNetworks) {
	server, client, host := mk(t)
	pc, addr := udpServer(t, server, host)
	echo(t, pc)
	cpc, err := client.ListenPacket(ctx(t), "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer cpc.Close()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	for i := range 20 {
		msg := []byte(fmt.Sprintf("datagram %d", i))
		if _, err := cpc.WriteTo(msg, raddr); err != nil {
			t.Fatal(err)
		}
		_ = cpc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := cpc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != string(msg) {
			t.Fatalf("got %q, want %q", buf[:n], msg)
		}
		if portOf(t, from) != raddr.Port {
			t.Fatalf("reply from %v, want port %d", from, raddr.Port)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func testUDPDeadline(t *testing.T, mk MakeNetworks) {
	server, client, host := mk(t)
	pc, addr := udpServer(t, server, host)
	// Past deadline: immediate timeout.
	_ = pc.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, err := pc.ReadFrom(make([]byte, 10)); !isTimeout(err) {
		t.Errorf("ReadFrom with a past deadline: %v, want a timeout", err)
	}
	// Future deadline: times out after roughly that long.
	start := time.Now()
	_ = pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := pc.ReadFrom(make([]byte, 10)); !isTimeout(err) {
		t.Errorf("ReadFrom with a 100 ms deadline: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 5*time.Second {
		t.Errorf("100 ms read deadline fired after %v", d)
	}
	// Clearing the deadline makes the socket usable again.
	_ = pc.SetReadDeadline(time.Time{})
	c, err := client.Dial(ctx(t), "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("after timeout")); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, _, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "after timeout" {
		t.Fatalf("ReadFrom after clearing deadline: %q, %v", buf[:n], err)
	}
	// Write deadline in the past fails.
	_ = c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := c.Write([]byte("late")); !isTimeout(err) {
		t.Errorf("Write with a past deadline: %v, want a timeout", err)
	}
}

func testUDPClose(t *testing.T, mk MakeNetworks) {
	server, _, host := mk(t)
	pc, _ := udpServer(t, server, host)
	errc := make(chan error, 1)
	go func() {
		_, _, err := pc.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked ReadFrom after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked ReadFrom did not return after Close")
	}
	if _, err := pc.WriteTo([]byte("x"), pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close: %v, want net.ErrClosed", err)
	}
	// The port is free again.
	pc2, err := server.ListenPacket(ctx(t), "udp", pc.LocalAddr().String())
	if err != nil {
		// The kernel reports the wildcard or the bound host; both are reusable.
		pc2, err = server.ListenPacket(ctx(t), "udp", net.JoinHostPort(host, strconv.Itoa(portOf(t, pc.LocalAddr()))))
	}
	if err != nil {
		t.Errorf("rebinding a closed UDP port: %v", err)
	} else {
		pc2.Close()
	}
}

func testBadArguments(t *testing.T, mk MakeNetworks) {
	server, client, host := mk(t)
	ctx := ctx(t)
	if ln, err := server.Listen(ctx, "bogus", net.JoinHostPort(host, "0")); err == nil {
		ln.Close()
		t.Error(`Listen("bogus") succeeded`)
	}
	if pc, err := server.ListenPacket(ctx, "tcp", net.JoinHostPort(host, "0")); err == nil {
		pc.Close()
		t.Error(`ListenPacket("tcp") succeeded`)
	}
	if c, err := client.Dial(ctx, "tcp", "no-port"); err == nil {
		c.Close()
		t.Error(`Dial("no-port") succeeded`)
	}
}
