//go:build js && wasm

package main

import (
	"regexp"
	"strings"
	"syscall/js"
)

// errClasses map the error strings Go's net, quic-go, crypto/tls and coder/websocket produce to
// a sentence, first match wins; the raw string goes into a tooltip.
var errClasses = []struct {
	match []string
	say   string
}{
	{[]string{"connection refused"}, "The server refused the connection: nothing is listening at that address."},
	{[]string{"connection reset", "reset by peer", "broken pipe", "stateless_reset", "Stateless Reset"}, "The other side reset the connection."},
	{[]string{"i/o timeout", "deadline exceeded", "timeout: no recent network activity", "handshake did not complete in time", "Handshake did not complete in time", "timed out"}, "Timed out: no answer came in time."},
	{[]string{"tls:", "x509:", "certificate", "CRYPTO_ERROR", "crypto error"}, "The TLS handshake failed."},
	{[]string{"network is unreachable", "no route to host", "host is down"}, "The network cannot reach the server."},
	{[]string{"use of closed network connection", "EOF", "connection closed", "closed network", "StatusGoingAway", "status = StatusGoingAway"}, "The connection was closed."},
	{[]string{"too many"}, ""}, // the server's own words: shown as they are
}

// goPrefix is the "dial quic: ", "read tcp 127.0.0.1:1->127.0.0.1:2: " chain Go puts before an error.
var goPrefix = regexp.MustCompile(`^(?i)(dial|read|write|send|accept|listen|connect|handshake|run|failed to [a-z ]+|websocket|quic|tcp|udp|ws|tls|link|scenario)\b[^:]{0,60}: `)

// humanError is raw (an error string from the server or a Go library) as a sentence for the
// page; detail is the raw string when the sentence leaves part of it out ("" when not).
func humanError(raw string) (say, detail string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "Something failed, without saying why.", ""
	}
	for _, c := range errClasses {
		for _, m := range c.match {
			if strings.Contains(raw, m) {
				if c.say == "" {
					return sentence(raw), ""
				}
				return c.say, raw
			}
		}
	}
	s := raw
	for range 8 {
		t := goPrefix.ReplaceAllString(s, "")
		if t == s {
			break
		}
		s = t
	}
	if s == raw {
		return sentence(raw), ""
	}
	return sentence(s), raw
}

// sentence starts s with a capital and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}

// setError shows raw on e as a sentence, the raw text in its tooltip ("details: …").
func setError(e js.Value, prefix, raw string) {
	say, detail := humanError(raw)
	setText(e, prefix+say)
	if detail != "" {
		e.Set("title", "details: "+detail)
	} else {
		e.Call("removeAttribute", "title")
	}
	e.Call("setAttribute", "data-error", raw)
}

// errorEl is an element of class cls showing raw as a sentence (see setError).
func errorEl(tag, cls, prefix, raw string) js.Value {
	e := el(tag, cls, "")
	setError(e, prefix, raw)
	return e
}
