package link

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// closeAndSettle closes a TCP connection from the client's side and waits (bounded) until the
// client is in TIME-WAIT and the server closed: then every segment either sent has been acked and
// counted, and neither will send again, so the log, the capture and the stacks' counters are
// final. The server must have read everything the client sent.
func closeAndSettle(t *testing.T, client, server *TCPConn) {
	t.Helper()
	client.Close()
	_ = server.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := server.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server read after the client's close: %v, want EOF", err)
	}
	server.Close()
	waitFor(t, "the client's TIME-WAIT and the server's close", func() bool { return client.TimeWait() && server.Closed() })
}

// seqBefore is TCP sequence-space a < b.
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

func TestTCPRetransmitsMatchPcapng(t *testing.T) {
	l := newLink(t, Config{Seed: 5, LogSize: 50_000})
	client, server := tcpPair(t, l)
	// Loss only after the handshake, only on the data direction: every retransmission is the
	// client's and is counted by its TCP sender.
	if err := l.SetImpairment(ClientToServer, Impairment{Loss: 0.03, Delay: 2 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	const size = 2 << 20
	data := bytes.Repeat([]byte("wireplay"), size/8)
	go func() { _, _ = client.Write(data) }()
	_ = server.SetReadDeadline(time.Now().Add(60 * time.Second))
	got := make([]byte, size)
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data corrupted")
	}
	closeAndSettle(t, client, server)
	info, err := client.TCPInfo()
	if err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := l.WritePcapng(&buf); err != nil {
		t.Fatal(err)
	}
	cport := uint16(client.LocalAddr().(*net.TCPAddr).Port)
	var (
		started  bool
		maxEnd   uint32
		retrans  uint32
		sacks    int
		segments int
	)
	for _, p := range readPcapng(t, buf.Bytes()) {
		d := decode(p.data)
		if d.Proto != "tcp" {
			continue
		}
		if p.iface == uint32(ServerToClient) {
			if len(d.SACK) > 0 {
				sacks++
			}
			continue
		}
		if d.Src.Port() != cport {
			continue
		}
		// The pcapng holds 256-byte snaps: the payload length comes from the IP total length.
		ipLen := int(binary.BigEndian.Uint16(p.data[2:4]))
		ihl := int(p.data[0]&0x0f) * 4
		thl := int(p.data[ihl+12]>>4) * 4
		payload := uint32(ipLen - ihl - thl)
		if d.Flags&FlagFIN != 0 {
			payload++ // the FIN takes a sequence number, and is retransmitted like data
		}
		if d.Flags&FlagSYN != 0 || payload == 0 {
			continue
		}
		segments++
		end := d.TCPSeq + payload
		if started && seqBefore(d.TCPSeq, maxEnd) {
			retrans++
		}
		if !started || seqBefore(maxEnd, end) {
			maxEnd, started = end, true
		}
	}
	drops := l.Counts(ClientToServer).Dropped[RuleLoss]
	t.Logf("%d data segments, %d dropped by the link, %d retransmitted in the pcapng, stack TotalRetrans %d, %d SACK acks; %+v",
		segments, drops, retrans, info.TotalRetrans, sacks, info)
	if drops == 0 || retrans == 0 {
		t.Fatal("no loss, nothing to compare")
	}
	if retrans != info.TotalRetrans {
		t.Errorf("pcapng shows %d retransmitted segments, the stack reports %d", retrans, info.TotalRetrans)
	}
	if sacks == 0 {
		t.Error("no SACK blocks decoded from the receiver's ACKs")
	}
	if info.BytesSent != size || info.MSS != 1448 || info.RTT <= 0 || info.SegsOut == 0 {
		t.Errorf("implausible TCPInfo %+v", info)
	}
	if s, _ := server.TCPInfo(); s.BytesReceived != size {
		t.Errorf("server BytesReceived %d, want %d", s.BytesReceived, size)
	}
}

// TestDelayRTT: a 25 ms one-way delay gives TCP connects and UDP echoes a 50 ms round trip. The
// link's part is read from its log: every packet held exactly 25 ms, and no answer left before its
// question could have arrived. What the hosts add on top is the machine's load, which the clock
// cannot tell apart; TestWireDeliversOnTime shows on a fake clock that the wire delivers at
// exactly Time + Latency.
func TestDelayRTT(t *testing.T) {
	const oneWay = 25 * time.Millisecond
	l := newLink(t, Config{Seed: 1, Settings: Both(Impairment{Delay: oneWay})})
	ctx := testCtx(t)
	ln, err := l.Server().Listen(ctx, "tcp", net.JoinHostPort(l.ServerAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var connects []time.Duration
	for range 5 {
		start := time.Now()
		c, err := l.Client().Dial(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		connects = append(connects, time.Since(start))
		c.Close()
	}
	pc, c := udpPair(t, l)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], a)
		}
	}()
	var rtts []time.Duration
	buf := make([]byte, 100)
	for i := range 7 {
		start := time.Now()
		if _, err := c.Write(numbered(i, 32)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(connects)
	slices.Sort(rtts)
	t.Logf("TCP connect median of 5: %v; UDP echo RTT median of 7: %v (link: %v)", connects[2], rtts[3], 2*oneWay)
	if connects[0] < 2*oneWay || rtts[0] < 2*oneWay {
		t.Errorf("fastest connect %v, fastest echo %v: under the link's %v round trip", connects[0], rtts[0], 2*oneWay)
	}

	pk := l.Packets()
	for _, p := range pk {
		if p.Fate != Delivered || p.Latency != oneWay || p.Queued != 0 {
			t.Fatalf("packet %s: %s, latency %v, queued %v; want delivered after exactly %v", p.Summary(), p.Fate, p.Latency, p.Queued, oneWay)
		}
	}
	// Each handshake: SYN, then SYN-ACK no earlier than the SYN arrived, then ACK no earlier
	// than the SYN-ACK arrived; each echo no earlier than its datagram arrived.
	arrived := func(q Packet) time.Time { return q.Time.Add(q.Latency) }
	handshakes, echoes := 0, 0
	for i, syn := range pk {
		d := syn.Decoded
		switch {
		case syn.Dir == ClientToServer && d.Proto == "tcp" && d.Flags == FlagSYN:
			synack := answer(pk[i+1:], func(q Packet) bool {
				return q.Decoded.Flags == FlagSYN|FlagACK && q.Decoded.TCPAck == d.TCPSeq+1
			})
			ack := answer(pk[i+1:], func(q Packet) bool {
				return q.Dir == ClientToServer && q.Decoded.Src == d.Src && q.Decoded.Flags&FlagSYN == 0 &&
					q.Decoded.TCPAck == synack.Decoded.TCPSeq+1
			})
			if synack.Time.Before(arrived(syn)) || ack.Time.Before(arrived(synack)) {
				t.Errorf("handshake from %v: SYN at 0, SYN-ACK at %v, ACK at %v; each must wait %v", d.Src,
					synack.Time.Sub(syn.Time), ack.Time.Sub(syn.Time), oneWay)
			}
			handshakes++
		case syn.Dir == ClientToServer && d.Proto == "udp":
			echo := answer(pk[i+1:], func(q Packet) bool {
				return q.Dir == ServerToClient && q.Decoded.Proto == "udp" && udpNumber(q) == udpNumber(syn)
			})
			if echo.Time.Before(arrived(syn)) {
				t.Errorf("echo of %d left %v after the datagram, before it arrived", udpNumber(syn), echo.Time.Sub(syn.Time))
			}
			echoes++
		}
	}
	if handshakes != 5 || echoes != 7 {
		t.Errorf("log holds %d handshakes and %d echoed datagrams, want 5 and 7", handshakes, echoes)
	}
}

// answer is the first packet of pk that matches, or a zero Packet (which fails the time checks).
func answer(pk []Packet, matches func(Packet) bool) Packet {
	for _, q := range pk {
		if matches(q) {
			return q
		}
	}
	return Packet{}
}

func TestDecodeHandshake(t *testing.T) {
	l := newLink(t, Config{Seed: 1})
	client, server := tcpPair(t, l)
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	pk := l.Packets()
	if len(pk) < 4 {
		t.Fatalf("only %d packets logged", len(pk))
	}
	syn, synack, ack := pk[0].Decoded, pk[1].Decoded, pk[2].Decoded
	sport := uint16(client.LocalAddr().(*net.TCPAddr).Port)
	dport := uint16(client.RemoteAddr().(*net.TCPAddr).Port)
	if pk[0].Dir != ClientToServer || syn.Proto != "tcp" || syn.Flags != FlagSYN || syn.Src.Port() != sport || syn.Dst.Port() != dport {
		t.Errorf("first packet %s, want the client's SYN", pk[0].Summary())
	}
	if syn.Src.Addr() != l.ClientAddr() || syn.Dst.Addr() != l.ServerAddr() {
		t.Errorf("SYN addresses %v > %v", syn.Src, syn.Dst)
	}
	if pk[1].Dir != ServerToClient || synack.Flags != FlagSYN|FlagACK || synack.TCPAck != syn.TCPSeq+1 {
		t.Errorf("second packet %s, want SYN|ACK acking %d", pk[1].Summary(), syn.TCPSeq+1)
	}
	if ack.Flags&FlagACK == 0 || ack.TCPAck != synack.TCPSeq+1 {
		t.Errorf("third packet %s, want the handshake ACK", pk[2].Summary())
	}
	var sawData bool
	for _, p := range pk {
		if p.Dir == ClientToServer && p.Decoded.PayloadLen == 5 && p.Decoded.Flags&FlagPSH != 0 {
			sawData = true
			if !strings.Contains(p.Summary(), "PSH|ACK") || !strings.Contains(p.Summary(), "len=5") {
				t.Errorf("summary %q", p.Summary())
			}
		}
	}
	if !sawData {
		t.Error("no 5-byte data segment logged")
	}
	t.Logf("%s\n%s\n%s", pk[0].Summary(), pk[1].Summary(), pk[2].Summary())
}

func TestCongestionControl(t *testing.T) {
	for _, want := range []string{"cubic", "reno"} {
		cfg := Config{}
		if want == "reno" {
			cfg.CongestionControl = "reno"
		}
		l := newLink(t, cfg)
		client, server := tcpPair(t, l)
		for _, c := range []*TCPConn{client, server} {
			var cc tcpip.CongestionControlOption
			if err := c.ep.GetSockOpt(&cc); err != nil {
				t.Fatal(err)
			}
			if string(cc) != want {
				t.Errorf("congestion control %q, want %q", cc, want)
			}
			var sack tcpip.TCPSACKEnabled
			if err := l.hosts[0].s.TransportProtocolOption(6, &sack); err != nil || !bool(sack) {
				t.Errorf("SACK enabled = %v, %v", sack, err)
			}
		}
	}
}

func TestPcapngTshark(t *testing.T) {
	l, err := New(Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() }) // closed below; this is for a test that fails before
	var stream bytes.Buffer
	stop, err := l.CapturePcapng(&stream)
	if err != nil {
		t.Fatal(err)
	}
	client, server := tcpPair(t, l)
	if _, err := client.Write(bytes.Repeat([]byte("x"), 5000)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	if err := l.SetImpairment(ClientToServer, Impairment{DropNth: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("lost once")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, 9)); err != nil {
		t.Fatal(err)
	}
	// Closing the link ends the trace (nothing enters a closed link) and flushes the stream.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var ring bytes.Buffer
	if err := l.WritePcapng(&ring); err != nil {
		t.Fatal(err)
	}
	n := len(l.Packets())
	for name, b := range map[string][]byte{"ring": ring.Bytes(), "stream": stream.Bytes()} {
		pk := readPcapng(t, b)
		if len(pk) != n {
			t.Errorf("%s capture has %d packets, the log %d", name, len(pk), n)
		}
		var dropped int
		for _, p := range pk {
			if strings.Contains(p.comment, "dropped by dropnth") {
				dropped++
			}
		}
		if dropped != 1 {
			t.Errorf("%s capture: %d packets marked dropped by dropnth, want 1", name, dropped)
		}
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed: skipping the check that tshark reads the capture")
	}
	dir := t.TempDir()
	for name, b := range map[string][]byte{"ring": ring.Bytes(), "stream": stream.Bytes()} {
		file := filepath.Join(dir, name+".pcapng")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "frame.interface_id", "-e", "tcp.flags.str", "-e", "frame.comment").Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v\n%s", name, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != n {
			t.Fatalf("tshark read %d packets from %s, want %d:\n%s", len(lines), name, n, out)
		}
		if !strings.Contains(lines[0], "S") || !strings.HasPrefix(lines[0], "0") {
			t.Errorf("tshark first packet %q, want a SYN on interface 0", lines[0])
		}
		if !strings.Contains(string(out), "dropped by dropnth") {
			t.Errorf("tshark shows no drop comment:\n%s", out)
		}
	}
}
