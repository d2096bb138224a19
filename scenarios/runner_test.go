package scenarios

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/report"
)

// udpRTT is a small real scenario for testing the engine: UDP round trips across the run's link.
var udpRTT = &Scenario{
	Name: "test-udp-rtt", Title: "UDP RTT (engine test)", Summary: "engine test", Preset: "clean",
	Params: []Param{{Name: "count", Label: "datagrams", Kind: KindInt, Min: "1", Default: "5", Help: "datagrams"}},
	Run: func(ctx context.Context, env *Env) (*Result, error) {
		srv, err := env.Link.Server().ListenPacket(ctx, "udp", env.Link.ServerAddr().String()+":0")
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := srv.ReadFrom(buf)
				if err != nil {
					return
				}
				srv.WriteTo(buf[:n], from)
			}
		}()
		c, err := env.Link.Client().Dial(ctx, "udp", srv.LocalAddr().String())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		res := &Result{}
		var total time.Duration
		n := env.Int("count")
		buf := make([]byte, 100)
		for i := range n {
			start := time.Now()
			c.Write([]byte("ping"))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Read(buf); err != nil {
				return nil, fmt.Errorf("datagram %d: %w", i, err)
			}
			rtt := time.Since(start)
			total += rtt
			res.Series = append(res.Series, Series{Chart: "RTT", Name: "udp", XLabel: "datagram", YLabel: "ms",
				Points: []Point{{X: float64(i), Y: float64(rtt.Microseconds()) / 1000}}})
		}
		mean := float64(total.Microseconds()) / 1000 / float64(n)
		res.Metrics = append(res.Metrics, Metric{Transport: "udp", Name: "rtt", Unit: "ms", Value: mean})
		res.Conclusion = fmt.Sprintf("UDP round trips took %.1f ms on average.", mean)
		return res, nil
	},
}

func init() { Register(udpRTT) }

func TestRunRepeatsAndSummarizes(t *testing.T) {
	settings := link.Both(link.Impairment{Delay: 5 * time.Millisecond})
	dir := t.TempDir()
	rep, err := Run(context.Background(), udpRTT, Options{Settings: &settings, Seed: 7, Repeat: 3, OutDir: dir, Params: map[string]string{"count": "4"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 3 || rep.Seed != 7 || rep.Params["count"] != "4" || rep.Preset != "custom" {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Stats) != 1 || rep.Stats[0].N != 3 {
		t.Fatalf("stats %+v", rep.Stats)
	}
	st := rep.Stats[0]
	// 2 × 5 ms one way, plus the stacks and, under -race on a busy machine, some scheduling.
	if st.Mean < 9.5 || st.Mean > 30 {
		t.Errorf("mean RTT %.2f ms across a 5 ms each-way link, want about 10", st.Mean)
	}
	if st.Min > st.Mean || st.Max < st.Mean || st.CI95 < 0 {
		t.Errorf("stat %+v", st)
	}
	pcaps, _ := filepath.Glob(filepath.Join(dir, "*.pcapng"))
	if len(pcaps) != 3 {
		t.Errorf("pcapng files %v, want 3", pcaps)
	}
	for _, p := range pcaps {
		b, _ := os.ReadFile(p)
		if len(b) < 4 || !bytes.Equal(b[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
			t.Errorf("%s is not pcapng", p)
		}
	}

	t.Run("formats", func(t *testing.T) {
		var js bytes.Buffer
		if err := Write(&js, rep, "json"); err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Stats[0].Mean != st.Mean || len(back.Runs) != 3 {
			t.Errorf("json round trip: %v %+v", err, back.Stats)
		}
		var cs bytes.Buffer
		Write(&cs, rep, "csv")
		rows, err := csv.NewReader(&cs).ReadAll()
		if err != nil || len(rows) != 2 || rows[1][1] != "udp" || rows[1][2] != "rtt" {
			t.Errorf("csv %v %v", rows, err)
		}
		var tb bytes.Buffer
		Write(&tb, rep, "table")
		if !strings.Contains(tb.String(), "UDP round trips took") || !strings.Contains(tb.String(), "± 95% CI") {
			t.Errorf("table:\n%s", tb.String())
		}
		if err := Write(&tb, rep, "yaml"); err == nil {
			t.Error("unknown format accepted")
		}
		var h bytes.Buffer
		report.WriteHTML(&h, rep)
		if !strings.Contains(h.String(), "<svg") || strings.Contains(h.String(), "http://") && !strings.Contains(h.String(), "http://www.w3.org/2000/svg") {
			t.Errorf("html report lacks a chart or loads something external")
		}
	})
}

func TestRunRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  Options
		want string
	}{
		{"unknown param", Options{Params: map[string]string{"nope": "1"}}, `no parameter "nope"`},
		{"unknown preset", Options{Preset: "moon"}, `unknown preset "moon"`},
		{"repeat", Options{Repeat: -1}, "outside 1..1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), udpRTT, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSummarizeCI(t *testing.T) {
	runs := []*Result{{Metrics: []Metric{{Name: "x", Value: 1}}}, {Metrics: []Metric{{Name: "x", Value: 3}}}}
	st := Summarize(runs)[0]
	// mean 2, sd √2, t(1) = 12.706: half-width 12.706·√2/√2 = 12.706
	if st.Mean != 2 || st.CI95 < 12.70 || st.CI95 > 12.71 {
		t.Errorf("%+v", st)
	}
}
