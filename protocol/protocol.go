// Package protocol defines the versioned JSON messages spoken on wireplay's /relay WebSocket.
//
// It is the one place where the relay (package server) and the browser client (package wasm, built
// for GOOS=js) agree on the wire format, so it imports nothing but the standard library.
//
// # Conversation
//
// The browser opens ws://HOST/relay. The server first sends a "welcome" Event naming the
// protocol version, the session id and the transports it can reach. The browser then sends Requests:
//
//	{"v":1,"type":"send","id":7,"text":"hello"}                       one message over every transport
//	{"v":1,"type":"send","id":8,"text":"hi","transports":["tcp","udp"]} ... or over some of them
//	{"v":1,"type":"burst","id":9,"count":20,"size":64}                 20 numbered messages of 64 bytes
//	{"v":1,"type":"reconnect","id":10}                                 close the session's transport
//	                                                                   connections; the next send
//	                                                                   pays (and shows) the handshake
//	{"v":1,"type":"ping","id":11,"t0":123456}                          answered by "pong" with t0 echoed
//
// For every transport taking part, the server streams Events back as they happen: "dial" then
// "connected" (with the handshake duration) the first time a connection is needed, one "write" per
// message sent, one "read" per read call that returned bytes (with their count and a preview, so a
// TCP read holding two messages is visible), "complete" when a message's echo is whole (with its
// RTT), "lost" when a datagram's echo did not come back within the loss timeout, "error" when
// something failed, and "stats" with the stack's own metrics after each request settles.
//
// Each WebSocket message from the server carries one or more Events, one JSON object per line
// (events queued together are sent together); DecodeEvents splits them.
//
// A request the server cannot parse or accept is answered with an "error" Event with no transport;
// the socket stays open, but too many bad requests in a row close it with status 1008 (policy
// violation).
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the protocol version carried in every message's "v" field.
const Version = 1

// Transport names one of the five ways a message can travel.
type Transport string

// The transports, in the order the page shows them.
const (
	TCP        Transport = "tcp"
	UDP        Transport = "udp"
	QUICStream Transport = "quic-stream"
	QUICDgram  Transport = "quic-dgram"
	WS         Transport = "ws"
)

// Transports lists every transport in display order.
var Transports = []Transport{TCP, UDP, QUICStream, QUICDgram, WS}

// Valid reports whether t is one of Transports.
func (t Transport) Valid() bool {
	for _, k := range Transports {
		if k == t {
			return true
		}
	}
	return false
}

// Label is the transport's human name.
func (t Transport) Label() string {
	switch t {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case QUICStream:
		return "QUIC stream"
	case QUICDgram:
		return "QUIC datagram"
	case WS:
		return "WebSocket"
	}
	return string(t)
}

// Request types, browser to server.
const (
	TypeSend      = "send"
	TypeBurst     = "burst"
	TypeReconnect = "reconnect"
	TypePing      = "ping"
)

// Limits a Request must respect.
const (
	MaxTextBytes   = 16 << 10 // longest "send" text
	MaxBurstCount  = 500      // most messages in one burst
	MaxBurstSize   = 16 << 10 // largest burst message
	MaxBurstBytes  = 1 << 20  // count*size of one burst
	MaxRequestSize = 32 << 10 // largest encoded Request accepted by the relay
)

// Request is a message from the browser to the relay.
type Request struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	// ID is chosen by the browser and copied into every Event the request causes.
	ID uint64 `json:"id,omitempty"`
	// Transports restricts a send or burst to these transports; empty means all of them.
	Transports []Transport `json:"transports,omitempty"`
	// Text is the message of a "send".
	Text string `json:"text,omitempty"`
	// Count and Size shape a "burst": Count numbered messages of Size bytes each.
	Count int `json:"count,omitempty"`
	Size  int `json:"size,omitempty"`
	// T0 is the browser's clock in a "ping", echoed unchanged in the "pong".
	T0 float64 `json:"t0,omitempty"`
}

// DecodeRequest parses and validates one Request. Its errors are meant to be shown to the user.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	if len(data) > MaxRequestSize {
		return r, fmt.Errorf("request of %d bytes is over the %d byte limit", len(data), MaxRequestSize)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("malformed request: %w", err)
	}
	return r, r.Validate()
}

// Validate checks a Request against the protocol's rules and limits.
func (r Request) Validate() error {
	if r.V != Version {
		return fmt.Errorf("unsupported protocol version %d (want %d)", r.V, Version)
	}
	for _, t := range r.Transports {
		if !t.Valid() {
			return fmt.Errorf("unknown transport %q", t)
		}
	}
	switch r.Type {
	case TypeSend:
		if r.Text == "" {
			return errors.New("send: empty text")
		}
		if len(r.Text) > MaxTextBytes {
			return fmt.Errorf("send: text of %d bytes is over the %d byte limit", len(r.Text), MaxTextBytes)
		}
	case TypeBurst:
		if r.Count < 1 || r.Count > MaxBurstCount {
			return fmt.Errorf("burst: count %d is outside 1..%d", r.Count, MaxBurstCount)
		}
		if r.Size < 1 || r.Size > MaxBurstSize {
			return fmt.Errorf("burst: size %d is outside 1..%d", r.Size, MaxBurstSize)
		}
		if r.Count*r.Size > MaxBurstBytes {
			return fmt.Errorf("burst: %d×%d bytes is over the %d byte limit", r.Count, r.Size, MaxBurstBytes)
		}
	case TypeReconnect, TypePing:
	case "":
		return errors.New("missing request type")
	default:
		return fmt.Errorf("unknown request type %q", r.Type)
	}
	return nil
}

// Event types, server to browser.
const (
	EventWelcome   = "welcome"
	EventDial      = "dial"
	EventConnected = "connected"
	EventWrite     = "write"
	EventRead      = "read"
	EventComplete  = "complete"
	EventLost      = "lost"
	EventError     = "error"
	EventStats     = "stats"
	EventPong      = "pong"
	EventClosed    = "closed"
)

// Event is a message from the relay to the browser.
type Event struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	// Req is the ID of the Request that caused the event (0 for none).
	Req       uint64    `json:"req,omitempty"`
	Transport Transport `json:"transport,omitempty"`
	// Msg numbers messages per transport connection, from 1, in the order they were written.
	Msg uint64 `json:"msg,omitempty"`
	// AtMicros is when the event happened, in microseconds since the session began.
	AtMicros int64 `json:"at_us"`
	// DurMicros is the handshake time ("connected") or round trip time ("complete").
	DurMicros int64 `json:"dur_us,omitempty"`
	// Bytes is the size of a write or of what one read returned.
	Bytes int `json:"bytes,omitempty"`
	// Msgs lists the messages whose bytes a "read" returned (more than one: boundaries merged).
	Msgs []uint64 `json:"msgs,omitempty"`
	// Text is the message ("write", "complete") or a preview of the bytes a read returned.
	Text string `json:"text,omitempty"`
	// Error explains an "error" or "closed" event.
	Error string `json:"error,omitempty"`
	// Stats carries the stack's own metrics ("stats", and with "complete" and "lost").
	Stats *Stats `json:"stats,omitempty"`
	// Welcome fields.
	Session    string      `json:"session,omitempty"`
	Transports []Transport `json:"transports,omitempty"`
	// T0 is echoed from a "ping".
	T0 float64 `json:"t0,omitempty"`
}

// Stats is what one transport's stack says about its connection; one of its fields is set.
type Stats struct {
	TCP  *TCPStats  `json:"tcp,omitempty"`
	QUIC *QUICStats `json:"quic,omitempty"`
	Seq  *SeqStats  `json:"seq,omitempty"`
	WS   *WSStats   `json:"ws,omitempty"`
}

// TCPStats is read from the kernel's TCP_INFO (or netstack's TCPInfoOption).
type TCPStats struct {
	RTTMicros     int64  `json:"rtt_us"`
	RTTVarMicros  int64  `json:"rttvar_us"`
	Cwnd          uint32 `json:"cwnd"` // segments
	MSS           uint32 `json:"mss,omitempty"`
	TotalRetrans  uint32 `json:"total_retrans"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	SegsOut       uint32 `json:"segs_out,omitempty"`
	SegsIn        uint32 `json:"segs_in,omitempty"`
}

// QUICStats is read from quic-go's Conn.ConnectionStats.
type QUICStats struct {
	SmoothedRTTMicros int64  `json:"srtt_us"`
	MinRTTMicros      int64  `json:"min_rtt_us"`
	LatestRTTMicros   int64  `json:"latest_rtt_us"`
	Cwnd              uint64 `json:"cwnd_bytes"`
	PacketsSent       uint64 `json:"packets_sent"`
	PacketsReceived   uint64 `json:"packets_received"`
	PacketsLost       uint64 `json:"packets_lost"`
	BytesSent         uint64 `json:"bytes_sent"`
	BytesReceived     uint64 `json:"bytes_received"`
	BytesLost         uint64 `json:"bytes_lost"`
}

// SeqStats is counted by wireplay from the sequence numbers it puts in datagrams (UDP and QUIC
// datagrams have no stack metrics of their own for what the application lost).
type SeqStats struct {
	Sent       uint64 `json:"sent"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Reordered  uint64 `json:"reordered"`
	Duplicated uint64 `json:"duplicated"`
}

// WSStats is counted by wireplay on the WebSocket connection.
type WSStats struct {
	FramesSent     uint64 `json:"frames_sent"`
	FramesReceived uint64 `json:"frames_received"`
	BytesSent      uint64 `json:"bytes_sent"`
	BytesReceived  uint64 `json:"bytes_received"`
	RTTMicros      int64  `json:"rtt_us"` // last message round trip
}

// DecodeEvents parses one relay message: one or more Events, one JSON object per line.
func DecodeEvents(data []byte) ([]Event, error) {
	var out []Event
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return out, fmt.Errorf("malformed event: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}
