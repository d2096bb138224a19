package link

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Rule names why the link dropped a packet.
type Rule string

// The drop rules, in the order they are applied.
const (
	RuleBlackhole Rule = "blackhole"
	RuleMTU       Rule = "mtu"
	RuleDropNth   Rule = "dropnth"
	RuleBurst     Rule = "burst"
	RuleLoss      Rule = "loss"
	RuleQueue     Rule = "queue"
)

// Rules lists every drop rule.
var Rules = []Rule{RuleBlackhole, RuleMTU, RuleDropNth, RuleBurst, RuleLoss, RuleQueue}

// Fate is what happened to a packet.
type Fate string

// Fates.
const (
	Delivered Fate = "delivered"
	Dropped   Fate = "dropped"
)

// Packet is one packet that entered the wire.
type Packet struct {
	Seq   uint64    // order among all packets of the link, from 1
	Index uint64    // order within its direction, from 1
	Time  time.Time // when the sending stack put it on the wire
	Dir   Direction
	Size  int // bytes, IP header included
	Fate  Fate
	Rule  Rule // why it was dropped; empty when delivered
	// Duplicated is set when the wire delivered the packet twice.
	Duplicated bool
	// Queued is how long the packet waited behind others in the rate limiter's queue.
	Queued time.Duration
	// Latency is the total time from entering the wire to delivery: queueing, serialization,
	// delay and jitter. Zero for dropped packets.
	Latency time.Duration
	Decoded Decoded
	// Data holds the first Config.SnapLen bytes of the packet.
	Data []byte
}

// Decoded is a packet's headers.
type Decoded struct {
	Proto    string // "tcp", "udp", "icmp", or the IP protocol number; "" if not IPv4
	Src, Dst netip.AddrPort

	// TCP
	Flags  TCPFlags
	TCPSeq uint32
	TCPAck uint32
	Window uint16
	SACK   []SACKBlock

	// PayloadLen is the TCP or UDP payload length.
	PayloadLen int

	// QUIC is set for UDP payloads that look like QUIC: "Initial", "0-RTT", "Handshake",
	// "Retry", "VersionNegotiation" or "short header".
	QUIC string
	// DCID is the destination connection ID of a QUIC long-header packet.
	DCID []byte

	// FragOffset is the byte offset of an IPv4 fragment's data in its datagram, and
	// MoreFragments the IP "more fragments" flag. A fragment after the first carries no transport
	// header: its ports are 0 and PayloadLen is its share of the datagram.
	FragOffset    int
	MoreFragments bool
}

// Fragment reports whether the packet is a piece of a fragmented IPv4 datagram.
func (d Decoded) Fragment() bool { return d.FragOffset > 0 || d.MoreFragments }

// SACKBlock is one selective acknowledgement block, [Start, End).
type SACKBlock struct{ Start, End uint32 }

// TCPFlags are the TCP header flags.
type TCPFlags uint8

// TCP flags.
const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// String lists the flags, e.g. "SYN|ACK".
func (f TCPFlags) String() string {
	names := []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}
	var parts []string
	for i, n := range names {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Summary is a one-line description of the packet, e.g.
// "c2s #3 60B 127.0.1.1:40000 > 127.0.1.2:80 TCP SYN seq=1 ack=0 len=0 delivered".
func (p Packet) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s #%d %dB %s", p.Dir, p.Index, p.Size, p.Decoded.String())
	switch p.Fate {
	case Dropped:
		fmt.Fprintf(&b, " dropped(%s)", p.Rule)
	default:
		fmt.Fprintf(&b, " delivered")
		if p.Duplicated {
			b.WriteString(" duplicated")
		}
		if p.Queued > 0 {
			fmt.Fprintf(&b, " queued=%v", p.Queued)
		}
		if p.Latency > 0 {
			fmt.Fprintf(&b, " latency=%v", p.Latency)
		}
	}
	return b.String()
}

// String describes the headers.
func (d Decoded) String() string {
	if d.FragOffset > 0 {
		return fmt.Sprintf("%s > %s %s fragment off=%d len=%d", d.Src.Addr(), d.Dst.Addr(), strings.ToUpper(d.Proto), d.FragOffset, d.PayloadLen)
	}
	switch d.Proto {
	case "tcp":
		s := fmt.Sprintf("%s > %s TCP %s seq=%d ack=%d win=%d len=%d", d.Src, d.Dst, d.Flags, d.TCPSeq, d.TCPAck, d.Window, d.PayloadLen)
		if len(d.SACK) > 0 {
			var parts []string
			for _, b := range d.SACK {
				parts = append(parts, fmt.Sprintf("%d-%d", b.Start, b.End))
			}
			s += " sack=" + strings.Join(parts, ",")
		}
		return s
	case "udp":
		s := fmt.Sprintf("%s > %s UDP len=%d", d.Src, d.Dst, d.PayloadLen)
		if d.MoreFragments {
			s += " (first IP fragment)"
		}
		if d.QUIC != "" {
			s += " QUIC " + d.QUIC
			if d.DCID != nil {
				s += " dcid=" + hex.EncodeToString(d.DCID)
			}
		}
		return s
	case "":
		return "non-IPv4"
	}
	return fmt.Sprintf("%s > %s %s", d.Src.Addr(), d.Dst.Addr(), strings.ToUpper(d.Proto))
}

// decode parses an IPv4 packet. It never panics on short input.
func decode(b []byte) Decoded {
	var d Decoded
	if len(b) < 20 || b[0]>>4 != 4 {
		return d
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || total > len(b) || total < ihl {
		total = len(b)
		if ihl < 20 || ihl > len(b) {
			return d
		}
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	proto := b[9]
	l4 := b[ihl:total]
	d.MoreFragments = b[6]&0x20 != 0
	d.FragOffset = int(binary.BigEndian.Uint16(b[6:8])&0x1fff) * 8
	if d.FragOffset > 0 { // no transport header in this piece
		switch proto {
		case 6:
			d.Proto = "tcp"
		case 17:
			d.Proto = "udp"
		case 1:
			d.Proto = "icmp"
		default:
			d.Proto = fmt.Sprint(proto)
		}
		d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		d.PayloadLen = len(l4)
		return d
	}
	switch proto {
	case 6:
		d.Proto = "tcp"
		if len(l4) < 20 {
			d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
			return d
		}
		d.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2]))
		d.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4]))
		d.TCPSeq = binary.BigEndian.Uint32(l4[4:8])
		d.TCPAck = binary.BigEndian.Uint32(l4[8:12])
		off := int(l4[12]>>4) * 4
		d.Flags = TCPFlags(l4[13])
		d.Window = binary.BigEndian.Uint16(l4[14:16])
		if off < 20 || off > len(l4) {
			return d
		}
		d.PayloadLen = len(l4) - off
		d.SACK = parseSACK(l4[20:off])
	case 17:
		d.Proto = "udp"
		if len(l4) < 8 {
			d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
			return d
		}
		d.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2]))
		d.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4]))
		d.PayloadLen = len(l4) - 8
		d.QUIC, d.DCID = quicHeader(l4[8:])
	case 1:
		d.Proto = "icmp"
		d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
	default:
		d.Proto = fmt.Sprint(proto)
		d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
	}
	return d
}

func parseSACK(opts []byte) []SACKBlock {
	var blocks []SACKBlock
	for i := 0; i < len(opts); {
		kind := opts[i]
		if kind == 0 {
			break
		}
		if kind == 1 {
			i++
			continue
		}
		if i+1 >= len(opts) {
			break
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			break
		}
		if kind == 5 {
			for j := i + 2; j+8 <= i+l; j += 8 {
				blocks = append(blocks, SACKBlock{binary.BigEndian.Uint32(opts[j:]), binary.BigEndian.Uint32(opts[j+4:])})
			}
		}
		i += l
	}
	return blocks
}

// quicHeader recognises QUIC v1 (RFC 9000) and v2 (RFC 9369) long headers and version
// negotiation. Short headers carry no version, so a payload with the fixed bit set and the long
// bit clear is only a candidate "short header"; Link.classifyQUIC keeps it only on a flow that
// has carried a long header.
func quicHeader(p []byte) (string, []byte) {
	if len(p) == 0 {
		return "", nil
	}
	if p[0]&0x80 == 0 {
		if p[0]&0x40 != 0 && len(p) >= 21 {
			return "short header", nil
		}
		return "", nil
	}
	if len(p) < 7 {
		return "", nil
	}
	version := binary.BigEndian.Uint32(p[1:5])
	dcidLen := int(p[5])
	if dcidLen > 20 || 6+dcidLen > len(p) {
		return "", nil
	}
	dcid := append([]byte(nil), p[6:6+dcidLen]...)
	if version == 0 {
		return "VersionNegotiation", dcid
	}
	if p[0]&0x40 == 0 {
		return "", nil
	}
	typ := (p[0] >> 4) & 3
	switch version {
	case 0x00000001:
		return [...]string{"Initial", "0-RTT", "Handshake", "Retry"}[typ], dcid
	case 0x6b3343cf:
		return [...]string{"Retry", "Initial", "0-RTT", "Handshake"}[typ], dcid
	}
	return "", nil
}

// Counts are a direction's packet counters since the link was made.
type Counts struct {
	Sent       uint64 // packets that entered the wire
	Delivered  uint64 // packets handed to the other host (a duplicate counts once)
	Duplicated uint64 // extra copies delivered
	Dropped    map[Rule]uint64
	SentBytes  uint64
}

// DroppedTotal sums the drops of every rule.
func (c Counts) DroppedTotal() uint64 {
	var n uint64
	for _, v := range c.Dropped {
		n += v
	}
	return n
}
