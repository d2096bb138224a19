package link

import "encoding/binary"

// Flows. A flow is the packets of one 5-tuple (IP protocol, two addresses, two ports), in both
// directions; a fragment belongs to the flow of its datagram's first piece. Each flow draws its
// fates from a random stream of its own in each direction, so what a seed decides for one flow
// does not depend on how its packets interleave with other flows' (five transports sharing one
// link, each run interleaved differently by the scheduler: from one stream per direction, each
// flow would take whichever draws were next).
//
// A flow's stream must be the same on every run, while the client's port is ephemeral, so it is
// keyed by the seed, the direction and the flow's identity (flowID): its IP protocol, its server
// endpoint — the destination of the first packet the wire saw of it, a TCP SYN's or a UDP flow's
// first datagram's — and how many flows to that endpoint the wire saw before it. The hosts give
// listeners on port 0 the next free port from firstListenPort, in the order they are opened (see
// Host.Listen), so a lesson that starts its servers one after another finds them on the same
// ports every run. Flows to one endpoint that start at the same time (two clients dialling one
// server at once) may swap streams from run to run; give each its own server port to keep them
// apart.

// endpoint is an IPv4 address and port packed as addr<<16 | port.
type endpoint uint64

func endpointOf(addr []byte, port uint16) endpoint {
	return endpoint(binary.BigEndian.Uint32(addr))<<16 | endpoint(port)
}

// flowID names a flow's random streams; the zero flowID is every packet that is not IPv4.
type flowID struct {
	proto  uint8    // IP protocol number
	server endpoint // where the flow's first packet went (port 0 without TCP or UDP ports)
	conn   uint32   // flows to server seen before this one
}

// fiveTuple is a flow's key, the same in both directions: a <= b.
type fiveTuple struct {
	proto uint8
	a, b  endpoint
}

// fragKey names an IPv4 datagram whose fragments are on the wire.
type fragKey struct {
	proto    uint8
	src, dst uint32
	id       uint16
}

// The flow table's bounds. Beyond maxFlows flows the oldest is forgotten: should its packets
// come again they start a new flow (conn counted on), with a new stream. maxFlows also bounds
// the server endpoints whose flows are counted, and each direction's per-flow fate state.
const (
	maxFlows     = 4096
	maxFragments = 1024 // datagrams whose later fragments are awaited
)

// flowTable tells which flow a packet belongs to; the Link's, guarded by l.mu.
type flowTable struct {
	ids   boundedMap[fiveTuple, flowID]
	conns boundedMap[flowID, uint32] // by proto and server endpoint (conn 0): flows seen to it
	frags boundedMap[fragKey, flowID]
}

func newFlowTable() flowTable {
	return flowTable{
		ids:   boundedMap[fiveTuple, flowID]{max: maxFlows},
		conns: boundedMap[flowID, uint32]{max: maxFlows},
		frags: boundedMap[fragKey, flowID]{max: maxFragments},
	}
}

// classify returns the flow of packet b (an IP packet as the host wrote it), registering the
// flow if it is new.
func (t *flowTable) classify(b []byte) flowID {
	if len(b) < 20 || b[0]>>4 != 4 {
		return flowID{}
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || ihl > len(b) {
		return flowID{}
	}
	proto := b[9]
	frag := binary.BigEndian.Uint16(b[6:8])
	fk := fragKey{proto, binary.BigEndian.Uint32(b[12:16]), binary.BigEndian.Uint32(b[16:20]), binary.BigEndian.Uint16(b[4:6])}
	if frag&0x1fff != 0 { // a later fragment: no transport header
		if id, ok := t.frags.get(fk); ok {
			return id
		}
		return flowID{proto: proto, server: endpointOf(b[16:20], 0)}
	}
	var sport, dport uint16
	if (proto == 6 || proto == 17) && len(b) >= ihl+4 {
		sport, dport = binary.BigEndian.Uint16(b[ihl:]), binary.BigEndian.Uint16(b[ihl+2:])
	}
	id := t.flow(proto, endpointOf(b[12:16], sport), endpointOf(b[16:20], dport))
	if frag&0x2000 != 0 { // the first fragment of several
		t.frags.put(fk, id)
	}
	return id
}

// flow returns the flow of a packet from src to dst, registering it with dst as its server
// endpoint if the wire has not seen it before.
func (t *flowTable) flow(proto uint8, src, dst endpoint) flowID {
	k := fiveTuple{proto, min(src, dst), max(src, dst)}
	if id, ok := t.ids.get(k); ok {
		return id
	}
	id := flowID{proto: proto, server: dst}
	n, _ := t.conns.get(id)
	t.conns.put(id, n+1)
	id.conn = n
	t.ids.put(k, id)
	return id
}
