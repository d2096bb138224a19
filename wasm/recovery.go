//go:build js && wasm

package main

import "github.com/wireplay/wireplay/protocol"

// recoveryKV is how a connection's losses were made and repaired, side by side: the emulated
// link's drops of its packets per direction (link mode), and for QUIC each endpoint's recovery
// from its qlog — probe timeouts, STREAM frames sent again, and the packets quic-go declared lost
// by acknowledgement (the only losses its own "packets lost" counts). "c / s" is client / server;
// "–" is a side whose counters are not at hand (a server not run by this process).
func recoveryKV(s protocol.Stats) [][2]string {
	var kv [][2]string
	if f := s.Link; f != nil {
		kv = append(kv, [2]string{"link dropped ↑ / ↓", itoa(f.UpDropped) + " of " + itoa(f.UpSent) + " / " + itoa(f.DownDropped) + " of " + itoa(f.DownSent)})
	}
	if r := s.QUICRecovery; r != nil {
		side := func(v func(*protocol.QUICRecovery) uint64) string {
			srv := "–"
			if r.Server != nil {
				srv = itoa(v(r.Server))
			}
			return itoa(v(&r.Client)) + " / " + srv
		}
		kv = append(kv,
			[2]string{"PTO expiries c / s", side(func(q *protocol.QUICRecovery) uint64 { return q.PTOExpiries })},
			[2]string{"frames re-sent c / s", side(func(q *protocol.QUICRecovery) uint64 { return q.StreamFramesResent })},
			[2]string{"ack-detected lost c / s", side(func(q *protocol.QUICRecovery) uint64 { return q.PacketsDeclaredLost })},
		)
	} else if q := s.QUIC; q != nil {
		kv = append(kv, [2]string{"ack-detected lost (client)", itoa(q.PacketsLost)})
	}
	return kv
}
