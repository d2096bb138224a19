package server

import (
	"encoding/json"
	"net"
	"net/http"

	"github.com/wireplay/wireplay/protocol"
)

// MaxRelayPerIPFlag is the serve flag that sets Config.MaxRelayPerIP; the refusal names it.
const MaxRelayPerIPFlag = "--max-relay-per-ip"

// limits is how the address ip stands against the relay's caps.
func (r *relay) limits(ip string) protocol.RelayLimits {
	r.mu.Lock()
	defer r.mu.Unlock()
	return protocol.RelayLimits{PerAddress: r.cfg.MaxRelayPerIP, Open: r.perIP[ip], Flag: MaxRelayPerIPFlag,
		Full: len(r.sessions) >= maxRelayTotal, ShuttingDown: r.closed}
}

// serveLimits serves GET /relay/limits: the caps and the asking address's open relay
// connections, so a page whose /relay upgrade failed can say why (see protocol.RelayLimits).
func (r *relay) serveLimits(w http.ResponseWriter, req *http.Request) {
	b, err := json.Marshal(r.limits(remoteIP(req)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.Write(b)
}

// remoteIP is the request's peer address without its port.
func remoteIP(req *http.Request) string {
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return ip
}
