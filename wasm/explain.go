//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

// metric is one line of a column's stack metrics: its label, its value with its unit, and a
// tooltip saying what it measures and where the number comes from.
type metric struct{ label, value, title string }

// Tooltips of the column tiles. The round trip is measured by the server's relay client, not in
// the browser: see transports.Client (write to the read that completed the echo).
const (
	tipRTT = "round trip of the last message, in ms: measured by the server's relay client from its " +
		"write on this transport to the read that completed the echo (the echo endpoint's turn-around " +
		"included). The browser↔server leg over /relay is not in it: that is the meter at the top."
	tipRTTDgram = tipRTT + " A datagram not echoed within the server's --loss-timeout counts as lost instead."
	tipP50      = "median (p50) of this column's last 200 round trips, in ms, as the rtt tile shows them"
	tipHS       = "time the connection set-up took, in ms, measured by the server's relay client; hover the value for what it covers"
	tipReads    = "what each read call on the server's relay client returned: its size in bytes, which messages' bytes it held, and a preview"
	tipRelayRTT = "browser ↔ server: round trip of the page's ping (every 2 s) over the /relay WebSocket, in ms, " +
		"on the browser's clock, from sending it to reading the server's pong. The columns' round trips do not include it: " +
		"the server measures those on its side."
	tipReadsDg = tipReads + ". A UDP or QUIC datagram read counts the 8-byte sequence number wireplay puts before each message, so it is 8 B more than the message."
)

// explainTiles titles a column's tiles and read list with what they measure.
func (c *column) explainTiles() {
	dgram := c.datagrams()
	tip := func(val js.Value, t string) {
		if p := val.Get("parentElement"); p.Truthy() {
			p.Set("title", t)
		}
	}
	tip(c.hs, tipHS)
	if dgram {
		tip(c.rtt, tipRTTDgram)
	} else {
		tip(c.rtt, tipRTT)
	}
	tip(c.p50, tipP50)
	t := tipReads
	if dgram {
		t = tipReadsDg
	}
	c.reads.Set("title", t)
}

// metricList is the column's latest stack metrics, labelled, with units and tooltips.
func (c *column) metricList() []metric {
	var kv []metric
	if q := c.stats.Seq; q != nil {
		kv = append(kv, seqMetrics(q)...)
	}
	if q := c.stats.QUIC; q != nil {
		kv = append(kv, quicMetrics(q, c.stats.Seq != nil, c.stats.QUICRecovery != nil)...)
	}
	if t := c.stats.TCP; t != nil {
		kv = append(kv, tcpMetrics(t, c.stats.TCPServer)...)
	}
	if w := c.stats.WS; w != nil {
		kv = append(kv,
			metric{"frames out", itoa(w.FramesSent) + " msgs", "WebSocket messages the relay client wrote (one data frame each; pings and other control frames not counted)"},
			metric{"frames in", itoa(w.FramesReceived) + " msgs", "WebSocket messages the relay client read back"},
			metric{"sent", fmtBytes(w.BytesSent), "message payload bytes written (frame headers and masking not counted)"},
			metric{"recv", fmtBytes(w.BytesReceived), "message payload bytes read back"},
			metric{"rtt", fmtMicros(w.RTTMicros), "round trip of the last message, in ms, timed by the WebSocket reader itself: from the write of a message to the read of its echo"},
		)
	}
	return append(kv, recoveryKV(c.stats)...)
}

func seqMetrics(q *protocol.SeqStats) []metric {
	const how = " (counted by wireplay from the 8-byte sequence number it puts before each message; the stack itself does not count what the application lost)"
	return []metric{
		{"sent", itoa(q.Sent) + " dgrams", "datagrams written" + how},
		{"received", itoa(q.Received) + " dgrams", "datagrams echoed back" + how},
		{"lost", itoa(q.Lost) + " dgrams", "datagrams with no echo within the server's --loss-timeout (1 s by default); one that comes later moves to received and counts as reordered" + how},
		{"reordered", itoa(q.Reordered) + " dgrams", "echoes that came after the echo of a later datagram" + how},
		{"duplicated", itoa(q.Duplicated) + " dgrams", "echoes of a sequence number already received" + how},
	}
}

// quicMetrics are the client connection's stats; withRecovery leaves quic-go's own "packets lost"
// to the recovery metrics, which show it for both sides beside the probe timeouts.
func quicMetrics(q *protocol.QUICStats, dgram, withRecovery bool) []metric {
	srtt := metric{"srtt", fmtMicros(q.SmoothedRTTMicros), "quic-go's smoothed RTT of the client's connection (RFC 9002), in ms: the stack's estimate from ACK delays, not a message round trip"}
	cwnd := metric{"cwnd", fmtBytes(q.Cwnd), "quic-go's congestion window of the client's connection, in bytes (" + itoa(q.Cwnd) + " B)"}
	lost := []metric{{"ack-detected lost (client)", itoa(q.PacketsLost) + " pkts", "packets quic-go's ACK-based loss detection declared lost on the client (its own \"packets lost\"); packets re-sent after a probe timeout are not counted"}}
	if withRecovery {
		lost = nil
	}
	if dgram { // QUIC datagrams: the connection's view, briefly
		return append([]metric{srtt, cwnd}, lost...)
	}
	return append([]metric{
		srtt,
		{"min rtt", fmtMicros(q.MinRTTMicros), "smallest RTT sample quic-go has seen on the connection, in ms"},
		cwnd,
		{"pkts sent", itoa(q.PacketsSent) + " pkts", "QUIC packets the client's connection sent"},
	}, lost...)
}

func tcpMetrics(t *protocol.TCPStats, sv *protocol.TCPStats) []metric {
	cwnd := metric{"cwnd", itoa(t.Cwnd) + " seg", "the client's congestion window from TCP_INFO (snd_cwnd), in segments; the MSS is not known here"}
	if t.MSS > 0 {
		b := uint64(t.Cwnd) * uint64(t.MSS)
		cwnd = metric{"cwnd", fmtBytes(b), "the client's congestion window in bytes: TCP_INFO snd_cwnd " + itoa(t.Cwnd) + " segments × MSS " + itoa(t.MSS) + " B = " + itoa(b) + " B (QUIC's cwnd is in bytes too)"}
	}
	kv := []metric{
		{"rtt", fmtMicros(t.RTTMicros), "the kernel's smoothed RTT of the client socket (TCP_INFO tcpi_rtt; netstack's on the emulated link), in ms: the stack's estimate from ACKs, not the message round trip of the rtt tile"},
		{"rttvar", fmtMicros(t.RTTVarMicros), "the variation of that smoothed RTT (TCP_INFO tcpi_rttvar), in ms"},
		cwnd,
		{"retrans client", itoa(t.TotalRetrans) + " segs", "segments the client's TCP sent again (TCP_INFO tcpi_total_retrans)"},
		{"sent", fmtBytes(t.BytesSent), "bytes the client's TCP sent (TCP_INFO tcpi_bytes_sent, retransmissions included; on the emulated link, bytes the application wrote)"},
		{"recv", fmtBytes(t.BytesReceived), "bytes the client's TCP received (TCP_INFO tcpi_bytes_received; on the emulated link, bytes the application read)"},
	}
	if sv != nil {
		kv = append(kv, metric{"retrans server", itoa(sv.TotalRetrans) + " segs", "segments the server's side of the same connection (wireplay's echo endpoint) sent again: echoes re-sent"})
	}
	return kv
}
