// Package experiments runs wireplay's measurements across an emulated link (package link): both
// ends in this process, the client on the link's client host and the server on its server host.
//
//   - ConnectTimes measures what it costs to become able to send: TCP connect, TCP + TLS 1.3,
//     QUIC's 1-RTT handshake and a WebSocket upgrade.
//
// It opens its own listeners on the link's server host (port 0) and closes all it
// opened before it returns.
package experiments
