//go:build js && wasm

// Command wasm is wireplay's browser client, built with GOOS=js GOARCH=wasm into
// web/static/main.wasm and started by the page (server/view.templ) through Go's wasm_exec.js.
//
// It opens the /relay WebSocket of the server that served the page, sends the composer's messages,
// bursts and reconnects as protocol.Requests, and applies the protocol.Events that come back to the
// page's five transport columns: handshake and round-trip times, a bounded timeline of recent
// messages (write → reads → complete or lost), what each read returned, and the stack's own
// metrics. It pings the relay every two seconds to show the browser↔server round trip, and
// reconnects with backoff when the relay socket drops.
//
// The network bar switches the session between the kernel's loopback and its own emulated link
// ("link" requests: mode, preset, per-direction settings, seed; mode, preset and seed live in the
// page's address). In link mode each column draws a sequence diagram of its transport's last
// packets ("packets" events: sloped arrows, drops, retransmissions, duplicates), and one chart
// below the columns draws congestion window and RTT of TCP and QUIC ("metrics" events; in kernel
// mode the stacks' "stats"). The Head-of-line tab runs the "hol" experiment and plots each
// transport's per-stream delivery times on one shared scale. Diagrams are redrawn at most a few
// times a second, and everything they hold is bounded.
//
// The Lessons tab lists the scenarios the relay's welcome names (package scenarios): choosing one
// shows its explanation and controls (preset, per-direction link edits, seed, runs, parameters,
// all kept in the page's address so a link reopens the lesson as it was set), and Run sends a
// "scenario" request whose report is drawn as its conclusion, its charts (package charts, the
// same SVG as `wireplay run --html`), its statistics with 95% confidence intervals and its tables.
//
// All DOM work goes through syscall/js; text that came from a user or the network is only ever
// set as textContent.
package main
