package report

import (
	"strings"
)

// metricWords are whole metric names whose words need more than a word-by-word reading.
var metricWords = map[string]string{
	"first_echo_round_trips":     "round trips to the first echo",
	"first_echo_p50_ms":          "first echo, median",
	"first_echo_max_ms":          "first echo, slowest",
	"connect_p50_ms":             "connect time, median",
	"connect_max_ms":             "connect time, slowest",
	"connects_final_ack_dropped": "connects whose final ACK was dropped",
	"connects_over_rto":          "connects slower than one retransmission timeout",
	"connects_with_syn_retry":    "connects that needed a SYN retry",
	"server_final_ack_drops":     "final ACKs the server dropped",
	"server_syn_cookies_sent":    "SYN cookies the server sent",
	"server_syn_drops":           "SYNs the server dropped",
	"server_closed_first":        "connections the server closed first",
	"close_packets_sent":         "packets sent to close",
	"rst_on_abort":               "RST on abort",
	"used_0rtt":                  "0-RTT accepted",
	"max_datagram":               "largest datagram delivered",
	"big_reads":                  "reads of the big message",
	"big_packets":                "packets of the big message",
	"big_segments":               "segments of the big message",
	"p50_delay":                  "delay, median",
	"p99_delay":                  "delay, 99th percentile",
	"time_wait_client":           "TIME_WAIT on the client",
	"time_wait":                  "TIME_WAIT",
	"active_closer_client":       "the client closed first",
	"lost_messages":              "messages lost",
	"blackout_offset":            "blackout fell into the rhythm at",
	"process_stall_max":          "the lesson itself ran late by, at most",
	"silence_client":             "client heard nothing for",
	"silence_server":             "server heard nothing for",
	"theory_client":              "theory, client",
	"theory_server":              "theory, server",
	"theory_min_client":          "theory at least, client",
	"theory_min_server":          "theory at least, server",
	"sent_in_silence_client":     "client sent meanwhile",
	"sent_in_silence_server":     "server sent meanwhile",
	"probes_in_silence_client":   "keepalive probes the client sent meanwhile",
	"probes_in_silence_server":   "keepalive probes the server sent meanwhile",
	"healthy_killed_client":      "client killed a healthy connection",
	"healthy_killed_server":      "server killed a healthy connection",
}

// metricToken spells one word of a metric name.
var metricToken = map[string]string{
	"rtt": "RTT", "rtts": "RTTs", "p50": "median", "p99": "99th percentile", "syn": "SYN", "syns": "SYNs",
	"rst": "RST", "ack": "ACK", "rto": "RTO", "mss": "MSS", "0rtt": "0-RTT", "quic": "QUIC",
	"tcp": "TCP", "udp": "UDP", "ws": "WebSocket", "redials": "re-dials", "realised": "realised",
	"detect": "detected by",
}

// MetricLabel is a metric's name in words for the page and the HTML report: "stream1_stall_ms"
// is "stream 1 stall", "goodput_20ms_loss0.5" is "goodput at 20ms RTT, 0.5% loss". The unit has
// a column of its own, so a trailing "_ms" is dropped. Machine names stay in JSON, CSV and the
// cells' tooltips.
func MetricLabel(name string) string {
	if l, ok := metricWords[name]; ok {
		return l
	}
	n, loss := splitMetric(name)
	words := strings.Split(n, "_")
	if len(words) > 1 && words[len(words)-1] == "ms" {
		words = words[:len(words)-1]
	}
	for i, w := range words {
		if t, ok := metricToken[w]; ok {
			words[i] = t
		}
	}
	s := strings.Join(words, " ")
	if (strings.HasPrefix(name, "goodput_") || strings.HasPrefix(name, "realised_loss_")) && len(words) > 1 {
		// goodput_20ms_loss1: the RTT is the word before the loss
		last := len(words) - 1
		s = strings.Join(words[:last], " ") + " at " + words[last] + " RTT"
	}
	return s + loss
}

// splitMetric spaces a leading "streamN_" ("stream N_") and splits off a trailing "_lossX" as
// ", X% loss". It is spelled out rather than written with regexp, which the page's wasm would
// otherwise link for these two patterns alone.
func splitMetric(name string) (n, loss string) {
	n = name
	if d := strings.TrimPrefix(name, "stream"); len(d) < len(name) {
		if k := leadingDigits(d); k > 0 && k < len(d) && d[k] == '_' {
			n = "stream " + d
		}
	}
	if i := strings.LastIndex(n, "_loss"); i >= 0 && len(n) > i+len("_loss") && strings.Trim(n[i+len("_loss"):], "0123456789.") == "" {
		loss = ", " + n[i+len("_loss"):] + "% loss"
		n = n[:i]
	}
	return n, loss
}

// leadingDigits is how many ASCII digits s starts with.
func leadingDigits(s string) int {
	k := 0
	for k < len(s) && '0' <= s[k] && s[k] <= '9' {
		k++
	}
	return k
}
