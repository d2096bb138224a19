package scenarios

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"go.uber.org/goleak"
)

// logFlow names a flow of a packet log the way the link keys its random streams: IP protocol,
// server endpoint (where the flow's first packet went) and how many flows to that endpoint came
// before it.
type logFlow struct {
	proto  string
	server netip.AddrPort
	conn   int
}

// logFlowFates is one flow's packets in a log, per direction: how many entered the wire and the
// indices within the flow (from 1) of those the link dropped.
type logFlowFates struct {
	n     [2]int
	drops [2][]int
	quic  bool
}

func (f logFlow) String() string { return fmt.Sprintf("%s %v #%d", f.proto, f.server, f.conn) }

// flowsOfLog groups a packet log by flow (TCP and UDP packets that carry their ports).
func flowsOfLog(pkts []link.Packet) map[logFlow]*logFlowFates {
	type tuple struct {
		proto string
		a, b  netip.AddrPort
	}
	byTuple := map[tuple]*logFlowFates{}
	conns := map[[2]any]int{}
	out := map[logFlow]*logFlowFates{}
	for _, p := range pkts {
		d := p.Decoded
		if (d.Proto != "tcp" && d.Proto != "udp") || d.Fragment() {
			continue
		}
		k := tuple{d.Proto, d.Src, d.Dst}
		if k.b.Compare(k.a) < 0 {
			k.a, k.b = k.b, k.a
		}
		f := byTuple[k]
		if f == nil {
			f = &logFlowFates{}
			byTuple[k] = f
			id := logFlow{proto: d.Proto, server: d.Dst}
			id.conn = conns[[2]any{d.Proto, d.Dst}]
			conns[[2]any{d.Proto, d.Dst}]++
			out[id] = f
		}
		f.quic = f.quic || d.QUIC != ""
		f.n[p.Dir]++
		if p.Fate == link.Dropped {
			f.drops[p.Dir] = append(f.drops[p.Dir], f.n[p.Dir])
		}
	}
	return out
}

// lossOrderFlows runs the loss-order lesson once on a fresh link and returns its flows' fates.
func lossOrderFlows(t *testing.T, settings link.Settings, seed int64, params map[string]string) map[logFlow]*logFlowFates {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := Lookup("loss-order")
	ps, values, err := s.params(params)
	if err != nil {
		t.Fatal(err)
	}
	l, err := link.New(link.Config{Settings: settings, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	env := &Env{Link: l, Settings: settings, Seed: seed, Params: ps, values: values, Epoch: time.Now()}
	if _, err := s.Run(ctx, env); err != nil {
		t.Fatal(err)
	}
	pkts := l.Packets()
	if sent := l.Counts(link.ClientToServer).Sent + l.Counts(link.ServerToClient).Sent; uint64(len(pkts)) != sent {
		t.Fatalf("the log holds %d packets of the %d sent: it wrapped", len(pkts), sent)
	}
	return flowsOfLog(pkts)
}

// TestLossOrderSeedReproducesEachFlow: the loss-order lesson runs its five transports at once on
// one link, so their packets interleave differently on every run (and more so with another pause
// between messages). With the same seed each flow still meets the same fates: the same packets
// of each flow, counted within the flow, are dropped in each direction — UDP's datagrams, whose
// sends do not depend on timing, entirely; the other flows over the packets each run had.
func TestLossOrderSeedReproducesEachFlow(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const messages = 60
	settings := link.Both(link.Impairment{Delay: 5 * time.Millisecond, Loss: 0.1})
	var runs []map[logFlow]*logFlowFates
	for _, interval := range []string{"1ms", "1ms", "2ms"} {
		runs = append(runs, lossOrderFlows(t, settings, 3, map[string]string{"messages": "60", "interval": interval}))
	}
	udp := make([]*logFlowFates, len(runs))
	for i, flows := range runs {
		for id, f := range flows {
			if id.conn > 0 {
				t.Errorf("run %d: flow %s shares its server endpoint with another: the two may swap streams", i+1, id)
			}
			if id.proto == "udp" && !f.quic {
				if udp[i] != nil {
					t.Fatalf("run %d: two UDP echo flows", i+1)
				}
				udp[i] = f
			}
		}
		if udp[i] == nil || udp[i].n[link.ClientToServer] != messages {
			t.Fatalf("run %d: UDP flow %+v, want %d datagrams client to server", i+1, udp[i], messages)
		}
	}
	if len(udp[0].drops[link.ClientToServer]) == 0 {
		t.Fatalf("no UDP datagram of %d dropped at 10%% loss", messages)
	}
	for i := 1; i < len(runs); i++ {
		for _, dir := range link.Directions {
			if a, b := udp[0].drops[dir], udp[i].drops[dir]; !slices.Equal(a, b) {
				t.Errorf("UDP %s: run 1 dropped packets %v of its flow, run %d %v", dir, a, i+1, b)
			}
		}
	}
	common := 0
	for id, f := range runs[0] {
		for i := 1; i < len(runs); i++ {
			g, ok := runs[i][id]
			if !ok {
				t.Errorf("flow %s of run 1 is not in run %d", id, i+1)
				continue
			}
			common++
			for _, dir := range link.Directions {
				n := min(f.n[dir], g.n[dir])
				a := slices.DeleteFunc(slices.Clone(f.drops[dir]), func(k int) bool { return k > n })
				b := slices.DeleteFunc(slices.Clone(g.drops[dir]), func(k int) bool { return k > n })
				if !slices.Equal(a, b) {
					t.Errorf("flow %s %s, first %d packets: run 1 dropped %v, run %d %v", id, dir, n, a, i+1, b)
				}
			}
		}
	}
	if want := 5 * (len(runs) - 1); common < want {
		t.Errorf("%d flows in common between run 1 and the others, want at least %d (five transports)", common, want)
	}
}
