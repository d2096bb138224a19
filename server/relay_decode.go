package server

import (
	"math"
	"unicode/utf8"

	"github.com/wireplay/wireplay/protocol"
)

// decodeRequest is protocol.DecodeRequest, without reflection for the requests a page sends
// with every message. A request of the plain shape json.Marshal gives those — an object with
// lowercase keys among v, type, id, transports, text, count and size, each at most once, strings
// without escapes, non-negative integers — is read by hand (scanRequest); anything else
// (escapes, other keys, floats, nested objects, anything malformed) goes to
// protocol.DecodeRequest, so its result and its error are encoding/json's. FuzzDecodeRequest
// checks the two agree.
func decodeRequest(data []byte) (protocol.Request, error) {
	if r, ok := scanRequest(data); ok {
		return r, r.Validate()
	}
	return protocol.DecodeRequest(data)
}

// The keys scanRequest reads, as bits of the set it has seen.
const (
	keyV = 1 << iota
	keyType
	keyID
	keyTransports
	keyText
	keyCount
	keySize
)

// scanRequest reads data as a Request when it has the plain shape decodeRequest describes, and
// says whether it did; what it accepts is valid JSON that encoding/json decodes to the same value.
func scanRequest(data []byte) (protocol.Request, bool) {
	var r protocol.Request
	if len(data) > protocol.MaxRequestSize {
		return r, false
	}
	s := reqScanner{b: data}
	if !s.byte('{') {
		return r, false
	}
	seen := 0
	if !s.byte('}') {
		for {
			key, ok := s.str()
			if !ok || !s.byte(':') {
				return r, false
			}
			var bit int
			switch string(key) {
			case "v":
				bit = keyV
				r.V, ok = s.int()
			case "type":
				bit = keyType
				var v []byte
				v, ok = s.str()
				r.Type = requestType(v)
			case "id":
				bit = keyID
				r.ID, ok = s.uint(math.MaxUint64)
			case "transports":
				bit = keyTransports
				r.Transports, ok = s.transports()
			case "text":
				bit = keyText
				var v []byte
				v, ok = s.str()
				r.Text = string(v)
			case "count":
				bit = keyCount
				r.Count, ok = s.int()
			case "size":
				bit = keySize
				r.Size, ok = s.int()
			default:
				return r, false
			}
			if !ok || seen&bit != 0 {
				return r, false
			}
			seen |= bit
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return r, false
			}
		}
	}
	s.space()
	return r, s.i == len(s.b)
}

// reqScanner reads the JSON subset scanRequest accepts; each method skips the white space
// before its token and says whether the token was there.
type reqScanner struct {
	b []byte
	i int
}

func (s *reqScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *reqScanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string with no escapes, no control bytes and valid UTF-8 (which encoding/json
// takes as it is).
func (s *reqScanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return nil, false
}

// uint reads a non-negative integer no larger than limit, in JSON's form (no leading zeros).
func (s *reqScanner) uint(limit uint64) (uint64, bool) {
	s.space()
	start := s.i
	var v uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if v > (limit-d)/10 {
			return 0, false
		}
		v = v*10 + d
		s.i++
	}
	switch n := s.i - start; {
	case n == 0, n > 1 && s.b[start] == '0':
		return 0, false
	}
	return v, true
}

// int reads a non-negative integer that fits an int.
func (s *reqScanner) int() (int, bool) {
	v, ok := s.uint(math.MaxInt)
	return int(v), ok
}

// transports reads an array of strings; an empty array is an empty, non-nil slice, as
// encoding/json makes it.
func (s *reqScanner) transports() ([]protocol.Transport, bool) {
	if !s.byte('[') {
		return nil, false
	}
	ts := []protocol.Transport{}
	if s.byte(']') {
		return ts, true
	}
	for {
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		ts = append(ts, transport(v))
		if s.byte(']') {
			return ts, true
		}
		if !s.byte(',') {
			return nil, false
		}
	}
}

// requestType is string(v), without a copy for the request types there are.
func requestType(v []byte) string {
	switch string(v) {
	case protocol.TypeSend:
		return protocol.TypeSend
	case protocol.TypeBurst:
		return protocol.TypeBurst
	case protocol.TypeReconnect:
		return protocol.TypeReconnect
	}
	return string(v)
}

// transport is protocol.Transport(v), without a copy for the transports there are.
func transport(v []byte) protocol.Transport {
	for _, t := range protocol.Transports {
		if string(v) == string(t) {
			return t
		}
	}
	for _, t := range protocol.Local {
		if string(v) == string(t) {
			return t
		}
	}
	return protocol.Transport(v)
}
