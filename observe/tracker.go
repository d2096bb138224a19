package observe

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
)

const (
	maxSummary = 200  // characters of a packet's summary
	maxFlows   = 1024 // TCP flows whose sequence state is kept
)

// tracker describes link packets for the page (protocol.PacketInfo): their decoded headers
// with TCP sequence numbers relative to each direction's SYN, and whether a TCP segment carries
// data already sent. It keeps each flow's sequence state, so it must see a link's packets in order
// (link.Packet.Seq); the zero value is ready. It is not safe for concurrent use.
type tracker struct {
	flows map[flowKey]*flowState
}

type flowKey struct {
	port uint16 // client side
	dir  link.Direction
}

type flowState struct {
	isn     uint32
	hasISN  bool
	started bool
	maxEnd  uint32
}

// ByProtocol attributes a packet by protocol: "tcp", "quic" for UDP that decodes as QUIC,
// "udp", or "" for anything else; clientPort is the client host's side of it. It keeps every
// packet (ok is always true): a lesson's link carries only the lesson's own traffic.
func ByProtocol(p *link.Packet) (t protocol.Transport, clientPort uint16, ok bool) {
	d := &p.Decoded
	client := d.Src
	if p.Dir == link.ServerToClient {
		client = d.Dst
	}
	switch {
	case d.Proto == "tcp":
		return protocol.TCP, client.Port(), true
	case d.Proto == "udp" && d.QUIC != "":
		return "quic", client.Port(), true
	case d.Proto == "udp":
		return protocol.UDP, client.Port(), true
	}
	return "", client.Port(), true
}

// info describes packet p of transport t, whose client side is clientPort, with times counted
// from epoch.
func (k *tracker) info(p *link.Packet, t protocol.Transport, clientPort uint16, epoch time.Time) protocol.PacketInfo {
	dir := "up"
	if p.Dir == link.ServerToClient {
		dir = "down"
	}
	in := protocol.PacketInfo{
		Transport:     t,
		AtMicros:      p.Time.Sub(epoch).Microseconds(),
		Dir:           dir,
		Size:          p.Size,
		Fate:          string(p.Fate),
		Rule:          string(p.Rule),
		LatencyMicros: p.Latency.Microseconds(),
		QueuedMicros:  p.Queued.Microseconds(),
		Duplicated:    p.Duplicated,
		PayloadLen:    p.Decoded.PayloadLen,
	}
	in.Summary, in.Retransmit = k.describe(p, clientPort)
	if len(in.Summary) > maxSummary {
		in.Summary = in.Summary[:maxSummary]
	}
	return in
}

// seqBefore is TCP sequence-space a < b.
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

func (k *tracker) flow(key flowKey) *flowState {
	if k.flows == nil {
		k.flows = map[flowKey]*flowState{}
	}
	f := k.flows[key]
	if f == nil {
		if len(k.flows) >= maxFlows {
			clear(k.flows)
		}
		f = &flowState{}
		k.flows[key] = f
	}
	return f
}

// describe is a packet's decoded header ("SYN seq=0", "ACK seq=1 ack=33 win=… len=32 sack=…")
// and whether a TCP segment carries data already sent (a retransmission).
func (k *tracker) describe(p *link.Packet, port uint16) (string, bool) {
	d := p.Decoded
	if d.FragOffset > 0 {
		return fmt.Sprintf("IP fragment off=%d len=%d", d.FragOffset, d.PayloadLen), false
	}
	frag := ""
	if d.MoreFragments {
		frag = " (first IP fragment)"
	}
	switch d.Proto {
	case "tcp":
		f := k.flow(flowKey{port, p.Dir})
		rev := k.flows[flowKey{port, 1 - p.Dir}]
		if d.Flags&link.FlagSYN != 0 {
			f.isn, f.hasISN = d.TCPSeq, true
		}
		rel := func(seq uint32, f *flowState) uint32 {
			if f != nil && f.hasISN {
				return seq - f.isn
			}
			return seq
		}
		retx := false
		if d.PayloadLen > 0 && d.Flags&link.FlagSYN == 0 {
			end := d.TCPSeq + uint32(d.PayloadLen)
			if f.started && seqBefore(d.TCPSeq, f.maxEnd) {
				retx = true
			}
			if !f.started || seqBefore(f.maxEnd, end) {
				f.maxEnd, f.started = end, true
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s seq=%d", d.Flags, rel(d.TCPSeq, f))
		if d.Flags&link.FlagACK != 0 {
			fmt.Fprintf(&b, " ack=%d", rel(d.TCPAck, rev))
		}
		fmt.Fprintf(&b, " win=%d len=%d", d.Window, d.PayloadLen)
		for i, s := range d.SACK {
			if i == 0 {
				b.WriteString(" sack=")
			} else {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d-%d", rel(s.Start, rev), rel(s.End, rev))
		}
		return b.String(), retx
	case "udp":
		if d.QUIC == "" {
			return fmt.Sprintf("UDP len=%d%s", d.PayloadLen, frag), false
		}
		s := "QUIC " + d.QUIC
		if d.DCID != nil {
			s += " dcid=" + hex.EncodeToString(d.DCID)
		}
		return fmt.Sprintf("%s len=%d", s, d.PayloadLen), false
	}
	return d.String(), false
}
