package protocol_test

import (
	"encoding/json"
	"testing"

	"github.com/wireplay/wireplay/protocol"
)

func sameAsEncodingJSON(t *testing.T, e protocol.Event) {
	t.Helper()
	want, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.AppendEvent(nil, &e)
	if err != nil || string(got) != string(want) {
		t.Errorf("AppendEvent\n got %s (%v)\nwant %s", got, err, want)
	}
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	for name, e := range map[string]protocol.Event{
		"zero":         {},
		"write":        {V: 1, Type: "write", Req: 7, Transport: protocol.TCP, Msg: 3, AtMicros: 1234, Bytes: 64, Text: "#0001 abcdef"},
		"read":         {V: 1, Type: "read", Req: 7, Transport: protocol.UDP, Msg: 3, Msgs: []uint64{3, 4, 5}, AtMicros: 99, Bytes: 200, Text: "héllo <b>&\"\\\n\x01"},
		"empty msgs":   {V: 1, Type: "read", Msgs: []uint64{}},
		"complete":     {V: 1, Type: "complete", Req: 1, Transport: protocol.QUICStream, Msg: 1, AtMicros: -5, DurMicros: 48, Bytes: 5, Text: "hello"},
		"error":        {V: 1, Type: "error", Error: "send quic-dgram: DATAGRAM frame too large"},
		"connected":    {V: 1, Type: "connected", Transport: protocol.QUICDgram, DurMicros: 1200, Handshake: protocol.HandshakeQUIC},
		"no handshake": {V: 1, Type: "connected", Transport: protocol.UDP, Handshake: protocol.HandshakeNone},
		"stats": {V: 1, Type: "stats", Transport: protocol.TCP, Stats: &protocol.Stats{
			TCP:       &protocol.TCPStats{RTTMicros: 8, RTTVarMicros: 3, Cwnd: 10, MSS: 1448, TotalRetrans: 2, BytesSent: 5, BytesReceived: 5, SegsOut: 4},
			TCPServer: &protocol.TCPStats{RTTMicros: 9, Cwnd: 11, TotalRetrans: 3, BytesSent: 5, BytesReceived: 5, SegsIn: 2},
			QUIC:      &protocol.QUICStats{SmoothedRTTMicros: 1, MinRTTMicros: 2, LatestRTTMicros: 3, Cwnd: 4, PacketsSent: 5, PacketsReceived: 6, PacketsLost: 7, BytesSent: 8, BytesReceived: 9, BytesLost: 10},
			QUICRecovery: &protocol.QUICRecoveryStats{Client: protocol.QUICRecovery{PacketsSent: 9, PacketsDeclaredLost: 1, PTOExpiries: 3, StreamFramesResent: 4},
				Server: &protocol.QUICRecovery{PacketsSent: 8, PTOExpiries: 2, StreamFramesResent: 2}},
			Link: &protocol.FlowCounts{UpSent: 10, UpDropped: 1, DownSent: 9, DownDropped: 2, DownDroppedPureACKs: 1},
			Seq:  &protocol.SeqStats{Sent: 1, Received: 1},
			WS:   &protocol.WSStats{FramesSent: 1, RTTMicros: 30},
		}},
		"stats empty":           {V: 1, Type: "stats", Stats: &protocol.Stats{}},
		"recovery, client only": {V: 1, Type: "stats", Stats: &protocol.Stats{QUICRecovery: &protocol.QUICRecoveryStats{Client: protocol.QUICRecovery{PTOExpiries: 1}}}},
		"seq only":              {V: 1, Type: "lost", Stats: &protocol.Stats{Seq: &protocol.SeqStats{Lost: 1}}},
		"pong":                  {V: 1, Type: "pong", Req: 4, T0: 1234.5},
		"welcome":               {V: 1, Type: "welcome", Session: "abc", Transports: protocol.Transports},
		"packets":               {V: 1, Type: "packets", Packets: []protocol.PacketInfo{{Dir: "up", Fate: "dropped", Summary: "SYN"}}, Skipped: 3},
	} {
		t.Run(name, func(t *testing.T) { sameAsEncodingJSON(t, e) })
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("complete", "tcp", "hello", "", uint64(1), int64(2), 3, uint32(4))
	f.Add("read", "udp", "<&>\u2028\xff", "oops\"", uint64(0), int64(-1), 0, uint32(0))
	f.Fuzz(func(t *testing.T, typ, tr, text, errText string, req uint64, at int64, bytes int, cwnd uint32) {
		e := protocol.Event{V: 1, Type: typ, Transport: protocol.Transport(tr), Text: text, Error: errText,
			Req: req, AtMicros: at, Bytes: bytes, Msgs: []uint64{req}}
		if cwnd%2 == 0 {
			e.Stats = &protocol.Stats{TCP: &protocol.TCPStats{Cwnd: cwnd, SegsIn: cwnd / 3}}
		}
		sameAsEncodingJSON(t, e)
	})
}
