package link

import (
	"context"
	"fmt"
	"net"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// ListenBacklog is h.Listen(ctx, network, address) with an accept queue of backlog connections
// instead of the link's default 1024, for watching what a full queue does.
//
// Netstack's listener behaves like Linux's: while handshakes are in progress it answers further
// SYNs with SYN cookies (keeping no state), drops SYNs once backlog established connections wait
// to be accepted, and drops the handshake's final ACK (or the first data segment that stands for
// it) when the queue is full by the time it arrives. ListenQueueStats counts each of these.
func (h *Host) ListenBacklog(ctx context.Context, network, address string, backlog int) (net.Listener, error) {
	if backlog < 1 {
		return nil, fmt.Errorf("link listen: backlog %d < 1", backlog)
	}
	return h.listen(ctx, network, address, backlog)
}

// ListenQueueStats are a host's TCP listen-queue counters since the link was made (netstack's
// stack-wide statistics, summed over its listeners).
type ListenQueueStats struct {
	// SynDrop counts SYNs dropped because the accept queue was full.
	SynDrop uint64
	// SynCookieSent counts SYN-ACKs sent as SYN cookies (no half-open state kept).
	SynCookieSent uint64
	// SynCookieRcvd counts valid cookie ACKs that became connections.
	SynCookieRcvd uint64
	// AckDrop counts final ACKs (or data standing for them) dropped because the accept queue was
	// full: the client believes it is connected; the server has no connection until the client
	// retransmits.
	AckDrop uint64
	// InvalidCookie counts ACKs to the listener that matched no cookie (answered with RST).
	InvalidCookie uint64
}

// ListenQueue returns the host's listen-queue counters.
func (h *Host) ListenQueue() ListenQueueStats {
	st := h.s.Stats().TCP
	v := func(c *tcpip.StatCounter) uint64 { return c.Value() }
	return ListenQueueStats{
		SynDrop:       v(st.ListenOverflowSynDrop),
		SynCookieSent: v(st.ListenOverflowSynCookieSent),
		SynCookieRcvd: v(st.ListenOverflowSynCookieRcvd),
		AckDrop:       v(st.ListenOverflowAckDrop),
		InvalidCookie: v(st.ListenOverflowInvalidSynCookieRcvd),
	}
}
