// Package server is `wireplay serve`: it starts the four real echo endpoints (TCP, UDP, QUIC,
// WebSocket), serves the templ page and its static files, and runs the /relay WebSocket through
// which the page's Go-wasm client sends each message over every transport and watches what happened.
//
// The relay only ever dials the server's own endpoints, from a fixed table built at start: nothing
// a client sends becomes an address.
package server
