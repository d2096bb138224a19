package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/wireplay/wireplay/link"
	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/transports"
)

// downloadURL is the address of a capture download: what is "pcapng" or "qlog", query its query
// string. The session goes in the protocol.SessionHeader header.
func downloadURL(base, what, query string) string {
	u := base + "/relay/" + what
	if query != "" {
		u += "?" + query
	}
	return u
}

// burstMiB asks for a 1 MiB burst (64 messages of 16 KiB, the protocol's largest) on each of
// transports, and reads events until every message of it is complete or lost.
func burstMiB(rc *relayClient, id uint64, transports ...protocol.Transport) {
	rc.t.Helper()
	rc.send(protocol.Request{Type: protocol.TypeBurst, ID: id, Count: protocol.MaxBurstBytes / protocol.MaxBurstSize,
		Size: protocol.MaxBurstSize, Transports: transports})
	done := 0
	rc.until(func(e protocol.Event) bool {
		if e.Req != id {
			return false
		}
		switch e.Type {
		case protocol.EventComplete, protocol.EventLost:
			done++
		case protocol.EventError:
			rc.t.Fatalf("burst %d: %s", id, e.Error)
		}
		return done == len(transports)*protocol.MaxBurstBytes/protocol.MaxBurstSize
	})
}

// TestLinkModeCapturesCapped: a page that sends far more than Config.CaptureBytes and
// Config.QLogBytes over its emulated link downloads a pcapng and qlogs within those bounds,
// each saying it was truncated, and each still whole (tshark reads the capture; every qlog
// record is JSON).
func TestLinkModeCapturesCapped(t *testing.T) {
	const capture, qlogs = 256 << 10, 6 * (96 << 10) // a trace's share is 96 KiB
	s := startServer(t, server.Config{CaptureBytes: capture, QLogBytes: qlogs})
	base := "http://" + s.Addrs().HTTP
	rc, welcome := dialRelayWelcome(t, s)
	rc.switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "clean"}, nil)
	for i := range 3 { // 3 MiB each way per transport: 12× the capture bound
		burstMiB(rc, uint64(10+i), protocol.QUICStream, protocol.TCP)
	}

	code, hdr, b := getCapture(t, downloadURL(base, "pcapng", ""), welcome.Session)
	if code != 200 {
		t.Fatalf("pcapng: %d %s", code, b)
	}
	if hdr.Get(protocol.TruncatedHeader) == "" {
		t.Errorf("pcapng download has no %s header", protocol.TruncatedHeader)
	}
	// The log's bound covers the packets; the header and the TLS key log come on top.
	if n := enhancedPacketBlocks(t, b); len(b) > capture+16<<10 || n == 0 {
		t.Errorf("pcapng of %d bytes (%d packets), bound %d", len(b), n, capture)
	}
	if !bytes.Contains(b[:min(len(b), 1024)], []byte(link.TruncatedComment)) {
		t.Errorf("pcapng section header does not say it was truncated: %q", b[:min(len(b), 200)])
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		f := filepath.Join(t.TempDir(), "c.pcapng")
		os.WriteFile(f, b, 0o600)
		out, err := exec.Command(tshark, "-r", f, "-T", "fields", "-e", "frame.number").Output()
		if n := bytes.Count(out, []byte("\n")); err != nil || n != enhancedPacketBlocks(t, b) {
			t.Errorf("tshark read %d packets: %v\n%s", n, err, out[:min(len(out), 500)])
		}
	}

	for _, side := range []string{"client", "server"} {
		code, hdr, b := getCapture(t, downloadURL(base, "qlog", "transport=quic-stream&side="+side), welcome.Session)
		if code != 200 || len(b) > qlogs/6 {
			t.Fatalf("qlog of the %s: %d, %d bytes (share %d)", side, code, len(b), qlogs/6)
		}
		if hdr.Get(protocol.TruncatedHeader) == "" {
			t.Errorf("%s qlog download has no %s header", side, protocol.TruncatedHeader)
		}
		recs := bytes.Split(b, []byte{qlogwriter.RecordSeparator})[1:]
		for i, r := range recs {
			if !json.Valid(r) {
				t.Fatalf("%s: record %d is not JSON: %q", side, i, r)
			}
		}
		var last struct{ Name string }
		if json.Unmarshal(recs[len(recs)-1], &last); last.Name != transports.QLogTruncatedEvent {
			t.Errorf("%s qlog ends in %s, want %s", side, recs[len(recs)-1], transports.QLogTruncatedEvent)
		}
	}
	code, hdr, b = getCapture(t, downloadURL(base, "qlog", "transport=quic-stream"), welcome.Session)
	if hdr.Get(protocol.TruncatedHeader) == "" {
		t.Errorf("qlog download of both ends has no %s header", protocol.TruncatedHeader)
	}
	if code != 200 || !bytes.Contains(b, []byte(transports.QLogTruncatedEvent)) || len(b) > 2*qlogs/6 {
		t.Errorf("qlog of both ends: %d, %d bytes, truncation shown %v", code, len(b), bytes.Contains(b, []byte(transports.QLogTruncatedEvent)))
	}
}

// The memory budget (README "Hosting", BENCHMARKS.md): what the server's resident memory may
// grow by, over an idle server's, for each thing a client can hold. TestMemoryBudget checks
// them against a separate server process.
const (
	budgetIdlePage = 256 << 10 // a page connected to /relay, on the kernel's loopback
	budgetLinkPage = 160 << 20 // a page in link mode, driven as hard as the protocol allows (downloads included)
	budgetLesson   = 64 << 20  // a running lesson (at most 2 run at once, server-wide)
)

// buildWireplay builds the wireplay command without the race detector (as it is deployed)
// into a temporary directory.
func buildWireplay(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "wireplay")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/wireplay/wireplay/cmd/wireplay")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/wireplay: %v\n%s", err, out)
	}
	return bin
}

// vmRSS reads a process's resident set size.
func vmRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the server's RSS: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}

// budgetPage is a relay connection driven from its own goroutine (no testing.T calls).
type budgetPage struct {
	c       *websocket.Conn
	session string
	pending []protocol.Event
}

func openBudgetPage(ctx context.Context, httpAddr string) (*budgetPage, error) {
	return openBudgetPageFrom(ctx, httpAddr, nil)
}

// openBudgetPageFrom opens a page from the local address from (nil: any).
func openBudgetPageFrom(ctx context.Context, httpAddr string, from net.Addr) (*budgetPage, error) {
	var opts *websocket.DialOptions
	if from != nil {
		d := &net.Dialer{LocalAddr: from}
		opts = &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}}
	}
	c, _, err := websocket.Dial(ctx, "ws://"+httpAddr+"/relay", opts)
	if err != nil {
		return nil, fmt.Errorf("dial relay: %w", err)
	}
	c.SetReadLimit(protocol.MaxReportMessage)
	p := &budgetPage{c: c}
	e, err := p.next(ctx)
	if err != nil || e.Type != protocol.EventWelcome {
		c.CloseNow()
		return nil, fmt.Errorf("welcome: %+v %v", e, err)
	}
	p.session = e.Session
	return p, nil
}

func (p *budgetPage) send(ctx context.Context, r protocol.Request) error {
	r.V = protocol.Version
	b, _ := json.Marshal(r)
	return p.c.Write(ctx, websocket.MessageText, b)
}

func (p *budgetPage) next(ctx context.Context) (protocol.Event, error) {
	for len(p.pending) == 0 {
		_, b, err := p.c.Read(ctx)
		if err != nil {
			return protocol.Event{}, err
		}
		if p.pending, err = protocol.DecodeEvents(b); err != nil {
			return protocol.Event{}, err
		}
	}
	e := p.pending[0]
	p.pending = p.pending[1:]
	return e, nil
}

// budgetSeconds is how long TestMemoryBudget drives its pages: 30 s, or WIREPLAY_BUDGET_SECONDS.
func budgetSeconds(t *testing.T) time.Duration {
	d := 30 * time.Second
	if v := os.Getenv("WIREPLAY_BUDGET_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("WIREPLAY_BUDGET_SECONDS=%q: want a number of seconds", v)
		}
		d = time.Duration(n) * time.Second
	}
	return d
}

// TestMemoryBudget runs `wireplay serve` (built as deployed) as a process of its own and, for 30 s, drives one page in link
// mode as hard as the protocol allows — 1 MiB bursts over quic-stream and tcp back to back, as
// many at once as a session may run, while two loops download its pcapng and qlogs — and a
// second page running lessons back to back, with 32 idle pages connected beside them. The
// server's resident memory (VmRSS), sampled every 50 ms, must stay within its idle value plus
// the budget of each.
func TestMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a server for 30 s")
	}
	dur := budgetSeconds(t)
	drive, downloading, lessons := budgetDrives(t)
	cmd := exec.Command(buildWireplay(t), "serve", "--http-addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0",
		"--udp-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0", "--http-lesson-addr", "127.0.0.1:0", "--chat-tcp-addr", "127.0.0.1:0", "--zmq-addr", "127.0.0.1:0", "--zmq-pub-addr", "127.0.0.1:0")
	for _, kv := range os.Environ() { // its defaults, whatever this environment sets
		if !strings.HasPrefix(kv, "WIREPLAY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // its memory is measured; how it shuts down is not
		cmd.Process.Kill()
		cmd.Wait()
	})
	var addr string
	sc := bufio.NewScanner(stdout)
	for addr == "" && sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "page" {
			addr = strings.TrimSuffix(strings.TrimPrefix(f[1], "http://"), "/")
		}
	}
	if addr == "" {
		t.Fatalf("wireplay serve printed no page address; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	pid := cmd.Process.Pid
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()

	// The idle server: one send over every transport has made its kernel-mode clients.
	warm, err := openBudgetPage(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	warm.send(ctx, protocol.Request{Type: protocol.TypeSend, ID: 1, Text: "warm up"})
	for n := 0; n < len(protocol.Transports); {
		e, err := warm.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == protocol.EventComplete || e.Type == protocol.EventLost {
			n++
		}
	}
	time.Sleep(500 * time.Millisecond)
	base := vmRSS(t, pid)

	// Idle pages from 127.0.0.2–5, as many as each IP may open (--max-relay-per-ip 8).
	const idle = 32
	for i := range idle {
		from := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/8))}
		p, err := openBudgetPageFrom(ctx, addr, from)
		if err != nil {
			t.Fatal(err)
		}
		defer p.c.CloseNow()
	}
	time.Sleep(500 * time.Millisecond)
	idleRSS := vmRSS(t, pid)
	if grew := idleRSS - base; grew > idle*budgetIdlePage {
		t.Errorf("%d idle pages grew the server's RSS by %d KiB, budget %d KiB each", idle, grew>>10, budgetIdlePage>>10)
	}

	page, err := openBudgetPage(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer page.c.CloseNow()
	if err := page.send(ctx, protocol.Request{Type: protocol.TypeLink, ID: 1, Link: &protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "clean"}}); err != nil {
		t.Fatal(err)
	}
	for {
		e, err := page.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == protocol.EventLink && e.Req == 1 {
			break
		}
	}

	var peak atomic.Int64
	peak.Store(vmRSS(t, pid))
	end := time.Now().Add(dur)
	runCtx, stop := context.WithDeadline(ctx, end)
	defer stop()
	var wg sync.WaitGroup
	var bursts, busy, downloads, downloaded, lessonRuns, lessonEvents atomic.Int64
	errs := make(chan error, 8)
	var windows [6]atomic.Int64 // the peak of each sixth of the run, to show whether it levels off
	start := time.Now()
	wg.Go(func() { // the sampler
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for runCtx.Err() == nil {
			<-tick.C
			w := &windows[min(int(time.Since(start)*6/dur), 5)]
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				errs <- err
				return
			}
			for line := range strings.Lines(string(b)) {
				if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseInt(f[1], 10, 64)
					for _, p := range []*atomic.Int64{&peak, w} {
						for old := p.Load(); kb<<10 > old && !p.CompareAndSwap(old, kb<<10); old = p.Load() {
						}
					}
				}
			}
		}
	})
	wg.Go(func() { // the link-mode page: 1 MiB bursts, as many at once as a session runs
		if !drive {
			return
		}
		const perBurst = 2 * protocol.MaxBurstBytes / protocol.MaxBurstSize // messages, both transports
		left := map[uint64]int{}
		next := uint64(100)
		burst := func() error {
			next++
			left[next] = perBurst
			return page.send(runCtx, protocol.Request{Type: protocol.TypeBurst, ID: next, Count: protocol.MaxBurstBytes / protocol.MaxBurstSize,
				Size: protocol.MaxBurstSize, Transports: []protocol.Transport{protocol.QUICStream, protocol.TCP}})
		}
		for range 4 {
			if burst() != nil {
				return
			}
		}
		for runCtx.Err() == nil {
			e, err := page.next(runCtx)
			if err != nil {
				return
			}
			switch e.Type {
			case protocol.EventComplete, protocol.EventLost:
				if left[e.Req]--; left[e.Req] > 0 {
					continue
				}
				bursts.Add(1)
			case protocol.EventError:
				if _, ok := left[e.Req]; !ok || !strings.HasPrefix(e.Error, "busy") {
					continue
				}
				busy.Add(1)
			default:
				continue
			}
			delete(left, e.Req)
			if burst() != nil {
				return
			}
		}
	})
	for range 2 { // two loops downloading the page's captures
		if !downloading {
			break
		}
		wg.Go(func() {
			base := "http://" + addr
			urls := []string{downloadURL(base, "pcapng", ""),
				downloadURL(base, "qlog", "transport=quic-stream"),
				downloadURL(base, "qlog", "transport=quic-stream&side=client"),
				downloadURL(base, "qlog", "transport=quic-stream&side=server")}
			for i := 0; runCtx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(runCtx, "GET", urls[i%len(urls)], nil)
				req.Header.Set(protocol.SessionHeader, page.session)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					downloads.Add(1)
					downloaded.Add(n)
				}
			}
		})
	}
	if lessons {
		wg.Go(func() { // the lesson page: the head-of-line lesson, back to back
			lp, err := openBudgetPage(runCtx, addr)
			if err != nil {
				errs <- err
				return
			}
			defer lp.c.CloseNow()
			for id := uint64(1); runCtx.Err() == nil; id++ {
				if lp.send(runCtx, protocol.Request{Type: protocol.TypeScenario, ID: id, Scenario: &protocol.ScenarioRequest{Name: "hol",
					Params: map[string]string{"messages": "200", "size": "4096"}}}) != nil {
					return
				}
				for {
					e, err := lp.next(runCtx)
					if err != nil {
						return
					}
					if e.Req == id {
						lessonEvents.Add(1)
					}
					if e.Req == id && (e.Type == protocol.EventScenario || e.Type == protocol.EventError) {
						if e.Type == protocol.EventError {
							errs <- fmt.Errorf("lesson: %s", e.Error)
							return
						}
						lessonRuns.Add(1)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	budget := int64(idle*budgetIdlePage + budgetLinkPage)
	if !drive && !downloading {
		budget = idle*budgetIdlePage + budgetIdlePage
	}
	if lessons {
		budget += budgetLesson
	}
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	t.Logf("%v: idle server %s; %d idle pages +%s (%s each); peak %s: +%s over idle, budget +%s", dur, mib(base), idle,
		mib(idleRSS-base), mib((idleRSS-base)/idle), mib(peak.Load()), mib(peak.Load()-base), mib(budget))
	t.Logf("link page: %d bursts of 1 MiB on quic-stream and tcp done (%d refused busy), %d downloads (%s); %d lessons run (%d of their events)",
		bursts.Load(), busy.Load(), downloads.Load(), mib(downloaded.Load()), lessonRuns.Load(), lessonEvents.Load())
	var over []string
	for i := range windows {
		over = append(over, fmt.Sprintf("+%.0f", float64(windows[i].Load()-base)/(1<<20)))
	}
	t.Logf("peak over idle in each sixth of the run (MiB): %s", strings.Join(over, " "))
	if (drive && bursts.Load() == 0) || (downloading && downloads.Load() == 0) || (lessons && lessonEvents.Load() == 0) {
		t.Errorf("the pages did not do their work")
	}
	if grew := peak.Load() - base; grew > budget {
		t.Errorf("the server's RSS grew by %s over idle, budget %s", mib(grew), mib(budget))
	}
}

// budgetDrives is what TestMemoryBudget drives: WIREPLAY_BUDGET, a comma-separated subset of
// link (the link-mode page's bursts), downloads (its capture downloads) and lesson; default all.
func budgetDrives(t *testing.T) (link, downloads, lesson bool) {
	v, ok := os.LookupEnv("WIREPLAY_BUDGET")
	if !ok {
		return true, true, true
	}
	for f := range strings.SplitSeq(v, ",") {
		switch f {
		case "link":
			link = true
		case "downloads":
			downloads = true
		case "lesson":
			lesson = true
		default:
			t.Fatalf("WIREPLAY_BUDGET=%q: want a comma-separated subset of link, downloads, lesson", v)
		}
	}
	return
}
