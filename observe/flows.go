package observe

import (
	"sync"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
)

// MaxFlows is how many connections a Flows keeps; the oldest is forgotten.
const MaxFlows = 64

// Flows counts what a link did to each connection's packets, per direction: give it every
// packet with the connection it belongs to (a transport and its client port, as an
// Attribute hook or ByProtocol says). The zero value is ready; it is safe for concurrent use.
type Flows struct {
	mu    sync.Mutex
	m     map[connKey]*protocol.FlowCounts
	order []connKey // oldest first, for the cap
}

type connKey struct {
	t    protocol.Transport
	port uint16
}

// Add counts packet p of transport t's connection whose client side is port.
func (fs *Flows) Add(t protocol.Transport, port uint16, p *link.Packet) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	k := connKey{t, port}
	f := fs.m[k]
	if f == nil {
		if fs.m == nil {
			fs.m = map[connKey]*protocol.FlowCounts{}
		}
		if len(fs.order) >= MaxFlows {
			delete(fs.m, fs.order[0])
			fs.order = fs.order[1:]
		}
		f = &protocol.FlowCounts{}
		fs.m[k] = f
		fs.order = append(fs.order, k)
	}
	dropped := p.Fate == link.Dropped
	d := &p.Decoded
	pureACK := dropped && d.Proto == "tcp" && d.PayloadLen == 0 && d.Flags&(link.FlagSYN|link.FlagFIN|link.FlagRST) == 0
	switch p.Dir {
	case link.ClientToServer:
		f.UpSent++
		f.UpDropped += b2u(dropped)
		f.UpDroppedPureACKs += b2u(pureACK)
	case link.ServerToClient:
		f.DownSent++
		f.DownDropped += b2u(dropped)
		f.DownDroppedPureACKs += b2u(pureACK)
	}
}

// Get is what the link did to the packets of transport t's connection whose client side is
// clientPort; false when none was counted (or the flow was forgotten, MaxFlows flows later).
func (fs *Flows) Get(t protocol.Transport, clientPort uint16) (protocol.FlowCounts, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.m[connKey{t, clientPort}]
	if f == nil {
		return protocol.FlowCounts{}, false
	}
	return *f, true
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
