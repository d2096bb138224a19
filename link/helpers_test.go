package link

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// udpPair returns a server socket and a client socket dialed to it.
func udpPair(t testing.TB, l *Link) (server net.PacketConn, client net.Conn) {
	t.Helper()
	ctx := testCtx(t)
	pc, err := l.Server().ListenPacket(ctx, "udp", net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	_ = pc.(*UDPConn).SetReadBuffer(16 << 20)
	c, err := l.Client().Dial(ctx, "udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return pc, c
}

// tcpPair returns a dialed client conn and the server's accepted conn.
func tcpPair(t testing.TB, l *Link) (client, server *TCPConn) {
	t.Helper()
	ctx := testCtx(t)
	ln, err := l.Server().Listen(ctx, "tcp", net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- c
	}()
	c, err := l.Client().Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { s.Close() })
	return c.(*TCPConn), s.(*TCPConn)
}

// readN reads n datagrams and returns their payloads. The deadline bounds the wait on a busy
// machine; it is not a claim about timing.
func readN(t testing.TB, pc net.PacketConn, n int) [][]byte {
	t.Helper()
	got := make([][]byte, 0, n)
	buf := make([]byte, 65536)
	_ = pc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for len(got) < n {
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("read %d of %d datagrams: %v", len(got), n, err)
		}
		got = append(got, append([]byte(nil), buf[:k]...))
	}
	return got
}

// waitFor waits until cond holds, for at most 20 s: a bound for a busy machine, not a window
// claimed. cond says what happened; the test then asserts what it wants about it.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 20 s waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// numbers are the datagram numbers (see numbered) of payloads.
func numbers(payloads [][]byte) []int {
	out := make([]int, len(payloads))
	for i, b := range payloads {
		out[i] = numberOf(b)
	}
	return out
}

// udpNumber is the number (see numbered) of the datagram a logged UDP packet carries.
func udpNumber(p Packet) int {
	ihl := int(p.Data[0]&0x0f) * 4
	return numberOf(p.Data[ihl+8:])
}

func numbered(i, size int) []byte {
	b := make([]byte, max(size, 4))
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

func numberOf(b []byte) int { return int(binary.BigEndian.Uint32(b)) }

// dirPackets filters the log by direction.
func dirPackets(l *Link, dir Direction) []Packet {
	var out []Packet
	for _, p := range l.Packets() {
		if p.Dir == dir {
			out = append(out, p)
		}
	}
	return out
}

// capPacket is one EPB read back from a pcapng file.
type capPacket struct {
	iface   uint32
	ts      time.Time
	data    []byte
	origLen int
	comment string
}

// readPcapng parses the subset of pcapng this package writes (little-endian, one section).
func readPcapng(t testing.TB, b []byte) []capPacket {
	t.Helper()
	var out []capPacket
	le := binary.LittleEndian
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("pcapng: truncated block header")
		}
		typ, total := le.Uint32(b), int(le.Uint32(b[4:]))
		if total < 12 || total > len(b) || total%4 != 0 {
			t.Fatalf("pcapng: bad block length %d", total)
		}
		if le.Uint32(b[total-4:]) != uint32(total) {
			t.Fatalf("pcapng: trailing length mismatch")
		}
		body := b[8 : total-4]
		switch typ {
		case blockSHB:
			if le.Uint32(body) != 0x1A2B3C4D {
				t.Fatalf("pcapng: bad byte-order magic")
			}
		case blockEPB:
			capLen := int(le.Uint32(body[12:]))
			p := capPacket{
				iface:   le.Uint32(body),
				ts:      time.Unix(0, int64(uint64(le.Uint32(body[4:]))<<32|uint64(le.Uint32(body[8:])))),
				data:    body[20 : 20+capLen],
				origLen: int(le.Uint32(body[16:])),
			}
			opts := body[20+pad4(capLen):]
			for len(opts) >= 4 {
				code, l := le.Uint16(opts), int(le.Uint16(opts[2:]))
				if code == optEnd {
					break
				}
				if code == optComment {
					p.comment = string(opts[4 : 4+l])
				}
				opts = opts[4+pad4(l):]
			}
			out = append(out, p)
		}
		b = b[total:]
	}
	return out
}
