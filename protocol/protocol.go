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
//	{"v":1,"type":"link","id":12,"link":{"mode":"link","preset":"wifi","seed":7}}
//	                                                                   run the session's transports
//	                                                                   over its own emulated link
//	{"v":1,"type":"hol","id":13,"hol":{"messages":30,"size":1000}}     the head-of-line experiment
//	{"v":1,"type":"scenario","id":14,"scenario":{"name":"handshake","seed":1}}
//	                                                                   run a lesson; answered by a
//	                                                                   "scenario" event carrying the
//	                                                                   same report `wireplay run NAME
//	                                                                   --format json` prints
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
// # The emulated link
//
// A "link" request switches the session between the kernel's loopback ("kernel", the default) and
// an emulated, impaired wire of its own ("link"): the session gets a private pair of netstack hosts
// with its own echo endpoints on the server host, so one learner's impairment never touches
// another's. Settings start from a preset (Welcome lists them) and per-direction overrides, and
// change live. The server answers with a "link" Event describing the link in force. In link mode
// the session also streams "packets" Events (every packet of its transports that crossed the wire,
// with its fate and decoded headers, for the sequence diagrams) and "metrics" Events (congestion
// window and RTT samples from netstack's TCP and quic-go's qlog, for the chart). The session's
// capture is downloadable as pcapng from GET /relay/pcapng and its QUIC connections' qlog from GET
// /relay/qlog?transport=quic-stream|quic-dgram, each with the session id (Welcome's Session) in
// the SessionHeader header, never in the URL, which ends up in logs.
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

// SessionHeader is the request header that names the session a capture download is for.
const SessionHeader = "X-Wireplay-Session"

// TruncatedHeader, on a capture download, says in words that the file is not the whole run: the
// session's cap on what it keeps (the server's Config.CaptureBytes, QLogBytes) was reached. The
// pcapng keeps the latest packets (its section header's comment says how many were dropped); a
// qlog trace keeps its first events and ends in a wireplay:trace_truncated record.
const TruncatedHeader = "X-Wireplay-Truncated"

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

// The local transports, beside the network: not among Transports, because they cannot cross one
// (the emulated link does not carry them). The relay offers them in kernel mode only (Local, the
// welcome's Local), to a request that names them; `wireplay probe --transport unix` measures
// `wireplay serve --unix-path`'s echo.
const (
	// Unix is a Unix domain stream socket (SOCK_STREAM), named by a file path.
	Unix Transport = "unix"
	// Pipe is a pair of kernel pipes (one each way) with an echo goroutine at their far ends, in
	// the relay's own process: no socket, no address.
	Pipe Transport = "pipe"
)

// Local lists the local transports in display order, after Transports.
var Local = []Transport{Unix, Pipe}

// IsLocal reports whether t is one of Local.
func (t Transport) IsLocal() bool { return t == Unix || t == Pipe }

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
	case Unix:
		return "Unix stream"
	case Pipe:
		return "pipe"
	}
	return string(t)
}

// Request types, browser to server.
const (
	TypeSend      = "send"
	TypeBurst     = "burst"
	TypeReconnect = "reconnect"
	TypePing      = "ping"
	TypeLink      = "link"
)

// Limits a Request must respect.
const (
	MaxTextBytes   = 16 << 10 // longest "send" text
	MaxBurstCount  = 500      // most messages in one burst
	MaxBurstSize   = 16 << 10 // largest burst message
	MaxBurstBytes  = 1 << 20  // count*size of one burst
	MaxRequestSize = 32 << 10 // largest encoded Request accepted by the relay
	// MaxEventMessage bounds one WebSocket message from the relay (one or more Events): within
	// coder/websocket's default read limit — except for the two events that can be larger, up to
	// MaxReportMessage: the "welcome" (it lists the lessons with their explanations, 50 KB with 14 lessons and
	// growing with the lessons) and a "scenario" report (charts and tables). A client raises its
	// read limit to MaxReportMessage (coder/websocket: Conn.SetReadLimit) before reading.
	MaxEventMessage  = 32 << 10
	MaxReportMessage = 2 << 20
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
	// Link chooses the network of a "link" request.
	Link *LinkRequest `json:"link,omitempty"`
	// Scenario names and shapes a "scenario" request.
	Scenario *ScenarioRequest `json:"scenario,omitempty"`
}

// Link modes.
const (
	ModeKernel = "kernel" // the kernel's loopback: real sockets, no impairment
	ModeLink   = "link"   // the session's own emulated link (gVisor netstack)
)

// LinkRequest chooses the session's network.
type LinkRequest struct {
	Mode string `json:"mode"`
	// Preset names one of the Welcome's presets; "" is "clean". Up and Down, when set, replace
	// the preset's client→server and server→client impairment.
	Preset string      `json:"preset,omitempty"`
	Up     *Impairment `json:"up,omitempty"`
	Down   *Impairment `json:"down,omitempty"`
	// Seed makes the same settings drop the same packets; 0 picks 1.
	Seed int64 `json:"seed,omitempty"`
}

// Impairment is what one direction of the emulated link does to packets (see link.Impairment).
type Impairment struct {
	DelayMs      float64 `json:"delay_ms,omitempty"`
	JitterMs     float64 `json:"jitter_ms,omitempty"`
	Reorder      bool    `json:"reorder,omitempty"`
	LossPct      float64 `json:"loss_pct,omitempty"`
	DuplicatePct float64 `json:"duplicate_pct,omitempty"`
	RateKbps     int64   `json:"rate_kbps,omitempty"`
	QueuePackets int     `json:"queue_packets,omitempty"`
	// DropNth drops the DropNth packet of this direction from now on (1 = the next), once.
	DropNth uint64 `json:"drop_nth,omitempty"`
	// BlackholeMs drops everything for this long from now on.
	BlackholeMs float64 `json:"blackhole_ms,omitempty"`
	// QueueBytes bounds the rate limiter's queue in bytes (with or instead of QueuePackets; when
	// both are 0 the link's default queue applies).
	QueueBytes int `json:"queue_bytes,omitempty"`
	// MTU drops packets larger than this many bytes (IP header included); 0 is no limit beyond
	// the link's NIC.
	MTU int `json:"mtu,omitempty"`
	// Burst is Gilbert–Elliott bursty loss; its zero value is off.
	Burst BurstLoss `json:"burst,omitzero"`
	// Blackhole drops everything, for as long as it is set.
	Blackhole bool `json:"blackhole,omitempty"`
}

// BurstLoss is the two-state (Gilbert–Elliott) loss model of link.GilbertElliott, in percent:
// before each packet the state moves good→bad with probability PPct and bad→good with RPct; the
// packet is then lost with LossBadPct in the bad state and LossGoodPct in the good one.
type BurstLoss struct {
	PPct        float64 `json:"p_pct,omitempty"`
	RPct        float64 `json:"r_pct,omitempty"`
	LossBadPct  float64 `json:"loss_bad_pct,omitempty"`
	LossGoodPct float64 `json:"loss_good_pct,omitempty"`
}

// Limits of an Impairment.
const (
	MaxDelayMs      = 5000
	MaxRateKbps     = 10_000_000
	MaxQueuePackets = 100_000
	MaxQueueBytes   = 256 << 20
	MaxBlackholeMs  = 60_000
	MinMTU, MaxMTU  = 68, 65535
)

// Validate checks an Impairment's ranges. Its errors name the field and the bad value.
func (im *Impairment) Validate() error {
	if im == nil {
		return nil
	}
	pct := func(name string, v float64) error {
		if !(v >= 0 && v <= 100) {
			return fmt.Errorf("%s %v%% is outside 0..100", name, v)
		}
		return nil
	}
	switch {
	case !(im.DelayMs >= 0 && im.DelayMs <= MaxDelayMs):
		return fmt.Errorf("delay %v ms is outside 0..%d", im.DelayMs, MaxDelayMs)
	case !(im.JitterMs >= 0 && im.JitterMs <= im.DelayMs):
		return fmt.Errorf("jitter %v ms is outside 0..delay (%v ms)", im.JitterMs, im.DelayMs)
	case im.RateKbps < 0 || im.RateKbps > MaxRateKbps:
		return fmt.Errorf("rate %v kbit/s is outside 0..%d", im.RateKbps, MaxRateKbps)
	case im.QueuePackets < 0 || im.QueuePackets > MaxQueuePackets:
		return fmt.Errorf("queue %v packets is outside 0..%d", im.QueuePackets, MaxQueuePackets)
	case im.QueueBytes < 0 || im.QueueBytes > MaxQueueBytes:
		return fmt.Errorf("queue_bytes %v is outside 0..%d", im.QueueBytes, MaxQueueBytes)
	case im.MTU != 0 && (im.MTU < MinMTU || im.MTU > MaxMTU):
		return fmt.Errorf("mtu %v is outside %d..%d (or 0 for none)", im.MTU, MinMTU, MaxMTU)
	case !(im.BlackholeMs >= 0 && im.BlackholeMs <= MaxBlackholeMs):
		return fmt.Errorf("blackhole %v ms is outside 0..%d", im.BlackholeMs, MaxBlackholeMs)
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"loss", im.LossPct}, {"duplication", im.DuplicatePct}, {"burst p", im.Burst.PPct},
		{"burst r", im.Burst.RPct}, {"burst loss_bad", im.Burst.LossBadPct}, {"burst loss_good", im.Burst.LossGoodPct}} {
		if err := pct(c.name, c.v); err != nil {
			return err
		}
	}
	return nil
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
		if !t.Valid() && !t.IsLocal() {
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
	case TypeLink:
		if r.Link == nil {
			return errors.New("link: missing \"link\" settings")
		}
		if r.Link.Mode != ModeKernel && r.Link.Mode != ModeLink {
			return fmt.Errorf("link: unknown mode %q (want %q or %q)", r.Link.Mode, ModeKernel, ModeLink)
		}
		if err := r.Link.Up.Validate(); err != nil {
			return fmt.Errorf("link up: %w", err)
		}
		if err := r.Link.Down.Validate(); err != nil {
			return fmt.Errorf("link down: %w", err)
		}
	case TypeScenario:
		if r.Scenario == nil || r.Scenario.Name == "" {
			return errors.New("scenario: missing scenario name")
		}
		if r.Scenario.Repeat < 0 || r.Scenario.Repeat > 10 {
			return fmt.Errorf("scenario: repeat %d is outside 0..10", r.Scenario.Repeat)
		}
		if len(r.Scenario.Params) > 32 {
			return errors.New("scenario: too many parameters")
		}
		if err := r.Scenario.Up.Validate(); err != nil {
			return fmt.Errorf("scenario up: %w", err)
		}
		if err := r.Scenario.Down.Validate(); err != nil {
			return fmt.Errorf("scenario down: %w", err)
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
	EventLink      = "link"    // the link in force, after a "link" request (and in link mode on welcome)
	EventPackets   = "packets" // packets that crossed the emulated link
	EventMetrics   = "metrics" // congestion window and RTT samples
)

// What a "connected" event's handshake time covers.
const (
	HandshakeNone = "none"                                                                              // UDP: nothing to set up
	HandshakeTCP  = "TCP three-way handshake (connect)"                                                 // tcp
	HandshakeQUIC = "QUIC handshake (transport and TLS 1.3 at once); socket and stream set-up excluded" // quic-stream, quic-dgram
	HandshakeWS   = "TCP three-way handshake, then the HTTP/1.1 upgrade"                                // ws
	HandshakeUnix = "connect() to the listening socket: no packets, the kernel queues it for accept"    // unix
	HandshakePipe = "two pipe() calls and the echo goroutine started: no connection, no packets"        // pipe
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
	// Handshake says what a "connected" event's DurMicros covers (HandshakeTCP, …), or
	// HandshakeNone for a transport that has none (UDP: DurMicros is then 0).
	Handshake string `json:"handshake,omitempty"`
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
	// Local are the local transports the relay offers in kernel mode (protocol.Local), beside
	// Transports; a send or burst reaches them only when it names them.
	Local []Transport `json:"local,omitempty"`
	// T0 is echoed from a "ping".
	T0 float64 `json:"t0,omitempty"`
	// Presets lists the link presets (welcome).
	Presets []PresetInfo `json:"presets,omitempty"`
	// Link describes the session's network ("link", and welcome).
	Link *LinkState `json:"link,omitempty"`
	// Packets are the packets of a "packets" event, oldest first.
	Packets []PacketInfo `json:"packets,omitempty"`
	// Skipped counts packets not streamed before this "packets" event because the browser fell
	// behind (they are still in the pcapng download).
	Skipped uint64 `json:"skipped,omitempty"`
	// Metrics are the samples of a "metrics" event.
	Metrics []MetricSample `json:"metrics,omitempty"`
	// Scenarios lists the lessons (welcome).
	Scenarios []ScenarioInfo `json:"scenarios,omitempty"`
	// Report is a scenario's outcome ("scenario").
	Report *ScenarioReport `json:"report,omitempty"`
	// Place is a waiting lesson's place in the queue ("queued"; 1 is next).
	Place int `json:"place,omitempty"`
}

// PresetInfo names and describes one link preset.
type PresetInfo struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Up          Impairment `json:"up"`
	Down        Impairment `json:"down"`
}

// LinkState is the session's network as it now is.
type LinkState struct {
	Mode   string     `json:"mode"`
	Preset string     `json:"preset,omitempty"`
	Seed   int64      `json:"seed,omitempty"`
	Up     Impairment `json:"up"`
	Down   Impairment `json:"down"`
	// Counts per direction since the link was made.
	UpCounts   LinkCounts `json:"up_counts"`
	DownCounts LinkCounts `json:"down_counts"`
}

// LinkCounts are one direction's packet counters.
type LinkCounts struct {
	Sent       uint64            `json:"sent"`
	Delivered  uint64            `json:"delivered"`
	Duplicated uint64            `json:"duplicated"`
	Dropped    map[string]uint64 `json:"dropped,omitempty"` // by rule: loss, burst, queue, dropnth, mtu, blackhole
}

// PacketInfo is one packet that crossed (or died on) the emulated link.
type PacketInfo struct {
	Transport Transport `json:"transport,omitempty"` // whose packet it was; "" for none of the session's
	AtMicros  int64     `json:"at_us"`               // when it entered the wire, since the session began
	Dir       string    `json:"dir"`                 // "up" (client→server) or "down"
	Size      int       `json:"size"`
	// Fate is "delivered" or "dropped"; Rule says which rule dropped it.
	Fate string `json:"fate"`
	Rule string `json:"rule,omitempty"`
	// LatencyMicros is the time from entering the wire to delivery (queueing included).
	LatencyMicros int64 `json:"latency_us,omitempty"`
	QueuedMicros  int64 `json:"queued_us,omitempty"`
	Duplicated    bool  `json:"dup,omitempty"`
	// Retransmit marks a TCP segment whose data was sent before, or a QUIC packet carrying a
	// STREAM frame whose data was sent before in an earlier packet (link mode, from qlog).
	Retransmit bool `json:"retx,omitempty"`
	// Summary is the decoded header: "SYN seq=0", "ACK seq=1 ack=33 len=32 sack=…", "QUIC Initial
	// dcid=…"; in link mode QUIC packets carry their packet numbers and frames from quic-go's qlog:
	// "QUIC 1-RTT pn=17 STREAM,ACK[0-16] len=1252".
	Summary    string `json:"summary"`
	PayloadLen int    `json:"len,omitempty"`
}

// MetricSample is one congestion window and RTT reading of a transport's connection.
type MetricSample struct {
	Transport  Transport `json:"transport"`
	AtMicros   int64     `json:"at_us"`
	CwndBytes  uint64    `json:"cwnd_bytes"`
	SRTTMicros int64     `json:"srtt_us"`
	Source     string    `json:"source"` // "tcp_info" or "qlog"
}

// Stats is what one transport's stack says about its connection; one of its fields is set
// (TCPServer beside TCP).
type Stats struct {
	TCP *TCPStats `json:"tcp,omitempty"`
	// TCPServer is the server's side of the same TCP connection (wireplay's own echo endpoint):
	// its retransmissions are the echoes it sent again.
	TCPServer *TCPStats  `json:"tcp_server,omitempty"`
	QUIC      *QUICStats `json:"quic,omitempty"`
	// QUICRecovery is how both endpoints of the QUIC connection recovered from loss, counted
	// from their qlog (the server's only when it is wireplay's own echo in this process).
	QUICRecovery *QUICRecoveryStats `json:"quic_recovery,omitempty"`
	// Link is what the emulated link did to this connection's packets (link mode only).
	Link *FlowCounts `json:"link,omitempty"`
	Seq  *SeqStats   `json:"seq,omitempty"`
	WS   *WSStats    `json:"ws,omitempty"`
}

// QUICRecoveryStats are a QUIC connection's loss recovery, one endpoint at a time. quic-go's own
// "packets lost" (QUICStats.PacketsLost, the same figure as PacketsDeclaredLost) counts only
// packets declared lost by acknowledgement (a later packet acknowledged first); a packet whose
// loss is noticed by the probe timeout (PTO) is sent again without being counted, which is how
// nearly every loss in ping-pong traffic is repaired.
type QUICRecoveryStats struct {
	Client QUICRecovery  `json:"client"`
	Server *QUICRecovery `json:"server,omitempty"` // nil when the server's qlog is not at hand
}

// QUICRecovery is one endpoint's side of QUICRecoveryStats, counted from its qlog events.
type QUICRecovery struct {
	PacketsSent uint64 `json:"packets_sent"` // transport:packet_sent
	// PacketsDeclaredLost counts recovery:packet_lost: losses detected by acknowledgement.
	PacketsDeclaredLost uint64 `json:"packets_declared_lost"`
	// PTOExpiries counts recovery:loss_timer_updated events of a PTO timer that expired: each
	// makes the endpoint send probe packets, usually carrying the unacknowledged data again.
	PTOExpiries uint64 `json:"pto_expiries"`
	// StreamFramesResent counts STREAM frames carrying stream data the endpoint had sent
	// before (QUIC never resends a packet; it puts lost data in new packets).
	StreamFramesResent uint64 `json:"stream_frames_resent"`
}

// FlowCounts are the emulated link's counts of one connection's packets, per direction
// (up: client → server).
type FlowCounts struct {
	UpSent      uint64 `json:"up_sent"`
	UpDropped   uint64 `json:"up_dropped"`
	DownSent    uint64 `json:"down_sent"`
	DownDropped uint64 `json:"down_dropped"`
	// TCP segments of the dropped that were pure ACKs (no data, SYN, FIN or RST): no stack
	// sends one again; a later ACK covers it.
	UpDroppedPureACKs   uint64 `json:"up_dropped_pure_acks,omitempty"`
	DownDroppedPureACKs uint64 `json:"down_dropped_pure_acks,omitempty"`
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

// Lessons.

// TypeScenario asks the relay to run one scenario on an emulated link of its own.
const TypeScenario = "scenario"

// EventScenario carries a scenario's report (or, with Error set, why it failed).
const EventScenario = "scenario"

// EventQueued says that a "scenario" request waits for a lesson slot: the server runs at most one
// lesson per session and per client address (an IPv6 /64) at a time, a few in all, and queues the
// rest in order of arrival. Place is the request's place in the queue (1 is next), sent when it
// joins and again whenever it moves; a "queued" event without Place says it has left the queue
// and now runs. A request that runs at once gets none.
const EventQueued = "queued"

// ScenarioRequest names a scenario and how to run it.
type ScenarioRequest struct {
	Name string `json:"name"`
	// Preset names a link preset; "" is the scenario's own. Up and Down, when set, replace the
	// preset's directions.
	Preset string      `json:"preset,omitempty"`
	Up     *Impairment `json:"up,omitempty"`
	Down   *Impairment `json:"down,omitempty"`
	Seed   int64       `json:"seed,omitempty"`
	Repeat int         `json:"repeat,omitempty"`
	// Params override the scenario's parameters by name.
	Params map[string]string `json:"params,omitempty"`
}

// ScenarioInfo describes one scenario for a lessons menu.
type ScenarioInfo struct {
	Name    string      `json:"name"`
	Title   string      `json:"title"`
	Summary string      `json:"summary"`
	Explain string      `json:"explain"`
	Preset  string      `json:"preset"`
	Params  []ParamInfo `json:"params,omitempty"`
}

// ParamInfo is one scenario parameter: its name, type, bounds, default and help.
type ParamInfo struct {
	Name string `json:"name"`
	// Label is the name in words ("drop packet #" for drop_nth); "" shows Name.
	Label   string `json:"label,omitempty"`
	Default string `json:"default"`
	Help    string `json:"help"`
	// Kind is the type of its values: ParamInt, ParamFloat, ParamDuration, ParamBool or
	// ParamEnum (one of Values).
	Kind string `json:"kind,omitempty"`
	// List says the value is a comma-separated list of values of Kind ("0,0.5,1").
	List bool `json:"list,omitempty"`
	// Unit is what a number counts ("bytes", "%", "packets"); durations carry their own.
	Unit string `json:"unit,omitempty"`
	// Min and Max bound an int, float or duration, written as a value ("1", "10ms"); "" is
	// unbounded.
	Min string `json:"min,omitempty"`
	Max string `json:"max,omitempty"`
	// Values are an enum's choices.
	Values []string `json:"values,omitempty"`
}

// Scenario parameter kinds (ParamInfo.Kind).
const (
	ParamInt      = "int"
	ParamFloat    = "float"
	ParamDuration = "duration" // Go syntax: "250ms", "1.5s"
	ParamBool     = "bool"     // "true" or "false"
	ParamEnum     = "enum"
)

// ScenarioResult is what one run of a scenario measured.
type ScenarioResult struct {
	Metrics []Metric `json:"metrics"`
	Series  []Series `json:"series,omitempty"`
	// Tables hold numbers best read as a table (e.g. what each read returned).
	Tables []Table `json:"tables,omitempty"`
	// Conclusion states what this run measured, built from its numbers.
	Conclusion string `json:"conclusion"`
}

// Metric is one measured number.
type Metric struct {
	Transport string  `json:"transport"` // "tcp", "tcp+tls", "quic", …; "" for the link itself
	Name      string  `json:"name"`      // "first_byte_ms"
	Unit      string  `json:"unit"`      // "ms", "RTT", "bytes", "count", "Mbit/s"
	Value     float64 `json:"value"`
}

// Series is one line (or set of points) of a chart.
type Series struct {
	Chart  string  `json:"chart"`   // the chart it belongs to, also its title: "Goodput vs loss"
	Name   string  `json:"name"`    // legend: "tcp"
	XLabel string  `json:"x_label"` // "loss %"
	YLabel string  `json:"y_label"` // "Mbit/s"
	Points []Point `json:"points"`
	// Style is "line" (default), "dots", or "dashed" (a reference curve such as the Mathis bound).
	Style string `json:"style,omitempty"`
}

// Point is one (x, y) of a Series.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Table is a titled grid.
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// ScenarioReport is a scenario's runs and their statistics.
type ScenarioReport struct {
	Scenario string            `json:"scenario"`
	Title    string            `json:"title"`
	Explain  string            `json:"explain,omitempty"`
	Preset   string            `json:"preset"`
	Up       string            `json:"up"`   // the client→server impairment, in words
	Down     string            `json:"down"` // the server→client impairment, in words
	Seed     int64             `json:"seed"`
	Repeat   int               `json:"repeat"`
	Params   map[string]string `json:"params"`
	// ParamLabels name the parameters in words, for the page and the HTML report.
	ParamLabels map[string]string `json:"param_labels,omitempty"`
	Runs        []*ScenarioResult `json:"runs"`
	Stats       []Stat            `json:"stats"`
	// Conclusion is the first run's, followed by the spread when there were repeats.
	Conclusion string   `json:"conclusion"`
	WallMillis float64  `json:"wall_ms"`
	Files      []string `json:"files,omitempty"`
}

// Stat summarizes one metric over a report's runs.
type Stat struct {
	Transport string  `json:"transport"`
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	N         int     `json:"n"`
	Mean      float64 `json:"mean"`
	// CI95 is the half-width of the 95% confidence interval of the mean (Student's t); 0 for one run.
	CI95 float64 `json:"ci95"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// RelayLimits is GET /relay/limits: the caps on /relay connections and how the asking address
// stands against them. A browser cannot read why a WebSocket upgrade failed (the relay answers a
// refused one with 429 and a reason the page never sees), so the page asks here.
type RelayLimits struct {
	// PerAddress is how many relay connections one IP address may have open at once; Open is how
	// many the asking address has.
	PerAddress int `json:"per_address"`
	Open       int `json:"open"`
	// Flag is the serve flag that sets PerAddress ("--max-relay-per-ip").
	Flag string `json:"flag"`
	// Full says the server holds as many relay connections in all as it takes.
	Full bool `json:"full,omitempty"`
	// ShuttingDown says the server takes no new connections.
	ShuttingDown bool `json:"shutting_down,omitempty"`
}

// PerAddressReason says in words why an address at its cap is refused.
func (l RelayLimits) PerAddressReason() string {
	pages := "pages"
	if l.Open == 1 {
		pages = "page"
	}
	return fmt.Sprintf("this address already has %d %s open; the server allows %d per address (%s)", l.Open, pages, l.PerAddress, l.Flag)
}
