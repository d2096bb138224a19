package observe

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
)

// QUIC packets carry their packet numbers and frames, taken from the sending endpoint's qlog: up
// packets from the client connection's packet_sent events, down packets from the server
// connection's. A connection's connection_started event tells which client UDP port its packets
// use (the client's local port, the server's remote one). quic-go records packet_sent
// before it writes the datagram, so when the observer describes a link packet (in order per
// direction), the events of what it carries are already queued; the packet takes the sender's
// next events whose lengths add up to its UDP payload (an Initial and a Handshake packet
// coalesced in one datagram are two events).
const (
	maxQUICSent     = 256 // events queued per connection and direction; older ones are dropped
	maxQUICConns    = 16  // connections tracked per link; the oldest is forgotten
	maxQUICStreams  = 256 // streams whose sent offsets are tracked per connection and direction
	quicMatchSkip   = 8   // queued events a packet may skip to find its own (sends never seen)
	maxQUICAckShown = 4   // ACK ranges shown per frame
	maxQUICSummary  = maxSummary
)

// QUIC is a link's registry of the QUIC packets its endpoints have sent and not yet matched to
// link packets: give its Tracer (or Record) the qlog events of the connections on the link, and a
// Stream configured with it describes their packets. It is safe for concurrent use; recording
// never blocks beyond a short lock.
type QUIC struct {
	mu    sync.Mutex
	conns map[string]*quicConn // by original destination connection ID
	order []*quicConn          // oldest first
	ports map[uint16]*quicConn // by the client's UDP port
}

type quicConn struct {
	odcid string
	port  uint16
	dirs  [2]quicDir // by link.Direction
}

type quicDir struct {
	sent    []quicSent
	streams map[int64]int64 // stream ID → end of the data sent so far
	rec     protocol.QUICRecovery
	traced  bool // an event of this side arrived
}

// quicSent is one packet_sent event, described when it is recorded (quic-go may reuse frames).
type quicSent struct {
	desc   string // "1-RTT pn=17 STREAM,ACK[0-16]"
	length int    // the whole packet: header, payload and AEAD tag
	retx   bool   // a STREAM frame carries data sent before
}

// NewQUIC returns an empty registry.
func NewQUIC() *QUIC {
	return &QUIC{conns: map[string]*quicConn{}, ports: map[uint16]*quicConn{}}
}

// connLocked returns the connection with odcid, making it (and forgetting the oldest) if new.
func (q *QUIC) connLocked(odcid string) *quicConn {
	if c := q.conns[odcid]; c != nil {
		return c
	}
	if len(q.order) >= maxQUICConns {
		old := q.order[0]
		q.order = slices.Delete(q.order, 0, 1)
		delete(q.conns, old.odcid)
		if q.ports[old.port] == old {
			delete(q.ports, old.port)
		}
	}
	c := &quicConn{odcid: odcid}
	q.conns[odcid] = c
	q.order = append(q.order, c)
	return c
}

// Record takes one qlog event of connection odcid (a client's when isClient): its
// connection_started tells the connection's client port, its packet_sent events are the packets
// it sends, and its packet_lost and expired PTO timers are counted for Recovery. Other events
// are ignored.
func (q *QUIC) Record(odcid quic.ConnectionID, isClient bool, ev qlogwriter.Event) {
	dir := link.ServerToClient
	if isClient {
		dir = link.ClientToServer
	}
	switch e := ev.(type) {
	case qlog.PacketLost:
		q.count(odcid, dir, func(r *protocol.QUICRecovery) { r.PacketsDeclaredLost++ })
	case qlog.TimerUpdated:
		if e.Type == qlog.TimerEventTypeExpired && e.TimerType == qlog.TimerTypePTO {
			q.count(odcid, dir, func(r *protocol.QUICRecovery) { r.PTOExpiries++ })
		}
	case qlog.StartedConnection:
		end := e.Remote
		if isClient {
			end = e.Local
		}
		ap := end.IPv4
		if !ap.IsValid() {
			ap = end.IPv6
		}
		if ap.IsValid() {
			q.setPort(odcid, ap.Port())
		}
	case qlog.PacketSent:
		q.sent(odcid, dir, &e)
	}
}

// count applies fn to the recovery counters of connection odcid's side that sends in dir.
func (q *QUIC) count(odcid quic.ConnectionID, dir link.Direction, fn func(*protocol.QUICRecovery)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := &q.connLocked(string(odcid.Bytes())).dirs[dir]
	d.traced = true
	fn(&d.rec)
}

// Recovery is the loss recovery of the connection whose client uses UDP port clientPort, each
// endpoint's from its own qlog events; Server is nil when none of the server's arrived. It says
// false when no connection with that port is known (or it was forgotten, maxQUICConns later).
func (q *QUIC) Recovery(clientPort uint16) (protocol.QUICRecoveryStats, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.ports[clientPort]
	if c == nil {
		return protocol.QUICRecoveryStats{}, false
	}
	r := protocol.QUICRecoveryStats{Client: c.dirs[link.ClientToServer].rec}
	if d := c.dirs[link.ServerToClient]; d.traced {
		r.Server = &d.rec
	}
	return r, true
}

// setPort records that connection odcid's packets use client port p.
func (q *QUIC) setPort(odcid quic.ConnectionID, p uint16) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.connLocked(string(odcid.Bytes()))
	if c.port == p {
		return
	}
	if q.ports[c.port] == c {
		delete(q.ports, c.port)
	}
	c.port = p
	q.ports[p] = c
}

// sent records a packet_sent event of connection odcid in direction dir.
func (q *QUIC) sent(odcid quic.ConnectionID, dir link.Direction, ev *qlog.PacketSent) {
	if ev.IsMTUProbePacket && ev.Raw.Length == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.connLocked(string(odcid.Bytes()))
	d := &c.dirs[dir]
	d.traced = true
	d.rec.PacketsSent++
	s := quicSent{length: ev.Raw.Length}
	var resent int
	s.desc, resent = describeQUICPacket(ev, d)
	s.retx = resent > 0
	d.rec.StreamFramesResent += uint64(resent)
	if len(d.sent) >= maxQUICSent {
		d.sent = d.sent[1:]
	}
	d.sent = append(d.sent, s)
}

// annotate rewrites the summary of a QUIC link packet whose client side is clientPort with the
// packet numbers and frames of the sender's packets it carries, when its queued events match its
// UDP payload; otherwise the summary stays as the wire described it.
func (q *QUIC) annotate(in *protocol.PacketInfo, p *link.Packet, clientPort uint16) {
	if p.Decoded.Proto != "udp" || p.Decoded.PayloadLen <= 0 || (p.Dir != link.ClientToServer && p.Dir != link.ServerToClient) {
		return
	}
	want := p.Decoded.PayloadLen
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.ports[clientPort]
	if c == nil {
		return
	}
	d := &c.dirs[p.Dir]
	for start := 0; start < min(len(d.sent), quicMatchSkip); start++ {
		sum := 0
		for end := start; end < len(d.sent) && sum < want; end++ {
			sum += d.sent[end].length
			if sum != want {
				continue
			}
			var b strings.Builder
			b.WriteString("QUIC ")
			for i, s := range d.sent[start : end+1] {
				if i > 0 {
					b.WriteString(" + ")
				}
				b.WriteString(s.desc)
				in.Retransmit = in.Retransmit || s.retx
			}
			fmt.Fprintf(&b, " len=%d", want)
			in.Summary = b.String()
			if len(in.Summary) > maxQUICSummary {
				in.Summary = in.Summary[:maxQUICSummary]
			}
			d.sent = d.sent[end+1:]
			return
		}
	}
}

// describeQUICPacket is a packet_sent event's "1-RTT pn=17 STREAM,ACK[0-16]" and how many of its
// STREAM frames carry data the direction has sent before (QUIC retransmits lost data in packets
// with new numbers).
func describeQUICPacket(ev *qlog.PacketSent, d *quicDir) (string, int) {
	var b strings.Builder
	b.WriteString(quicPacketType(ev.Header.PacketType))
	fmt.Fprintf(&b, " pn=%d", ev.Header.PacketNumber)
	retx := 0
	var names []string
	for _, f := range ev.Frames {
		name := quicFrameName(f.Frame)
		switch fr := f.Frame.(type) {
		case *qlog.StreamFrame:
			if fr.Length > 0 {
				if d.streams == nil {
					d.streams = map[int64]int64{}
				}
				id := int64(fr.StreamID)
				end, seen := d.streams[id]
				if seen && fr.Offset < end {
					retx++
				}
				if !seen && len(d.streams) >= maxQUICStreams {
					clear(d.streams)
				}
				d.streams[id] = max(end, fr.Offset+fr.Length)
			}
		case *qlog.AckFrame:
			name = quicAckName(fr)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		b.WriteByte(' ')
		b.WriteString(strings.Join(names, ","))
	}
	return b.String(), retx
}

// quicAckName is an ACK frame with its ranges, smallest first: "ACK[0-5,7-9]".
func quicAckName(f *qlog.AckFrame) string {
	var b strings.Builder
	b.WriteString("ACK[")
	r := f.AckRanges
	if len(r) > maxQUICAckShown {
		b.WriteString("…,")
		r = r[:maxQUICAckShown] // the newest
	}
	for i := len(r) - 1; i >= 0; i-- {
		if i < len(r)-1 {
			b.WriteByte(',')
		}
		if r[i].Smallest == r[i].Largest {
			fmt.Fprintf(&b, "%d", r[i].Smallest)
		} else {
			fmt.Fprintf(&b, "%d-%d", r[i].Smallest, r[i].Largest)
		}
	}
	b.WriteByte(']')
	return b.String()
}

func quicPacketType(t qlog.PacketType) string {
	switch t {
	case qlog.PacketTypeInitial:
		return "Initial"
	case qlog.PacketTypeHandshake:
		return "Handshake"
	case qlog.PacketType0RTT:
		return "0-RTT"
	case qlog.PacketType1RTT:
		return "1-RTT"
	}
	return string(t)
}

func quicFrameName(f any) string {
	switch f.(type) {
	case *qlog.PingFrame:
		return "PING"
	case *qlog.AckFrame:
		return "ACK"
	case *qlog.ResetStreamFrame:
		return "RESET_STREAM"
	case *qlog.StopSendingFrame:
		return "STOP_SENDING"
	case *qlog.CryptoFrame:
		return "CRYPTO"
	case *qlog.NewTokenFrame:
		return "NEW_TOKEN"
	case *qlog.StreamFrame:
		return "STREAM"
	case *qlog.MaxDataFrame:
		return "MAX_DATA"
	case *qlog.MaxStreamDataFrame:
		return "MAX_STREAM_DATA"
	case *qlog.MaxStreamsFrame:
		return "MAX_STREAMS"
	case *qlog.DataBlockedFrame:
		return "DATA_BLOCKED"
	case *qlog.StreamDataBlockedFrame:
		return "STREAM_DATA_BLOCKED"
	case *qlog.StreamsBlockedFrame:
		return "STREAMS_BLOCKED"
	case *qlog.NewConnectionIDFrame:
		return "NEW_CONNECTION_ID"
	case *qlog.RetireConnectionIDFrame:
		return "RETIRE_CONNECTION_ID"
	case *qlog.PathChallengeFrame:
		return "PATH_CHALLENGE"
	case *qlog.PathResponseFrame:
		return "PATH_RESPONSE"
	case *qlog.ConnectionCloseFrame:
		return "CONNECTION_CLOSE"
	case *qlog.HandshakeDoneFrame:
		return "HANDSHAKE_DONE"
	case *qlog.DatagramFrame:
		return "DATAGRAM"
	case *qlog.AckFrequencyFrame:
		return "ACK_FREQUENCY"
	case *qlog.ImmediateAckFrame:
		return "IMMEDIATE_ACK"
	}
	return "?"
}

// Tracer is a quic.Config.Tracer that keeps no trace, only passing each connection's events to
// Record. Join it with a qlog's tracer (transports.JoinTracers) to keep both.
func (q *QUIC) Tracer(_ context.Context, isClient bool, odcid quic.ConnectionID) qlogwriter.Trace {
	return quicTrace{q: q, odcid: odcid, isClient: isClient}
}

type quicTrace struct {
	q        *QUIC
	odcid    quic.ConnectionID
	isClient bool
}

func (t quicTrace) AddProducer() qlogwriter.Recorder { return t }

func (t quicTrace) RecordEvent(ev qlogwriter.Event) { t.q.Record(t.odcid, t.isClient, ev) }

func (t quicTrace) Close() error { return nil }
