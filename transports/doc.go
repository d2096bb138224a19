// Package transports holds wireplay's five transports — tcp, udp, quic-stream, quic-dgram (RFC
// 9221 datagrams) and ws — in three layers:
//
//   - the kit: one way to listen and dial each of them over any netx.Network (ListenTCP/DialTCP,
//     ListenUDP/DialUDP, ListenQUIC/DialQUIC/OpenQUIC with QUICOptions for TLS, 0-RTT, datagrams,
//     keep-alive, idle timeouts and the qlog tracer, ListenWS/DialWS), and Group, the one way to
//     close what a run opened. Lessons, experiments, the probe and the benchmarks set their
//     transports up with it and nothing else;
//   - echo endpoints any ordinary client can use (StartEcho, ListenTCPEcho, …);
//   - measuring clients (Dial) that send messages, watch every read, and report what the
//     transport and its stack did, as the events the relay streams.
//
// Everything runs on a netx.Network: netx.Kernel for the operating system's sockets, or package
// link's emulated wire, so the same code is measured on both. A QUIC endpoint on a link's socket
// writes its TLS secrets to the link's key log (link.Link.KeyLog), so the link's pcapng captures
// decrypt in Wireshark and tshark.
package transports
