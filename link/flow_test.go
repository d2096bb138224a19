package link

import (
	"net"
	"slices"
	"testing"
)

// TestFatesPerFlowInterleaving: two flows' packets decided in different interleavings get the same
// fates per flow (rule, duplicate, latency by the flow's own index); the direction's index counts
// them all.
func TestFatesPerFlowInterleaving(t *testing.T) {
	a, b := exampleFlow, exampleFlow
	b.conn = 1
	imp := Impairment{Loss: 0.2, Duplicate: 0.1, Burst: GilbertElliott{P: 0.05, R: 0.3, LossBad: 0.8}, Jitter: 5e6, Delay: 1e7, Reorder: true}
	run := func(order []flowID) map[flowID][]verdict {
		f := newFates(9, ClientToServer)
		f.apply(imp, t0)
		out := map[flowID][]verdict{}
		for i, id := range order {
			v := f.decide(t0, 100, id)
			if v.Index != uint64(i+1) {
				t.Fatalf("direction index %d, want %d", v.Index, i+1)
			}
			v.Index = 0
			out[id] = append(out[id], v)
		}
		return out
	}
	const n = 300
	var seqs [][]flowID
	var ab, ba, alt []flowID
	for range n {
		ab = append(ab, a)
		ba = append(ba, b)
	}
	ab, ba = append(ab, ba...), append(slices.Clone(ba), ab[:n]...)
	for i := range 2 * n {
		alt = append(alt, [2]flowID{a, b}[i%2])
	}
	seqs = append(seqs, ab, ba, alt)
	ref := run(seqs[0])
	for _, s := range seqs[1:] {
		got := run(s)
		for _, id := range []flowID{a, b} {
			if !slices.Equal(got[id], ref[id]) {
				t.Errorf("flow %+v: fates changed with the interleaving", id)
			}
		}
	}
	if slices.Equal(ref[a], ref[b]) {
		t.Error("two flows drew the same stream")
	}
}

// TestLinkFlowsKeepTheirDrops: two UDP flows to two servers on one link, their datagrams sent in
// different interleavings on fresh links with the same seed: each flow's drops, read from the
// packet log by 5-tuple and counted within the flow, are the same every time.
func TestLinkFlowsKeepTheirDrops(t *testing.T) {
	const n = 200
	imp := Impairment{Loss: 0.2}
	run := func(order func(i int) int) [2][]int {
		l := newLink(t, Config{Seed: 5, Settings: Settings{ClientToServer: imp}})
		_, c0 := udpPair(t, l)
		_, c1 := udpPair(t, l)
		cs := [2]net.Conn{c0, c1}
		for i := range 2 * n {
			if _, err := cs[order(i)].Write(numbered(i, 100)); err != nil {
				t.Fatal(err)
			}
		}
		var drops [2][]int
		var count [2]int
		for _, p := range dirPackets(l, ClientToServer) {
			k := 0
			if p.Decoded.Src.Port() == uint16(cs[1].LocalAddr().(*net.UDPAddr).Port) {
				k = 1
			}
			count[k]++
			if p.Fate == Dropped {
				drops[k] = append(drops[k], count[k])
			}
		}
		if count != [2]int{n, n} {
			t.Fatalf("flows had %v packets, want %d each", count, n)
		}
		return drops
	}
	ref := run(func(i int) int { return i / n })
	for name, order := range map[string]func(int) int{
		"second first": func(i int) int { return 1 - i/n },
		"alternating":  func(i int) int { return i % 2 },
		"in fours":     func(i int) int { return (i / 4) % 2 },
	} {
		if got := run(order); !slices.Equal(got[0], ref[0]) || !slices.Equal(got[1], ref[1]) {
			t.Errorf("%s: drops %v, want %v", name, got, ref)
		}
	}
	if len(ref[0]) == 0 || slices.Equal(ref[0], ref[1]) {
		t.Errorf("drops %v: want some, different per flow", ref)
	}
}

// TestFlowTable: both directions of a 5-tuple are one flow whose server is where its first
// packet went; a second client to that server is the next conn; later fragments follow their
// first piece; the table forgets its oldest flow beyond maxFlows.
func TestFlowTable(t *testing.T) {
	ip := func(src, dst [4]byte, proto byte, sp, dp uint16, frag uint16, id uint16) []byte {
		b := make([]byte, 28)
		b[0], b[9] = 0x45, proto
		b[4], b[5] = byte(id>>8), byte(id)
		b[6], b[7] = byte(frag>>8), byte(frag)
		copy(b[12:], src[:])
		copy(b[16:], dst[:])
		b[20], b[21], b[22], b[23] = byte(sp>>8), byte(sp), byte(dp>>8), byte(dp)
		return b
	}
	c, s := [4]byte{127, 0, 1, 1}, [4]byte{127, 0, 1, 2}
	ft := newFlowTable()
	f1 := ft.classify(ip(c, s, 17, 40000, 10001, 0, 0))
	if want := (flowID{17, endpointOf(s[:], 10001), 0}); f1 != want {
		t.Fatalf("first flow %+v, want %+v", f1, want)
	}
	if got := ft.classify(ip(s, c, 17, 10001, 40000, 0, 0)); got != f1 {
		t.Errorf("reply %+v, want its flow %+v", got, f1)
	}
	f2 := ft.classify(ip(c, s, 17, 40001, 10001, 0, 0))
	if f2.server != f1.server || f2.conn != 1 {
		t.Errorf("second client %+v, want conn 1 to %v", f2, f1.server)
	}
	if got := ft.classify(ip(c, s, 17, 40001, 10001, 0x2000, 7)); got != f2 {
		t.Errorf("first fragment %+v, want %+v", got, f2)
	}
	if got := ft.classify(ip(c, s, 17, 0, 0, 185, 7)); got != f2 {
		t.Errorf("later fragment %+v, want its datagram's flow %+v", got, f2)
	}
	for p := range uint16(maxFlows) {
		ft.classify(ip(c, s, 6, 20000+p, 80, 0, 0))
	}
	if _, ok := ft.ids.get(fiveTuple{17, endpointOf(c[:], 40000), endpointOf(s[:], 10001)}); ok {
		t.Error("the oldest flow was kept beyond maxFlows")
	}
	if ft.ids.len() != maxFlows {
		t.Errorf("table holds %d flows, want %d", ft.ids.len(), maxFlows)
	}
}

// TestListenPortsInOrder: port-0 listeners take ports from firstListenPort in the order they are
// opened, on a fresh link the same every time, skipping a port in use.
func TestListenPortsInOrder(t *testing.T) {
	ctx := testCtx(t)
	for range 2 {
		l := newLink(t, Config{})
		at := net.JoinHostPort(l.ServerAddr().String(), "0")
		busy, err := l.Server().ListenPacket(ctx, "udp", net.JoinHostPort(l.ServerAddr().String(), "10001"))
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		var ports []int
		for i := range 3 {
			if i%2 == 0 {
				ln, err := l.Server().Listen(ctx, "tcp", at)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
			} else {
				pc, err := l.Server().ListenPacket(ctx, "udp", at)
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				ports = append(ports, pc.LocalAddr().(*net.UDPAddr).Port)
			}
		}
		if want := []int{firstListenPort, firstListenPort + 2, firstListenPort + 3}; !slices.Equal(ports, want) {
			t.Errorf("ports %v, want %v (10001 is in use for UDP)", ports, want)
		}
	}
}
