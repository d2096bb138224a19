package linkspec

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
)

func TestResolve(t *testing.T) {
	threeG, _ := link.Preset("3g")
	wifi, _ := link.Preset("wifi")
	edit := func(name string, f func(*protocol.Impairment)) Spec {
		s, err := Spec{Preset: name}.EditBoth("", f)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	up3g := ToWire(threeG.ClientToServer)
	up3g.DelayMs = 40
	tests := []struct {
		name       string
		spec       Spec
		def        string
		want       link.Settings
		wantName   string
		wantSeed   int64
		wantErr    string // substring; "" is success
		wantEdited bool
	}{
		{name: "nothing is clean, seed 1", want: link.Settings{}, wantName: "clean", wantSeed: 1},
		{name: "preset only", spec: Spec{Preset: "3g", Seed: 4}, want: threeG, wantName: "3g", wantSeed: 4},
		{name: "default preset", def: "wifi", want: wifi, wantName: "wifi", wantSeed: 1},
		{name: "preset beats default", spec: Spec{Preset: "3g"}, def: "wifi", want: threeG, wantName: "3g", wantSeed: 1},
		{name: "3g + one field keeps its queue and rate", spec: Spec{Preset: "3g", Up: &up3g},
			want: link.Settings{ClientToServer: link.Impairment{Delay: 40 * time.Millisecond, RateBitsPerSec: 1_000_000, QueueBytes: 64 << 10},
				ServerToClient: threeG.ServerToClient}, wantName: "3g", wantSeed: 1, wantEdited: true},
		{name: "3g + loss both ways", spec: edit("3g", func(im *protocol.Impairment) { im.LossPct = 5 }),
			want:     link.Both(link.Impairment{Delay: 150 * time.Millisecond, RateBitsPerSec: 1_000_000, QueueBytes: 64 << 10, Loss: 0.05}),
			wantName: "3g", wantSeed: 1, wantEdited: true},
		{name: "a direction equal to the preset's is no edit", spec: Spec{Preset: "3g", Down: ptr(ToWire(threeG.ServerToClient))},
			want: threeG, wantName: "3g", wantSeed: 1},
		{name: "every wire field reaches the link", spec: Spec{Up: &protocol.Impairment{DelayMs: 10, JitterMs: 2, Reorder: true,
			LossPct: 1, DuplicatePct: 2, RateKbps: 500, QueuePackets: 7, QueueBytes: 9000, MTU: 1280, DropNth: 3,
			Blackhole: true, BlackholeMs: 250, Burst: protocol.BurstLoss{PPct: 5, RPct: 50, LossBadPct: 80, LossGoodPct: 1}}},
			want: link.Settings{ClientToServer: link.Impairment{Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond, Reorder: true,
				Loss: 0.01, Duplicate: 0.02, RateBitsPerSec: 500_000, QueuePackets: 7, QueueBytes: 9000, MTU: 1280, DropNth: 3,
				Blackhole: true, BlackholeFor: 250 * time.Millisecond, Burst: link.GilbertElliott{P: 0.05, R: 0.5, LossBad: 0.8, LossGood: 0.01}}},
			wantName: "clean", wantSeed: 1, wantEdited: true},
		{name: "unknown preset", spec: Spec{Preset: "moon"}, wantErr: `unknown preset "moon" (want one of clean, lab-25ms`},
		{name: "unknown default preset", def: "mars", wantErr: `unknown preset "mars"`},
		{name: "negative delay", spec: Spec{Up: &protocol.Impairment{DelayMs: -5}}, wantErr: "link up: delay -5 ms is outside 0..5000"},
		{name: "loss over 100", spec: Spec{Down: &protocol.Impairment{LossPct: 150}}, wantErr: "link down: loss 150% is outside 0..100"},
		{name: "jitter over delay", spec: Spec{Up: &protocol.Impairment{DelayMs: 1, JitterMs: 2}}, wantErr: "link up: jitter 2 ms is outside 0..delay (1 ms)"},
		{name: "bad mtu", spec: Spec{Up: &protocol.Impairment{MTU: 20}}, wantErr: "link up: mtu 20 is outside 68..65535"},
		{name: "bad queue bytes", spec: Spec{Up: &protocol.Impairment{QueueBytes: -1}}, wantErr: "link up: queue_bytes -1 is outside"},
		{name: "bad burst", spec: Spec{Up: &protocol.Impairment{Burst: protocol.BurstLoss{RPct: 101}}}, wantErr: "link up: burst r 101% is outside 0..100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.spec, tt.def)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Settings != tt.want || got.Preset != tt.wantName || got.Seed != tt.wantSeed || got.Edited != tt.wantEdited {
				t.Errorf("got %+v\nwant preset %s, seed %d, edited %v, %+v", got, tt.wantName, tt.wantSeed, tt.wantEdited, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestWireRoundTrip: every preset survives the wire form unchanged, so the page can send a
// preset's direction back with one field edited.
func TestWireRoundTrip(t *testing.T) {
	for _, p := range link.Presets {
		for _, im := range []link.Impairment{p.Settings.ClientToServer, p.Settings.ServerToClient} {
			if got := FromWire(ToWire(im)); got != im {
				t.Errorf("%s: %+v came back as %+v", p.Name, im, got)
			}
		}
	}
	var names []string
	for _, p := range Presets() {
		names = append(names, p.Name)
		if p.Name == "3g" && (p.Up.QueueBytes != 64<<10 || p.Down.QueueBytes != 64<<10) {
			t.Errorf("3g preset on the wire: %+v", p)
		}
	}
	if strings.Join(names, ", ") != PresetNames() {
		t.Errorf("Presets %v, names %s", names, PresetNames())
	}
}

func TestFlags(t *testing.T) {
	parse := func(args ...string) (*Flags, error) {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := AddFlags(fs, "default: clean", "seed")
		return f, fs.Parse(args)
	}
	f, err := parse("--preset", "3g", "--loss", "5", "--jitter", "10ms", "--seed", "9")
	if err != nil {
		t.Fatal(err)
	}
	if g := strings.Join(f.Given(), " "); g != "--preset --seed --loss --jitter" {
		t.Errorf("Given %q", g)
	}
	s, err := f.Spec("")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Resolve(s, "")
	if err != nil {
		t.Fatal(err)
	}
	want := link.Both(link.Impairment{Delay: 150 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.05,
		RateBitsPerSec: 1_000_000, QueueBytes: 64 << 10})
	if l.Settings != want || l.Seed != 9 || l.Name() != "3g (edited)" {
		t.Errorf("3g --loss 5 --jitter 10ms: %+v, want %+v", l, want)
	}
	// Setting a field to zero is an edit too: the preset's loss goes.
	f, _ = parse("--preset", "wifi", "--loss", "0", "--reorder")
	s, _ = f.Spec("")
	if l, err := Resolve(s, ""); err != nil || l.Settings.ClientToServer.Loss != 0 || !l.Settings.ServerToClient.Reorder ||
		l.Settings.ClientToServer.Delay != 20*time.Millisecond {
		t.Errorf("wifi --loss 0 --reorder: %+v, %v", l, err)
	}
	// No flags: the default preset, untouched.
	f, _ = parse()
	if s, err := f.Spec("lab-25ms"); err != nil || s.Preset != "lab-25ms" || s.Up != nil || s.Down != nil || s.Seed != 1 {
		t.Errorf("no flags: %+v, %v", s, err)
	}
	f, _ = parse("--preset", "moon", "--loss", "1")
	if _, err := f.Spec(""); err == nil || !strings.Contains(err.Error(), `unknown preset "moon"`) {
		t.Errorf("--preset moon: %v", err)
	}
	f, _ = parse("--burst", "5,50,80")
	s, _ = f.Spec("")
	if l, err := Resolve(s, ""); err != nil || l.Settings.ServerToClient.Burst != (link.GilbertElliott{P: 0.05, R: 0.5, LossBad: 0.8}) {
		t.Errorf("--burst 5,50,80: %+v, %v", l, err)
	}
	for _, bad := range []string{"5,50", "5,x,80"} {
		f, _ = parse("--burst", bad)
		if _, err := f.Spec(""); err == nil || !strings.Contains(err.Error(), `--burst "`+bad+`"`) {
			t.Errorf("--burst %s: %v", bad, err)
		}
	}
}

// TestFlagErrors: a flag's value out of range is refused by Spec, naming the flag and the value.
func TestFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--loss", "150"}, "--loss 150: must be 0..100"},
		{[]string{"--loss", "-1"}, "--loss -1: must be 0..100"},
		{[]string{"--duplicate", "101"}, "--duplicate 101: must be 0..100"},
		{[]string{"--delay", "6s"}, "--delay 6s: must be 0..5s"},
		{[]string{"--rate", "-5"}, "--rate -5: must be 0..10000000 (kbit/s)"},
		{[]string{"--queue", "-1"}, "--queue -1: must be 0..100000 (packets)"},
		{[]string{"--mtu", "10"}, "--mtu 10: must be 68..65535, or 0 for no limit"},
		{[]string{"--blackhole", "2m"}, "--blackhole 2m0s: must be 0..1m0s"},
		{[]string{"--burst", "5,50,300"}, `--burst "5,50,300": BAD 300 must be 0..100`},
		{[]string{"--jitter", "5ms"}, "--jitter 5ms: must be at most the delay (0s)"},
		{[]string{"--preset", "lab-25ms", "--jitter", "30ms"}, "--jitter 30ms: must be at most the delay (25ms)"},
		{[]string{"--preset", "lab-25ms", "--jitter", "10ms", "--delay", "5ms"}, "--jitter 10ms: must be at most the delay (5ms)"},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f := AddFlags(fs, "", "")
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Spec(""); err == nil || err.Error() != tt.want {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}
