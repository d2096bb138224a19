package protocol

import (
	"encoding/json"
	"strconv"
)

// AppendEvent appends e's JSON encoding to b, byte for byte what encoding/json makes of it. The
// events on the measured path of every message (write, read, complete, lost, stats, pong) are
// encoded by hand, several times faster than by reflection; the rest go through encoding/json.
func AppendEvent(b []byte, e *Event) ([]byte, error) {
	if e.Session != "" || e.Transports != nil || e.T0 != 0 || e.Presets != nil || e.Link != nil ||
		e.Packets != nil || e.Skipped != 0 || e.Metrics != nil || e.Scenarios != nil || e.Report != nil || e.Place != 0 {
		j, err := json.Marshal(e)
		return append(b, j...), err
	}
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(e.V), 10)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	if e.Req != 0 {
		b = append(b, `,"req":`...)
		b = strconv.AppendUint(b, e.Req, 10)
	}
	if e.Transport != "" {
		b = append(b, `,"transport":`...)
		b = appendString(b, string(e.Transport))
	}
	if e.Msg != 0 {
		b = append(b, `,"msg":`...)
		b = strconv.AppendUint(b, e.Msg, 10)
	}
	b = append(b, `,"at_us":`...)
	b = strconv.AppendInt(b, e.AtMicros, 10)
	if e.DurMicros != 0 {
		b = append(b, `,"dur_us":`...)
		b = strconv.AppendInt(b, e.DurMicros, 10)
	}
	if e.Handshake != "" {
		b = append(b, `,"handshake":`...)
		b = appendString(b, e.Handshake)
	}
	if e.Bytes != 0 {
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, int64(e.Bytes), 10)
	}
	if len(e.Msgs) > 0 {
		b = append(b, `,"msgs":[`...)
		for i, m := range e.Msgs {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, m, 10)
		}
		b = append(b, ']')
	}
	if e.Text != "" {
		b = append(b, `,"text":`...)
		b = appendString(b, e.Text)
	}
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, e.Error)
	}
	if e.Stats != nil {
		b = append(b, `,"stats":`...)
		b = appendStats(b, e.Stats)
	}
	return append(b, '}'), nil
}

// appendString quotes s as encoding/json does; plain printable ASCII is copied, anything else
// (quotes, backslashes, control bytes, <, >, & which encoding/json escapes, non-ASCII) goes
// through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendStats(b []byte, s *Stats) []byte {
	b = append(b, '{')
	first := true
	field := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	num := func(name string, v uint64) {
		field(name)
		b = strconv.AppendUint(b, v, 10)
	}
	inum := func(name string, v int64) {
		field(name)
		b = strconv.AppendInt(b, v, 10)
	}
	obj := func(name string, fill func()) {
		field(name)
		b = append(b, '{')
		first = true
		fill()
		b = append(b, '}')
		first = false
	}
	tcp := func(name string, t *TCPStats) {
		obj(name, func() {
			inum("rtt_us", t.RTTMicros)
			inum("rttvar_us", t.RTTVarMicros)
			num("cwnd", uint64(t.Cwnd))
			if t.MSS != 0 {
				num("mss", uint64(t.MSS))
			}
			num("total_retrans", uint64(t.TotalRetrans))
			num("bytes_sent", t.BytesSent)
			num("bytes_received", t.BytesReceived)
			if t.SegsOut != 0 {
				num("segs_out", uint64(t.SegsOut))
			}
			if t.SegsIn != 0 {
				num("segs_in", uint64(t.SegsIn))
			}
		})
	}
	if s.TCP != nil {
		tcp("tcp", s.TCP)
	}
	if s.TCPServer != nil {
		tcp("tcp_server", s.TCPServer)
	}
	if q := s.QUIC; q != nil {
		obj("quic", func() {
			inum("srtt_us", q.SmoothedRTTMicros)
			inum("min_rtt_us", q.MinRTTMicros)
			inum("latest_rtt_us", q.LatestRTTMicros)
			num("cwnd_bytes", q.Cwnd)
			num("packets_sent", q.PacketsSent)
			num("packets_received", q.PacketsReceived)
			num("packets_lost", q.PacketsLost)
			num("bytes_sent", q.BytesSent)
			num("bytes_received", q.BytesReceived)
			num("bytes_lost", q.BytesLost)
		})
	}
	if r := s.QUICRecovery; r != nil {
		side := func(name string, q *QUICRecovery) {
			obj(name, func() {
				num("packets_sent", q.PacketsSent)
				num("packets_declared_lost", q.PacketsDeclaredLost)
				num("pto_expiries", q.PTOExpiries)
				num("stream_frames_resent", q.StreamFramesResent)
			})
		}
		obj("quic_recovery", func() {
			side("client", &r.Client)
			if r.Server != nil {
				side("server", r.Server)
			}
		})
	}
	if f := s.Link; f != nil {
		obj("link", func() {
			num("up_sent", f.UpSent)
			num("up_dropped", f.UpDropped)
			num("down_sent", f.DownSent)
			num("down_dropped", f.DownDropped)
			if f.UpDroppedPureACKs != 0 {
				num("up_dropped_pure_acks", f.UpDroppedPureACKs)
			}
			if f.DownDroppedPureACKs != 0 {
				num("down_dropped_pure_acks", f.DownDroppedPureACKs)
			}
		})
	}
	if q := s.Seq; q != nil {
		obj("seq", func() {
			num("sent", q.Sent)
			num("received", q.Received)
			num("lost", q.Lost)
			num("reordered", q.Reordered)
			num("duplicated", q.Duplicated)
		})
	}
	if w := s.WS; w != nil {
		obj("ws", func() {
			num("frames_sent", w.FramesSent)
			num("frames_received", w.FramesReceived)
			num("bytes_sent", w.BytesSent)
			num("bytes_received", w.BytesReceived)
			inum("rtt_us", w.RTTMicros)
		})
	}
	return append(b, '}')
}
