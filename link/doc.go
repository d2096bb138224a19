// Package link is an emulated, impaired network link between two userspace hosts.
//
// A Link joins a client host and a server host, each its own gVisor netstack (stack.Stack) with
// one NIC. The NICs are a custom stack.LinkEndpoint: every IPv4 packet a host writes enters the
// wire, which decides its fate (Impairment, per direction) and delivers survivors to the other
// host when they are due. The hosts' sockets are reached through transports.Network
// (Client, Server), so wireplay's real TCP, UDP, QUIC and WebSocket code runs unchanged across the
// wire — no root, no kernel netem.
package link
