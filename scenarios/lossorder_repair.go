package scenarios

import (
	"fmt"
	"net/netip"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/transports"
)

// loRepair is what the link did to one transport's connection and how each side repaired it:
// the link's drops per direction (its own fates, counted as the packets entered the wire), the
// TCP stacks' retransmission counters (TCP_INFO of both ends for TCP, the client's for
// WebSocket) and both QUIC endpoints' recovery from their qlog events.
type loRepair struct {
	port             uint16
	proto            string // "tcp" or "udp"
	tcpClient        *protocol.TCPStats
	tcpServer        *protocol.TCPStats
	quicLost         *uint64 // quic-go's own "packets lost", the client's
	flow             protocol.FlowCounts
	quic             *protocol.QUICRecoveryStats
	flowOK, finished bool
}

// start reads the client's stack counters (and, for TCP, the echo's side of the same
// connection) while the connection is still open.
func (r *loRepair) start(c *transports.Client, tcpEcho *transports.TCPEcho) {
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return
	}
	r.port = ap.Port()
	st := c.Stats()
	if st == nil {
		return
	}
	if st.TCP != nil {
		r.tcpClient = st.TCP
		if tcpEcho != nil {
			if sv, ok := tcpEcho.PeerStats(c.LocalAddr()); ok {
				r.tcpServer = &sv
			}
		}
	}
	if st.QUIC != nil {
		r.quicLost = &st.QUIC.PacketsLost
	}
}

// finish reads the link's counts of the connection and its QUIC recovery, after it closed.
func (r *loRepair) finish(env *Env, t protocol.Transport) {
	if r.port == 0 {
		return
	}
	r.finished = true
	r.proto = "udp"
	if t == protocol.TCP || t == protocol.WS {
		r.proto = "tcp"
	}
	r.flow, r.flowOK = env.Flow(r.proto, r.port)
	if t == protocol.QUICStream || t == protocol.QUICDgram {
		if q, ok := env.QUICRecovery(r.port); ok {
			r.quic = &q
		}
	}
}

// loRepairTable is the lesson's second table: one row per transport.
func loRepairTable(outs []*loOutcome) Table {
	tb := Table{Title: "What the link dropped, and how each side repaired it",
		Columns: []string{"transport", "link dropped ↑ (of sent)", "link dropped ↓ (of sent)", "client repaired", "server repaired"}}
	for _, o := range outs {
		r := &o.repair
		up, down := "-", "-"
		if r.flowOK {
			up = dropCell(r.flow.UpDropped, r.flow.UpSent, r.flow.UpDroppedPureACKs)
			down = dropCell(r.flow.DownDropped, r.flow.DownSent, r.flow.DownDroppedPureACKs)
		}
		client, server := r.sides(o.t)
		tb.Rows = append(tb.Rows, []string{string(o.t), up, down, client, server})
	}
	return tb
}

// dropCell is "3 of 140 (2 pure ACKs)".
func dropCell(dropped, sent, pureACKs uint64) string {
	s := fmt.Sprintf("%d of %d", dropped, sent)
	if pureACKs > 0 {
		s += fmt.Sprintf(" (%s)", holPlural(int(pureACKs), "pure ACK"))
	}
	return s
}

// sides describe the client's and the server's repairs in words.
func (r *loRepair) sides(t protocol.Transport) (client, server string) {
	tcp := func(s *protocol.TCPStats) string {
		if s == nil {
			return "- (not read)"
		}
		return fmt.Sprintf("%s retransmitted (TCP_INFO)", holPlural(int(s.TotalRetrans), "segment"))
	}
	quic := func(q *protocol.QUICRecovery) string {
		if q == nil {
			return "- (no qlog)"
		}
		s := fmt.Sprintf("%s expired, %s declared lost by ACK", holPlural(int(q.PTOExpiries), "probe timeout"), holPlural(int(q.PacketsDeclaredLost), "packet"))
		if t == protocol.QUICStream {
			s += fmt.Sprintf(", %s sent again", holPlural(int(q.StreamFramesResent), "STREAM frame"))
		}
		return s
	}
	switch {
	case t == protocol.UDP:
		return "nothing: UDP does not repair", "nothing: UDP does not repair"
	case r.quic != nil:
		return quic(&r.quic.Client), quic(r.quic.Server)
	case t == protocol.WS:
		return "- (the WebSocket client's TCP counters are not read)", "- (the WebSocket server's TCP counters are not read)"
	case t == protocol.TCP:
		return tcp(r.tcpClient), tcp(r.tcpServer)
	}
	return "-", "-"
}

// metrics are the repair's figures as metrics, for repeats and the page.
func (r *loRepair) metrics(name string) []Metric {
	var ms []Metric
	add := func(metric string, v uint64) {
		ms = append(ms, Metric{Transport: name, Name: metric, Unit: "count", Value: float64(v)})
	}
	if r.flowOK {
		add("link_dropped_up", r.flow.UpDropped)
		add("link_dropped_down", r.flow.DownDropped)
	}
	if r.tcpClient != nil {
		add("tcp_retrans_client", uint64(r.tcpClient.TotalRetrans))
	}
	if r.tcpServer != nil {
		add("tcp_retrans_server", uint64(r.tcpServer.TotalRetrans))
	}
	if q := r.quic; q != nil {
		add("quic_pto_client", q.Client.PTOExpiries)
		add("quic_declared_lost_client", q.Client.PacketsDeclaredLost)
		if q.Server != nil {
			add("quic_pto_server", q.Server.PTOExpiries)
			add("quic_declared_lost_server", q.Server.PacketsDeclaredLost)
		}
	}
	return ms
}

// loQUICNote compares, from the QUIC stream's numbers, what the link dropped of the client's
// packets with quic-go's own "packets lost" (the client's), and says why they differ.
func loQUICNote(outs []*loOutcome) string {
	for _, o := range outs {
		r := &o.repair
		if o.t != protocol.QUICStream || !r.flowOK || r.quic == nil || r.quicLost == nil {
			continue
		}
		up, lost, pto := r.flow.UpDropped, *r.quicLost, r.quic.Client.PTOExpiries
		s := fmt.Sprintf(" The link dropped %s of QUIC stream's client packets; quic-go's own \"packets lost\" on the client counted %d", holPlural(int(up), "packet"), lost)
		switch {
		case up == 0 && lost == 0:
			return ""
		case lost < up:
			return s + fmt.Sprintf(": it counts only losses detected by a later acknowledgement. The client's probe timeout expired %s; a lost packet that carried only acknowledgements needs no repair, the next one repeats them.", holPlural(int(pto), "time"))
		case lost == up:
			return s + "."
		default:
			return s + ", more than were dropped: a packet overtaken by later ones (reordering) is declared lost although it was only late, and its data is sent again needlessly."
		}
	}
	return ""
}
