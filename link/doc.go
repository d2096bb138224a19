// Package link is one emulated, impaired network link between two userspace hosts.
//
// # Design
//
// A Link joins a client host and a server host. Each host is its own gVisor netstack
// (stack.Stack) with IPv4, TCP and UDP and a single NIC; the client is 127.0.1.1 and the server
// 127.0.1.2 — loopback-range addresses that can never be confused with, or routed to, a real
// network (netstack is told to accept them on a non-loopback NIC). Client and Server return
// each host's netx.Network, so wireplay's real TCP, UDP, QUIC (quic-go) and WebSocket code
// runs across the link unchanged: no root, no kernel netem.
//
// The NICs are this package's own stack.LinkEndpoint. Every IPv4 packet a host writes enters
// the wire for its direction (ClientToServer or ServerToClient), which in one critical section
//
//   - numbers it (its index within the direction, which DropNth counts) and draws a fixed
//     number of values (loss, the Gilbert–Elliott chain, duplication, jitter) from its flow's
//     seeded PCG stream, so a packet's fate depends only on Config.Seed, its flow, its index
//     within the flow and the Impairment in force — never on timing nor on other flows (queue
//     drops, which model a real rate limit shared by every flow, are the exception);
//   - applies the drop rules in order: blackhole (Blackhole or a timed BlackholeFor), MTU,
//     DropNth (one-shot), Gilbert–Elliott burst loss, random loss, and the rate limiter's
//     bounded FIFO queue (tail drop);
//   - schedules survivors: serialization at RateBitsPerSec after the packets queued ahead,
//     plus Delay ± Jitter (FIFO unless Reorder), plus an optional duplicate;
//   - logs it (see Packet) and streams it to any pcapng capture.
//
// The fate decision reads no clock of its own: it is handed the time the packet entered, so the
// same seed, settings and entry times always give the same fates, queue waits and delivery
// times, which the package's tests check on made-up clocks.
//
// # What a seed reproduces
//
// A flow is one 5-tuple's packets, both directions (IPv4 fragments follow their datagram's first
// piece). Its stream in a direction is keyed by the seed, the direction, its IP protocol, its
// server endpoint — where the first packet the wire saw of it went (a SYN's destination, a UDP
// flow's first datagram's) — and how many flows to that endpoint came before it, never by the
// client's ephemeral port. Listeners on port 0 get fixed ports from 10000 in the order they are
// opened, so servers started one after another sit on the same ports every run. A seed therefore
// drops, duplicates and jitters the same packets of each flow (by index within the flow) on every
// run: a UDP flow whose sends do not depend on timing loses the same datagrams; a TCP or QUIC flow
// meets the same fates packet for packet, though what it sends as its k-th packet may depend on
// timing. Not reproduced: queue drops and waits (one queue per direction, shared by all flows),
// the FIFO hold that keeps jittered packets in order without Reorder, BlackholeFor windows (timed),
// and which of two flows to one server endpoint that start together counts as first. The table
// remembers 4096 flows; beyond that the oldest is forgotten and, should it send again, draws a new
// stream. DropNth counts the direction's packets, all flows together.
//
// Packets due now with nothing pending are handed to the other host at once, on the sender's
// goroutine; delayed ones wait in a per-direction heap served by one goroutine and a timer.
// Impairments change live (SetImpairment, Apply), effective from the next packet. All delays are
// one-way: an Impairment's Delay applies to its direction only, and the presets (Presets,
// Preset) set the same one-way delay in each direction, so their round-trip time is twice it.
//
// # TCP and UDP
//
// Netstack TCP runs with SACK, cubic congestion control (reno via Config.CongestionControl),
// 4 MiB default socket buffers with receive-buffer auto-tuning. Conns from Dial and Accept are
// *TCPConn, which implements netx.TCPInfoConn from netstack's TCPInfoOption and endpoint
// stats. UDP sockets are *UDPConn, a gonet UDPConn whose SetReadBuffer and SetWriteBuffer set
// netstack's socket buffers, so quic-go runs on it without its buffer-size warning. Both return
// net.ErrClosed after Close, like kernel sockets, and pass the transports/transportstest
// conformance suite.
//
// # Observing the wire
//
// Packets returns the last packets (both directions, oldest first), as many as fit in
// Config.LogSize and Config.LogBytes, each whole (Config.SnapLen), with their fate, the rule
// that dropped them, time queued, total latency, and decoded headers: TCP flags, sequence and
// acknowledgement numbers, window, SACK blocks and payload length; UDP ports and length, and for
// QUIC the long-header type and destination connection ID or "short header". OnPacket
// subscribes to the same records as they happen; Counts has per-direction counters.
//
// WritePcapng exports the log, and CapturePcapng streams every packet whole (writing off the
// wire's hot path), as pcapng with one raw-IPv4 interface per direction and each packet's fate
// in its comment — dropped packets included, so a capture shows what each host sent. Both
// interfaces are stamped at one capture point, the client host's NIC: a packet the client sends
// when it sends it, a packet the server sends when the link delivers it to the client (a dropped
// one, which never arrives, when the server sent it), so a round trip read off the capture —
// Wireshark's ACK RTT, a handshake — is the link's round trip; blocks are written in that time
// order. TLS endpoints on the link write their secrets to KeyLog (tls.Config.KeyLogWriter;
// package transports does this for QUIC on a link), and both captures embed them as a
// Decryption Secrets Block before the packets they unlock, so Wireshark and tshark decrypt QUIC
// out of the box.
//
// # NATs
//
// An Internet (nat.go) is the package's other network: any number of hosts, each a Host as on
// a Link, some public and some behind NATs, a packet's sender and receiver found by address. Its
// NATs rewrite IPv4 TCP and UDP headers (checksums updated incrementally) with the mapping and
// filtering behaviours of RFC 4787, a mapping timeout and hairpinning, and every hop is logged
// (HopPacket) with what each NAT did to it. It has no impairments but a fixed one-way delay. The
// Link's own RebindClient is a simpler NAT, for migration: one flow's port rewritten at the
// server's NIC.
package link
