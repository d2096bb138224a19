//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"
	"unicode/utf8"
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

// goOps are the words an error's "dial quic: ", "read tcp 127.0.0.1:1->127.0.0.1:2: " prefix
// chain starts with (besides "failed to …"), matched case-insensitively.
var goOps = []string{"dial", "read", "write", "send", "accept", "listen", "connect", "handshake", "run", "websocket", "quic", "tcp", "udp", "ws", "tls", "link", "scenario"}

// stripGoPrefix removes one such prefix from the start of s: an operation word, at most 60 more
// characters and ": ". (It was the regular expression
// `^(?i)(dial|…|failed to [a-z ]+|…|scenario)\b[^:]{0,60}: `; spelled out, the page's wasm does
// not link regexp.)
func stripGoPrefix(s string) string {
	c := strings.IndexByte(s, ':')
	if c < 0 || c+1 >= len(s) || s[c+1] != ' ' {
		return s
	}
	fits := func(end int) bool { // the operation word ends at end
		return wordBoundary(s, end) && utf8.RuneCountInString(s[end:c]) <= 60
	}
	for _, op := range goOps {
		if len(op) <= c && strings.EqualFold(s[:len(op)], op) && fits(len(op)) {
			return s[c+2:]
		}
	}
	const failed = "failed to "
	if len(failed) < c && strings.EqualFold(s[:len(failed)], failed) {
		for end := len(failed) + 1; end <= c && isLetterOrSpace(s[end-1]); end++ {
			if fits(end) {
				return s[c+2:]
			}
		}
	}
	return s
}

func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

func isLetterOrSpace(b byte) bool { return b == ' ' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// wordBoundary is regexp's \b at i in s (0 < i ≤ len(s)).
func wordBoundary(s string, i int) bool {
	return isWordByte(s[i-1]) != (i < len(s) && isWordByte(s[i]))
}

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
		t := stripGoPrefix(s)
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
