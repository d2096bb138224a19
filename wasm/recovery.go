//go:build js && wasm

package main

import "github.com/wireplay/wireplay/protocol"

// recoveryKV is how a connection's losses were made and repaired, side by side: the emulated
// link's drops of its packets per direction (link mode), and for QUIC each endpoint's recovery
// from its qlog — probe timeouts, STREAM frames sent again, and the packets quic-go declared lost
// by acknowledgement (the only losses its own "packets lost" counts). "c / s" is client / server;
// "–" is a side whose counters are not at hand (a server not run by this process).
func recoveryKV(s protocol.Stats) []metric {
	var kv []metric
	if f := s.Link; f != nil {
		v := itoa(f.UpDropped) + " of " + itoa(f.UpSent) + " / " + itoa(f.DownDropped) + " of " + itoa(f.DownSent) + " pkts"
		title := "packets of this connection the emulated link dropped, client→server (↑) and server→client (↓), of those that entered it; counted by the link as each packet entered the wire"
		if f.UpDroppedPureACKs+f.DownDroppedPureACKs > 0 {
			title += "; pure ACKs among them (never sent again): " + itoa(f.UpDroppedPureACKs) + " ↑, " + itoa(f.DownDroppedPureACKs) + " ↓"
		}
		kv = append(kv, metric{"link dropped ↑ / ↓", v, title})
	}
	if r := s.QUICRecovery; r != nil {
		side := func(v func(*protocol.QUICRecovery) uint64) string {
			srv := "–"
			if r.Server != nil {
				srv = itoa(v(r.Server))
			}
			return itoa(v(&r.Client)) + " / " + srv
		}
		const from = " (client / server, each counted from its own qlog events)"
		kv = append(kv,
			metric{"PTO expiries c / s", side(func(q *protocol.QUICRecovery) uint64 { return q.PTOExpiries }), "probe timeouts that expired: the endpoint heard no acknowledgement in time and sent probe packets, usually carrying the unacknowledged data again" + from},
			metric{"frames re-sent c / s", side(func(q *protocol.QUICRecovery) uint64 { return q.StreamFramesResent }), "STREAM frames carrying data the endpoint had sent before (QUIC puts lost data in new packets)" + from},
			metric{"ack-detected lost c / s", side(func(q *protocol.QUICRecovery) uint64 { return q.PacketsDeclaredLost }) + " pkts", "packets declared lost because a later packet was acknowledged first: quic-go's own \"packets lost\", which misses every loss repaired after a probe timeout" + from},
		)
	}
	return kv
}
