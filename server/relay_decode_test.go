package server

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/wireplay/wireplay/protocol"
)

// realRequests are requests as the page (json.Marshal in the wasm client) and the benchmark send
// them.
func realRequests(t testing.TB) [][]byte {
	var out [][]byte
	for _, r := range []protocol.Request{
		{V: 1, Type: protocol.TypeSend, ID: 7, Text: "hello", Transports: []protocol.Transport{protocol.TCP}},
		{V: 1, Type: protocol.TypeSend, ID: 1 << 40, Text: "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl", Transports: []protocol.Transport{protocol.QUICDgram}},
		{V: 1, Type: protocol.TypeSend, ID: 2, Text: "héllo ✓ <b>&</b> \"quoted\"\n"},
		{V: 1, Type: protocol.TypeSend, ID: 3, Text: "x", Transports: protocol.Transports},
		{V: 1, Type: protocol.TypeBurst, ID: 4, Count: 50, Size: 1200, Transports: []protocol.Transport{protocol.UDP, protocol.WS}},
		{V: 1, Type: protocol.TypeReconnect, ID: 5},
		{V: 1, Type: protocol.TypePing, ID: 6, T0: 12345.678},
		{V: 1, Type: protocol.TypeLink, ID: 8, Link: &protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "wifi", Up: &protocol.Impairment{LossPct: 5}}},
		{V: 1, Type: protocol.TypeScenario, ID: 9, Scenario: &protocol.ScenarioRequest{Name: "hol"}},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// sameAsDecodeRequest checks decodeRequest against protocol.DecodeRequest (encoding/json) on
// data: the same request and the same error, and where scanRequest reads data by hand,
// encoding/json accepts it and decodes the same value.
func sameAsDecodeRequest(t *testing.T, data []byte) (scanned bool) {
	t.Helper()
	got, gotErr := decodeRequest(data)
	want, wantErr := protocol.DecodeRequest(data)
	if !reflect.DeepEqual(got, want) || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("decodeRequest(%q) = %+v, %v; DecodeRequest: %+v, %v", data, got, gotErr, want, wantErr)
	}
	r, ok := scanRequest(data)
	if ok {
		var j protocol.Request
		if err := json.Unmarshal(data, &j); err != nil {
			t.Fatalf("scanRequest read %q, which encoding/json refuses: %v", data, err)
		}
		if !reflect.DeepEqual(r, j) {
			t.Fatalf("scanRequest(%q) = %+v, encoding/json %+v", data, r, j)
		}
	}
	return ok
}

// TestDecodeRequestScansPageRequests: the requests of every message (send, burst, reconnect)
// are read by hand, the rest by encoding/json, and both agree with encoding/json.
func TestDecodeRequestScansPageRequests(t *testing.T) {
	reqs := realRequests(t)
	for i, b := range reqs {
		scanned := sameAsDecodeRequest(t, b)
		// The third has escapes (json.Marshal writes \u003c, \", \n); ping has a float, link
		// and scenario nested objects.
		want := i != 2 && i < 6
		if scanned != want {
			t.Errorf("%s: read by hand %v, want %v", b, scanned, want)
		}
	}
	for _, s := range []string{
		` { "v" : 1 , "type" : "send" , "id" : 0 , "text" : "a" , "transports" : [ ] } `,
		"{\"v\":1,\"type\":\"send\",\"text\":\"\xff\"}",
		`{"v":1,"type":"send","text":"a","text":"b"}`,
		`{"V":1,"type":"send","text":"a"}`,
		`{"v":1,"type":"send","text":"a","extra":true}`,
		`{"v":01,"type":"send","text":"a"}`,
		`{"v":1.0,"type":"send","text":"a"}`,
		`{"v":-1,"type":"send","text":"a"}`,
		`{"v":1,"type":"send","id":18446744073709551615,"text":"a"}`,
		`{"v":1,"type":"send","id":18446744073709551616,"text":"a"}`,
		`{"v":1,"type":"burst","count":9223372036854775807,"size":9223372036854775808}`,
		`{"v":1,"type":"send","text":null}`,
		`{"v":1,"type":"send","text":"a"}x`,
		`{"v":1,"type":"send","text":"a",}`,
		`{"v":1,"type":"send","transports":["tcp",]}`,
		`{"v":1,"type":"send","transports":["nope"],"text":"a"}`,
		`{}`, ``, `[]`, `{`, `"v"`,
	} {
		sameAsDecodeRequest(t, []byte(s))
	}
}

// FuzzDecodeRequest: on any input, decodeRequest gives protocol.DecodeRequest's request and
// error, and what scanRequest reads by hand encoding/json decodes the same.
func FuzzDecodeRequest(f *testing.F) {
	for _, b := range realRequests(f) {
		f.Add(b)
	}
	f.Add([]byte(` { "v" : 1 , "type" : "send" , "id" : 0 , "text" : "a" , "transports" : [ ] } `))
	f.Add([]byte(`{"v":1,"type":"send","id":18446744073709551616,"text":"a"}`))
	f.Add([]byte(`{"v":1,"type":"send","text":"a","text":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsDecodeRequest(t, data)
	})
}

func BenchmarkDecodeRequest(b *testing.B) {
	data := realRequests(b)[1]
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			protocol.DecodeRequest(data)
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			decodeRequest(data)
		}
	})
}
