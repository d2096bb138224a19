package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wireplay/wireplay/protocol"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  string // substring; "" means valid
	}{
		{"send", `{"v":1,"type":"send","id":1,"text":"hi"}`, ""},
		{"send some transports", `{"v":1,"type":"send","text":"hi","transports":["tcp","quic-dgram"]}`, ""},
		{"send the local transports", `{"v":1,"type":"send","text":"hi","transports":["tcp","unix","pipe"]}`, ""},
		{"burst", `{"v":1,"type":"burst","count":10,"size":64}`, ""},
		{"ping", `{"v":1,"type":"ping","t0":12.5}`, ""},
		{"reconnect", `{"v":1,"type":"reconnect"}`, ""},
		{"not json", `hello`, "malformed request"},
		{"truncated", `{"v":1,"type":"send"`, "malformed request"},
		{"wrong version", `{"v":2,"type":"send","text":"x"}`, "unsupported protocol version 2"},
		{"no version", `{"type":"send","text":"x"}`, "unsupported protocol version 0"},
		{"missing type", `{"v":1}`, "missing request type"},
		{"unknown type", `{"v":1,"type":"dial","text":"10.0.0.1:22"}`, `unknown request type "dial"`},
		{"unknown transport", `{"v":1,"type":"send","text":"x","transports":["sctp"]}`, `unknown transport "sctp"`},
		{"empty text", `{"v":1,"type":"send","text":""}`, "empty text"},
		{"long text", `{"v":1,"type":"send","text":"` + strings.Repeat("a", protocol.MaxTextBytes+1) + `"}`, "over the"},
		{"burst zero", `{"v":1,"type":"burst","count":0,"size":1}`, "count 0"},
		{"burst huge", `{"v":1,"type":"burst","count":500,"size":16384}`, "over the"},
		{"link with every impairment field", `{"v":1,"type":"link","link":{"mode":"link","preset":"3g","up":{"delay_ms":40,"rate_kbps":1000,"queue_bytes":65536,"queue_packets":10,"mtu":1280,"blackhole":true,"burst":{"p_pct":5,"r_pct":50,"loss_bad_pct":80}}}}`, ""},
		{"link bad mtu", `{"v":1,"type":"link","link":{"mode":"link","up":{"mtu":20}}}`, "link up: mtu 20 is outside 68..65535"},
		{"link bad queue bytes", `{"v":1,"type":"link","link":{"mode":"link","down":{"queue_bytes":-1}}}`, "link down: queue_bytes -1 is outside"},
		{"scenario bad burst", `{"v":1,"type":"scenario","scenario":{"name":"hol","up":{"burst":{"p_pct":120}}}}`, "scenario up: burst p 120% is outside 0..100"},
		{"oversize request", `{"v":1,"type":"send","text":"` + strings.Repeat("a", protocol.MaxRequestSize) + `"}`, "byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := protocol.DecodeRequest([]byte(tt.in))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"send","id":1,"text":"hi"}`,
		`{"v":1,"type":"burst","count":10,"size":64,"transports":["udp"]}`,
		`{"v":1,"type":"ping","t0":1}`,
		`{"v":1,"type":"reconnect"}`,
		`{"v":1,"type":"send","text":null}`,
		`[]`, `null`, `{"v":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := protocol.DecodeRequest(data)
		if err != nil {
			return
		}
		// Whatever is accepted respects the limits the relay relies on.
		if r.V != protocol.Version || r.Validate() != nil {
			t.Fatalf("accepted an invalid request %+v", r)
		}
		if len(r.Text) > protocol.MaxTextBytes || r.Count*r.Size > protocol.MaxBurstBytes || r.Count > protocol.MaxBurstCount {
			t.Fatalf("accepted a request over the limits: %d text bytes, %d×%d", len(r.Text), r.Count, r.Size)
		}
		for _, tr := range r.Transports {
			if !tr.Valid() {
				t.Fatalf("accepted transport %q", tr)
			}
		}
	})
}

// TestImpairmentJSON: the fields added to Impairment are left out when zero, so what older
// clients sent and read is unchanged.
func TestImpairmentJSON(t *testing.T) {
	b, err := json.Marshal(protocol.Impairment{DelayMs: 5, QueuePackets: 3})
	if err != nil || string(b) != `{"delay_ms":5,"queue_packets":3}` {
		t.Errorf("got %s, %v", b, err)
	}
	b, _ = json.Marshal(protocol.Impairment{QueueBytes: 65536, Burst: protocol.BurstLoss{PPct: 1}})
	if string(b) != `{"queue_bytes":65536,"burst":{"p_pct":1}}` {
		t.Errorf("got %s", b)
	}
}

// TestChatInRoom: the wrapped chat event decodes as the room event carrying it, of this version.
func TestChatInRoom(t *testing.T) {
	inner, _ := json.Marshal(protocol.ChatEvent{V: protocol.Version, Type: protocol.ChatMessage, From: "Ada", Text: `"<x>"`})
	var e protocol.RoomEvent
	if err := json.Unmarshal(protocol.ChatInRoom(inner), &e); err != nil {
		t.Fatal(err)
	}
	if e.V != protocol.Version || e.Type != protocol.RoomChat || e.Chat == nil || e.Chat.From != "Ada" || e.Chat.Text != `"<x>"` {
		t.Fatalf("%+v", e)
	}
}
