// Package transports holds wireplay's four real transports — TCP, UDP, QUIC (streams and RFC 9221
// datagrams) and WebSocket — as echo endpoints any ordinary client can use, and as measuring
// clients that send messages, watch every read, and report what the transport and its stack did.
//
// Everything runs on a Network: Kernel for the operating system's sockets, or package link's
// emulated wire, so the same code is measured on both.
package transports
