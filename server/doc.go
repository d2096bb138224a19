// Package server is `wireplay serve`: it starts the four real echo endpoints (TCP, UDP, QUIC,
// WebSocket), serves the templ page and its static files, and runs the /relay WebSocket through
// which the page's Go-wasm client sends each message over every transport and watches what happened.
//
// The relay only ever dials the server's own endpoints, from a fixed table built at start: nothing
// a client sends becomes an address.
//
// Operations: /healthz (alive), /readyz (503 once draining), /metrics (Prometheus text, metrics.go).
// Shutdown sends every page close 1001 at once, cancels the work hanging off the server's context
// (bursts, dials, lessons, /ws/echo connections), and cuts pages that do not answer within
// CloseGrace; the relay pings quiet pages and closes silent ones (Config.RelayIdleTimeout).
package server
