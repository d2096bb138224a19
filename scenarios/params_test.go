package scenarios

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParamParse(t *testing.T) {
	requests := Param{Name: "requests", Kind: KindInt, Min: "1", Max: "100"}
	hold := Param{Name: "hold", Kind: KindDuration, Min: "0", Max: "10s"}
	dup := Param{Name: "duplicate", Kind: KindFloat, Min: "0", Max: "0.5"}
	zero := Param{Name: "zero_rtt", Kind: KindBool}
	mode := Param{Name: "mode", Kind: KindEnum, Values: []string{"a", "b"}}
	losses := Param{Name: "losses", Kind: KindFloat, List: true, Min: "0", Max: "99.9"}
	rtts := Param{Name: "rtts", Kind: KindDuration, List: true, Min: "1ms"}
	trs := Param{Name: "transports", Kind: KindEnum, List: true, Values: []string{"tcp", "quic", "ws"}}
	tests := []struct {
		p       Param
		in      string
		want    any
		wantErr string
	}{
		{requests, "5", 5, ""},
		{requests, " 7 ", 7, ""},
		{requests, "abc", nil, `requests "abc" is not an integer`},
		{requests, "2.5", nil, `requests "2.5" is not an integer`},
		{requests, "500", nil, "requests 500 is outside 1..100"},
		{requests, "0", nil, "requests 0 is outside 1..100"},
		{hold, "250ms", 250 * time.Millisecond, ""},
		{hold, "0", time.Duration(0), ""},
		{hold, "soon", nil, `hold "soon" is not a duration`},
		{hold, "11s", nil, "hold 11s is outside 0..10s"},
		{hold, "-1ms", nil, "hold -1ms is outside 0..10s"},
		{dup, "0.25", 0.25, ""},
		{dup, "NaN", nil, `duplicate "NaN" is not a number`},
		{dup, "0.6", nil, "duplicate 0.6 is outside 0..0.5"},
		{zero, "true", true, ""},
		{zero, "maybe", nil, `zero_rtt "maybe" is not true or false`},
		{mode, "b", "b", ""},
		{mode, "c", nil, `mode "c" is not one of a, b`},
		{losses, "0, 0.5,1", []float64{0, 0.5, 1}, ""},
		{losses, "1,x", nil, `losses "x" is not a number`},
		{losses, "1,100", nil, "losses 100 is outside 0..99.9"},
		{losses, " , ", nil, `losses " , " has no values`},
		{rtts, "20ms,50ms", []time.Duration{20 * time.Millisecond, 50 * time.Millisecond}, ""},
		{rtts, "0s", nil, "rtts 0s is outside 1ms..…"},
		{trs, "tcp,ws", []string{"tcp", "ws"}, ""},
		{trs, "tcp,sctp", nil, `transports "sctp" is not one of tcp, quic, ws`},
	}
	for _, tt := range tests {
		t.Run(tt.p.Name+"="+tt.in, func(t *testing.T) {
			got, err := tt.p.Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, %v; want %#v", got, err, tt.want)
			}
		})
	}
}

// TestParamDeclarations: every scenario's parameters have a known kind, a default within their
// bounds, a help text and a label in words (no underscores: the page and reports show it), and
// the welcome's description carries them.
func TestParamDeclarations(t *testing.T) {
	for _, s := range All() {
		info := s.Info()
		for i, p := range s.Params {
			if _, err := p.Parse(p.Default); err != nil || p.Help == "" {
				t.Errorf("%s: parameter %+v: %v", s.Name, p, err)
			}
			if p.Label == "" || strings.Contains(p.Label, "_") {
				t.Errorf("%s: parameter %s has label %q, want words", s.Name, p.Name, p.Label)
			}
			if in := info.Params[i]; in.Kind != p.Kind || in.Min != p.Min || in.Max != p.Max || in.Unit != p.Unit || in.List != p.List || in.Label != p.Label {
				t.Errorf("%s: info %+v for %+v", s.Name, in, p)
			}
		}
	}
}

// TestRunRefusesBadParams: a bad value is refused before any run, naming the parameter and value.
func TestRunRefusesBadParams(t *testing.T) {
	hs := Lookup("handshake")
	for in, want := range map[string]string{
		"abc": `requests "abc" is not an integer`,
		"500": "requests 500 is outside 1..100",
	} {
		_, err := Run(context.Background(), hs, Options{Params: map[string]string{"requests": in}})
		if err == nil || err.Error() != want {
			t.Errorf("requests=%s: error %v, want %q", in, err, want)
		}
	}
	if _, err := Run(context.Background(), hs, Options{Params: map[string]string{"nope": "1"}}); err == nil ||
		!strings.Contains(err.Error(), `no parameter "nope"`) {
		t.Errorf("unknown parameter: %v", err)
	}
}
