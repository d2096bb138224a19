package scenarios

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
)

// Live packets of a run (Options.Progress): the link's packets are batched and passed on as
// "packets" events without ever holding up the link's goroutines.
const (
	ProgressBatch  = 60                    // packets in one "packets" event
	ProgressEvery  = 50 * time.Millisecond // how often a batch is sent
	ProgressBuffer = 1024                  // packets waiting for the next batch; more are skipped
	ProgressPerRun = 2000                  // packets one run forwards at most; the rest are skipped
	maxSummary     = 200                   // characters of a packet's summary
	maxFlows       = 1024                  // TCP flows whose sequence state is kept
)

// PacketTracker describes link packets for the page (protocol.PacketInfo): their decoded headers
// with TCP sequence numbers relative to each direction's SYN, and whether a TCP segment carries
// data already sent. It keeps each flow's sequence state, so it must see a link's packets in order
// (link.Packet.Seq); the zero value is ready. It is not safe for concurrent use.
//
// The relay's sequence diagrams and the lessons' use the same tracker.
type PacketTracker struct {
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

// PacketTransport attributes a packet by protocol: "tcp", "quic" for UDP that decodes as QUIC,
// "udp", or "" for anything else; clientPort is the client host's side of it.
func PacketTransport(p *link.Packet) (t protocol.Transport, clientPort uint16) {
	d := &p.Decoded
	client := d.Src
	if p.Dir == link.ServerToClient {
		client = d.Dst
	}
	switch {
	case d.Proto == "tcp":
		return protocol.TCP, client.Port()
	case d.Proto == "udp" && d.QUIC != "":
		return "quic", client.Port()
	case d.Proto == "udp":
		return protocol.UDP, client.Port()
	}
	return "", client.Port()
}

// Info describes packet p of transport t, whose client side is clientPort, with times counted
// from epoch.
func (k *PacketTracker) Info(p *link.Packet, t protocol.Transport, clientPort uint16, epoch time.Time) protocol.PacketInfo {
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

func (k *PacketTracker) flow(key flowKey) *flowState {
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
func (k *PacketTracker) describe(p *link.Packet, port uint16) (string, bool) {
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

// packetStream forwards one run's packets to Options.Progress: the link's goroutines only append
// to a bounded buffer (or count a skip); a goroutine of its own converts and sends a batch every
// ProgressEvery.
type packetStream struct {
	emit  func(protocol.Event)
	epoch time.Time

	mu       sync.Mutex
	pending  []link.Packet
	skipped  uint64 // not yet reported
	accepted int    // packets taken this run

	tracker PacketTracker // the sender's
	done    chan struct{}
	wg      sync.WaitGroup
	unsub   func()
}

// streamPackets starts forwarding l's packets to emit, times counted from epoch.
func streamPackets(l *link.Link, epoch time.Time, emit func(protocol.Event)) *packetStream {
	ps := &packetStream{emit: emit, epoch: epoch, done: make(chan struct{})}
	ps.unsub = l.OnPacket(ps.onPacket)
	ps.wg.Go(ps.loop)
	return ps
}

// onPacket runs on the sending stack's goroutine: it never blocks beyond a short lock.
func (ps *packetStream) onPacket(p link.Packet) {
	p.Data = nil
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.accepted >= ProgressPerRun || len(ps.pending) >= ProgressBuffer {
		ps.skipped++
		return
	}
	ps.accepted++
	ps.pending = append(ps.pending, p)
}

func (ps *packetStream) loop() {
	tick := time.NewTicker(ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-ps.done:
			return
		case <-tick.C:
			ps.send(false)
		}
	}
}

// send passes on what is pending, in batches; final reports the skipped count even without packets.
func (ps *packetStream) send(final bool) {
	ps.mu.Lock()
	pkts, skipped := ps.pending, ps.skipped
	ps.pending, ps.skipped = nil, 0
	ps.mu.Unlock()
	if len(pkts) == 0 && (skipped == 0 || !final) {
		if skipped > 0 {
			ps.mu.Lock()
			ps.skipped += skipped // reported with the next packets
			ps.mu.Unlock()
		}
		return
	}
	slices.SortFunc(pkts, func(a, b link.Packet) int { return cmp.Compare(a.Seq, b.Seq) })
	infos := make([]protocol.PacketInfo, len(pkts))
	for i := range pkts {
		t, port := PacketTransport(&pkts[i])
		infos[i] = ps.tracker.Info(&pkts[i], t, port, ps.epoch)
	}
	at := time.Since(ps.epoch).Microseconds()
	for first := true; first || len(infos) > 0; first = false {
		n := min(len(infos), ProgressBatch)
		ps.emit(protocol.Event{Type: protocol.EventPackets, AtMicros: at, Packets: infos[:n:n], Skipped: skipped})
		infos, skipped = infos[n:], 0
	}
}

// stop unsubscribes, stops the sender and passes on the rest; after it, emit is not called.
func (ps *packetStream) stop() {
	ps.unsub()
	close(ps.done)
	ps.wg.Wait()
	ps.send(true)
}
