package scenarios

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
)

// TestNATMatrix: every pair of classic NAT types, run on the emulated network, connects directly
// exactly when RFC 4787's mapping and filtering rules say it can (natPredict), judged from what
// the peers' sockets received; the hop log agrees (punches from each side got through its
// peer's NAT, or none did), and the pair's messages went the way its outcome says.
func TestNATMatrix(t *testing.T) {
	pr := natParams{delay: 5 * time.Millisecond, every: 25 * time.Millisecond, punches: 20} // the defaults
	pairs, err := runNATMatrix(context.Background(), pr)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 16 {
		t.Fatalf("%d pairs, want 16", len(pairs))
	}
	direct := 0
	for _, p := range pairs {
		want, why := natPredict(p.a.cfg, p.b.cfg)
		got := p.direct()
		if got != want {
			t.Errorf("%s ↔ %s: measured %s, RFC 4787 predicts %s (%s); B heard A from %v, A heard B from %v",
				p.a.name, p.b.name, natOutcome(got), natOutcome(want), why, p.heard[0], p.heard[1])
		}
		if got {
			direct++
		}
		if punchedThrough := p.delivered[0]+p.delivered[1] > 0; punchedThrough != got {
			t.Errorf("%s ↔ %s: %s, but the hop log has %d and %d punches delivered", p.a.name, p.b.name, natOutcome(got), p.delivered[0], p.delivered[1])
		}
		natCheckMessages(t, p)
		for i := range 2 {
			if p.observed[i].Addr() != [2]netip.Addr{natPubA, natPubB}[i] {
				t.Errorf("%s ↔ %s: the server saw %s at %v, not at its NAT's address", p.a.name, p.b.name, natNames[i], p.observed[i])
			}
		}
		// A peer behind a NAT that maps per destination is heard from another port than the
		// server saw; behind one that maps endpoint-independently, from the same.
		for i, c := range []link.NATConfig{p.a.cfg, p.b.cfg} {
			if h := p.heard[i]; h.IsValid() && (h == p.observed[i]) != (c.Mapping == link.EndpointIndependent) {
				t.Errorf("%s ↔ %s: %s heard at %v, seen by the server at %v, with %v mapping", p.a.name, p.b.name, natNames[i], h, p.observed[i], c.Mapping)
			}
		}
	}
	if direct == 0 || direct == len(pairs) {
		t.Errorf("%d of %d pairs direct: the matrix shows no contrast", direct, len(pairs))
	}
}

// natCheckMessages: neither peer's message is lost, and one goes straight to the peer only in a
// pair measured direct (a peer sends directly once its own punch was answered, else through the
// server). In a pair that cannot punch through, both relay.
func natCheckMessages(t *testing.T, p *natPair) {
	t.Helper()
	for i := range 2 {
		if p.data[i] == "" || (p.data[i] == "direct" && !p.direct()) || (!p.direct() && p.data[i] != "relayed") {
			t.Errorf("%s ↔ %s (%s): %s's message went %q", p.a.name, p.b.name, natOutcome(p.direct()), natNames[i], natDashIfEmpty(p.data[i]))
		}
	}
}

// TestNATPredictAllBehaviours: the same for every pair of the nine mapping × filtering
// combinations, not only the classic four: 81 pairs, each measured on its own network.
func TestNATPredictAllBehaviours(t *testing.T) {
	var types []natType
	bs := []link.Behavior{link.EndpointIndependent, link.AddressDependent, link.AddressAndPortDependent}
	short := []string{"EI", "AD", "APD"}
	for i, m := range bs {
		for j, f := range bs {
			types = append(types, natType{name: short[i] + "M+" + short[j] + "F", cfg: link.NATConfig{Mapping: m, Filtering: f}})
		}
	}
	pr := natParams{delay: 5 * time.Millisecond, every: 25 * time.Millisecond, punches: 20} // the defaults
	pairs, err := runNATPairs(context.Background(), pr, types, 9)
	if err != nil {
		t.Fatal(err)
	}
	direct := 0
	for _, p := range pairs {
		want, why := natPredict(p.a.cfg, p.b.cfg)
		if p.direct() != want {
			t.Errorf("%s ↔ %s: measured %s, predicted %s (%s); B heard A from %v, A heard B from %v",
				p.a.name, p.b.name, natOutcome(p.direct()), natOutcome(want), why, p.heard[0], p.heard[1])
		}
		if p.direct() {
			direct++
		}
		natCheckMessages(t, p)
	}
	t.Logf("%d of %d pairs direct", direct, len(pairs))
}

// TestNATPredictClassic: the predictor gives the outcome the hole-punching literature reports
// for the classic types (RFC 5128 §3.3; Ford, Srisuresh and Kegel 2005): only a symmetric NAT
// facing a symmetric or a port-restricted one defeats UDP hole punching.
func TestNATPredictClassic(t *testing.T) {
	for _, a := range natTypes {
		for _, b := range natTypes {
			fails := (a.name == "symmetric" && (b.name == "symmetric" || b.name == "port-restricted")) ||
				(b.name == "symmetric" && a.name == "port-restricted")
			if got, why := natPredict(a.cfg, b.cfg); got == fails {
				t.Errorf("%s ↔ %s: predicted direct %v (%s)", a.name, b.name, got, why)
			}
		}
	}
}

// TestNATLesson: the lesson's default run: every cell as predicted, no message lost, and the
// keep-alive claim — idle past the timeout, the mapping expires, the server's message finds no
// mapping and the peer comes back on a new port; with keep-alives it holds.
func TestNATLesson(t *testing.T) {
	rep, err := Run(context.Background(), Lookup("nat"), Options{Params: map[string]string{"mapping_timeout": "400ms", "keepalive": "50ms"}})
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Runs[0]
	m := map[string]float64{}
	for _, x := range res.Metrics {
		m[x.Name] = x.Value
	}
	if m["pairs_as_rfc4787_predicts"] != m["pairs"] || m["pairs"] != 16 || m["messages_lost"] != 0 {
		t.Errorf("metrics %v", m)
	}
	if m["pairs_direct"]+m["pairs_relayed"] != 16 || m["punches_refused"] == 0 {
		t.Errorf("metrics %v", m)
	}
	if m["push_received_without_keepalive"] != 0 || m["mappings_expired_without_keepalive"] != 1 ||
		m["push_received_with_keepalive"] != 1 || m["mappings_expired_with_keepalive"] != 0 {
		t.Errorf("keep-alive metrics %v", m)
	}
	var ka *Table
	for i := range res.Tables {
		if strings.HasPrefix(res.Tables[i].Title, "Keep-alive") {
			ka = &res.Tables[i]
		}
	}
	if ka == nil || len(ka.Rows) != 2 {
		t.Fatalf("keep-alive table %+v", ka)
	}
	if no := ka.Rows[0]; no[2] != link.VerdictNoMapping || no[5] == no[6] {
		t.Errorf("without keep-alive: %v; want the push dropped for want of a mapping and a new port after", no)
	}
	if with := ka.Rows[1]; with[2] != link.VerdictDelivered || with[5] != with[6] {
		t.Errorf("with keep-alive: %v; want the push delivered and the same port after", with)
	}
	// QUIC across the rebinding: a new external port after the idle time, the echo back on the
	// one connection the server accepted.
	if m["quic_survived_rebinding"] != 1 {
		t.Errorf("quic metrics %v", m)
	}
	q := res.Tables[len(res.Tables)-1]
	if !strings.HasPrefix(q.Title, "QUIC") || len(q.Rows) != 1 || q.Rows[0][0] == q.Rows[0][1] || q.Rows[0][2] != "1" || q.Rows[0][4] != "1" {
		t.Errorf("QUIC table %+v: want a new external endpoint, one mapping expired, one connection", q)
	}
	if !strings.Contains(res.Conclusion, "16 of 16 cells") {
		t.Errorf("conclusion %q", res.Conclusion)
	}
}

// TestNATLessonDiagram: the lesson streams the traced pair's packets for the page's sequence
// diagram, from A's side: A's first packet to the server goes out under a new mapping, the
// server's answer comes back to that same mapping, and (port-restricted A against a symmetric
// B) A's NAT drops packets of B's that its filtering does not let in.
func TestNATLessonDiagram(t *testing.T) {
	var mu sync.Mutex
	var evs []protocol.Event
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := Run(ctx, Lookup("nat"), Options{Progress: func(e protocol.Event) {
		mu.Lock()
		evs = append(evs, e)
		mu.Unlock()
	}}); err != nil {
		t.Fatal(err)
	}
	var pkts []protocol.PacketInfo
	for _, e := range evs {
		if e.Type == protocol.EventPackets {
			pkts = append(pkts, e.Packets...)
		}
	}
	var mapped string
	var answered, filtered bool
	for _, p := range pkts {
		switch {
		case p.Dir == "up" && mapped == "" && strings.Contains(p.Summary, "→ 192.0.2.1:") && strings.Contains(p.Summary, "(new mapping)"):
			_, after, _ := strings.Cut(p.Summary, "out as ")
			mapped, _, _ = strings.Cut(after, " ")
		case p.Dir == "down" && mapped != "" && strings.Contains(p.Summary, "from server ") && strings.Contains(p.Summary, "→ "+mapped+",") && p.Fate == "delivered":
			answered = true
		case p.Dir == "down" && p.Fate == "dropped" && strings.HasPrefix(p.Rule, "filtered"):
			filtered = true
		}
	}
	if mapped == "" || !answered || !filtered {
		t.Fatalf("%d packets: A's mapping %q, the server's answer to it %v, a packet filtered by A's NAT %v", len(pkts), mapped, answered, filtered)
	}
}
