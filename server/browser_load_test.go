package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wireplay/wireplay/web"
)

// The link the page load is measured on: 20 Mbit/s each way and 20 ms latency per request
// (Chromium's own network emulation, Network.emulateNetworkConditions).
const (
	loadLinkBytesPerSec = 20e6 / 8
	loadLinkLatencyMs   = 20
	loadWireGoal        = 1.5e6    // bytes on the wire for a first visit, everything included
	loadRepeatGoal      = 16 << 10 // bytes on the wire for a reload
)

// TestBrowserLoad loads the page in Chromium on an emulated 20 Mbit/s, 20 ms link, from the static
// files as the Taskfile's wasm task builds them, and reads the bytes each request took on the wire
// (encodedDataLength of Network.loadingFinished): a first visit takes at most 1.5 MB, the client
// arriving brotli-compressed; a reload takes almost nothing, main.wasm nothing but headers at most
// (the browser's cache, or a 304). The times are BenchmarkBrowserLoad's, not asserted.
func TestBrowserLoad(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, loadAssets(t), "127.0.0.1:0")
	ctx, cancel := loadBrowser(t, chrome)
	defer cancel()
	rec := loadRecord(t, ctx)
	page := "http://" + srv.Addrs().HTTP + "/"

	first := rec.visit(t, ctx, chromedp.Navigate(page))
	t.Logf("first visit: %s", first)
	w := first.get("/static/main.wasm")
	if w == nil {
		t.Fatalf("no request for /static/main.wasm; requests: %s", first)
	}
	if w.encoding != "br" || w.status != 200 {
		t.Errorf("main.wasm: status %d, Content-Encoding %q; want 200, br", w.status, w.encoding)
	}
	if first.total() > loadWireGoal {
		t.Errorf("first visit took %.0f bytes on the wire, want at most %.0f", first.total(), loadWireGoal)
	}

	repeat := rec.visit(t, ctx, chromedp.Reload())
	t.Logf("reload: %s", repeat)
	if w := repeat.get("/static/main.wasm"); w != nil && w.bytes > 1024 {
		t.Errorf("reload: main.wasm took %.0f bytes (status %d), want nothing but headers", w.bytes, w.status)
	}
	if repeat.total() > loadRepeatGoal {
		t.Errorf("reload took %.0f bytes on the wire, want at most %d", repeat.total(), loadRepeatGoal)
	}
}

// BenchmarkBrowserLoad measures on the emulated link the time from the page's request to the
// first message the page sends on /relay (its first ping, sent as soon as the relay has welcomed
// it), for a first visit (a fresh browser profile each time) and for a reload, and the bytes each
// took on the wire; medians over the iterations. For a first visit it also reports when main.wasm
// had arrived, when the /relay handshake was sent and when the welcome arrived (from the page's
// request), which say where the time went.
//
//	go test -run '^$' -bench BrowserLoad -benchtime 5x ./server
func BenchmarkBrowserLoad(b *testing.B) {
	chrome := browserChromium(b)
	srv := browserServer(b, loadAssets(b), "127.0.0.1:0")
	page := "http://" + srv.Addrs().HTTP + "/"
	var firstMs, reloadMs, firstBytes, reloadBytes, dialMs, welcomeMs, wasmMs []float64
	for b.Loop() {
		ctx, cancel := loadBrowser(b, chrome)
		rec := loadRecord(b, ctx)
		first := rec.visit(b, ctx, chromedp.Navigate(page))
		reload := rec.visit(b, ctx, chromedp.Reload())
		cancel()
		firstMs = append(firstMs, first.firstSend.Seconds()*1000)
		reloadMs = append(reloadMs, reload.firstSend.Seconds()*1000)
		firstBytes = append(firstBytes, first.total())
		dialMs = append(dialMs, first.relayDial.Seconds()*1000)
		welcomeMs = append(welcomeMs, first.welcome.Seconds()*1000)
		if w := first.get("/static/main.wasm"); w != nil {
			wasmMs = append(wasmMs, (w.finished-first.reqs[0].started)*1000)
		}
		reloadBytes = append(reloadBytes, reload.total())
	}
	b.ReportMetric(loadMedian(firstMs), "ms-first-send")
	b.ReportMetric(loadMedian(reloadMs), "ms-first-send-reload")
	b.ReportMetric(loadMedian(wasmMs), "ms-wasm-loaded")
	b.ReportMetric(loadMedian(dialMs), "ms-relay-dial")
	b.ReportMetric(loadMedian(welcomeMs), "ms-welcome")
	b.ReportMetric(loadMedian(firstBytes), "B-wire")
	b.ReportMetric(loadMedian(reloadBytes), "B-wire-reload")
	b.Logf("first send (ms) %.0f, on reload %.0f; bytes %.0f, on reload %.0f", firstMs, reloadMs, firstBytes, reloadBytes)
}

func loadMedian(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// loadAssets makes the static tree as `go tool task wasm` does: main.wasm built with its flags,
// Go's wasm_exec.js, the stylesheet, boot.js, and their .br and .gz copies. The copies of
// main.wasm in web/static are taken when web/static/main.wasm is this very build (the task has
// just run); otherwise internal/precompress makes them (brotli at its highest level takes most of a minute).
func loadAssets(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, name := range []string{"style.css", "boot.js"} {
		b, err := fs.ReadFile(web.Static, name)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	goroot := browserGoEnv(tb, "GOROOT")
	js, err := os.ReadFile(filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		tb.Fatalf("wasm_exec.js: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644); err != nil {
		tb.Fatal(err)
	}
	wasm := filepath.Join(dir, "main.wasm")
	build := exec.Command(filepath.Join(goroot, "bin", "go"), "build", "-trimpath", "-ldflags=-s", "-o", wasm, "./wasm")
	build.Dir = ".."
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build wasm: %v\n%s", err, out)
	}
	todo := []string{filepath.Join(dir, "style.css"), filepath.Join(dir, "boot.js"), filepath.Join(dir, "wasm_exec.js")}
	built, _ := os.ReadFile(wasm)
	if have, err := os.ReadFile(filepath.Join("..", "web", "static", "main.wasm")); err == nil && bytes.Equal(have, built) {
		for _, ext := range []string{".br", ".gz"} {
			if z, err := os.ReadFile(filepath.Join("..", "web", "static", "main.wasm"+ext)); err == nil {
				err = os.WriteFile(wasm+ext, z, 0o644) // the server checks that it decodes to main.wasm
			}
			if err != nil {
				todo = append(todo, wasm)
				break
			}
		}
	} else {
		todo = append(todo, wasm)
	}
	cmd := exec.Command(filepath.Join(goroot, "bin", "go"), append([]string{"run", "./internal/precompress"}, todo...)...)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("precompress: %v\n%s", err, out)
	}
	return dir
}

// loadBrowser starts a headless Chromium with a fresh profile (so an empty cache) whose network
// is the emulated link; cancel stops it.
func loadBrowser(tb testing.TB, chrome string) (ctx context.Context, cancel func()) {
	tb.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browserOptions(chrome, tb.TempDir())...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	cancel = func() { cancelCtx(); cancelAlloc() }
	// The first call starts the browser; it must not have a deadline, which would stop it.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		cancel()
		tb.Fatalf("start %s: %v", chrome, err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		cancel()
		tb.Fatalf("network enable: %v", err)
	}
	_, err := chromedp.Call(ctx, emulateNetworkConditions, emulateNetworkConditionsParams{
		Latency:            loadLinkLatencyMs,
		DownloadThroughput: loadLinkBytesPerSec,
		UploadThroughput:   loadLinkBytesPerSec,
	})
	if err != nil {
		cancel()
		tb.Fatalf("emulate network conditions: %v", err)
	}
	return ctx, cancel
}

// emulateNetworkConditions is Network.emulateNetworkConditions, which cdproto no longer names (its
// successor, emulateNetworkConditionsByRule, is newer than the Chromium here: 148 refuses it).
var emulateNetworkConditions = cdp.Command[emulateNetworkConditionsParams, cdp.Empty]{Method: "Network.emulateNetworkConditions"}

type emulateNetworkConditionsParams struct {
	Offline            bool    `json:"offline"`
	Latency            float64 `json:"latency"`            // ms
	DownloadThroughput float64 `json:"downloadThroughput"` // bytes/s
	UploadThroughput   float64 `json:"uploadThroughput"`   // bytes/s
}

// loadRequest is one request of a visit as the browser's network events tell it.
type loadRequest struct {
	url      string
	started  float64 // monotonic seconds
	status   int64
	encoding string
	cached   bool    // served from the browser's cache
	bytes    float64 // on the wire: encodedDataLength at loadingFinished
	finished float64 // monotonic seconds of loadingFinished
	done     bool
}

// loadVisit is one visit of the page.
type loadVisit struct {
	reqs      []*loadRequest
	firstSend time.Duration // from the page's request to the page's first /relay message
	// Also from the page's request: the /relay handshake request and the first message received.
	relayDial, welcome time.Duration
	welcomeBytes       int // the welcome message's length
}

func (v loadVisit) get(path string) *loadRequest {
	for _, r := range v.reqs {
		if u, err := url.Parse(r.url); err == nil && u.Path == path {
			return r
		}
	}
	return nil
}

func (v loadVisit) total() float64 {
	n := 0.0
	for _, r := range v.reqs {
		n += r.bytes
	}
	return n
}

func (v loadVisit) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.0f bytes, relay dialled at %v, welcome (%d B) at %v, first send at %v:", v.total(), v.relayDial, v.welcomeBytes, v.welcome, v.firstSend)
	for _, r := range v.reqs {
		u, _ := url.Parse(r.url)
		fmt.Fprintf(&b, " %s %d %q %.0f B %.0f–%.0f ms", u.Path, r.status, r.encoding, r.bytes, (r.started-v.reqs[0].started)*1000, (r.finished-v.reqs[0].started)*1000)
		if r.cached {
			b.WriteString(" (cache)")
		}
		b.WriteString(";")
	}
	return b.String()
}

// loadRecorder collects the network events of the current visit.
type loadRecorder struct {
	mu           sync.Mutex
	byID         map[network.RequestID]*loadRequest
	order        []*loadRequest
	firstSend    float64 // monotonic seconds of the first WebSocket frame sent; 0 before
	wsCreated    float64 // of the /relay WebSocket's handshake request
	firstRecv    float64 // of its first frame received (the welcome)
	welcomeBytes int

	// The page's /relay WebSocket: the first one created once the page's own response arrived
	// (before it, the previous page may still dial or ping).
	committed bool
	ws        network.RequestID
}

func loadRecord(tb testing.TB, ctx context.Context) *loadRecorder {
	rec := &loadRecorder{byID: map[network.RequestID]*loadRequest{}}
	if err := chromedp.Listen(ctx, rec.listen); err != nil {
		tb.Fatal(err)
	}
	return rec
}

func (rec *loadRecorder) listen(ev any) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.Request != nil && strings.HasPrefix(e.Request.URL, "http") {
			r := &loadRequest{url: e.Request.URL, started: e.Timestamp.Float64()}
			rec.byID[e.RequestID] = r
			rec.order = append(rec.order, r)
		}
	case *network.EventResponseReceived:
		if len(rec.order) > 0 && rec.byID[e.RequestID] == rec.order[0] {
			rec.committed = true
		}
		if r := rec.byID[e.RequestID]; r != nil && e.Response != nil {
			r.status = e.Response.Status
			r.cached = r.cached || e.Response.FromDiskCache
			for k, v := range e.Response.Headers {
				if strings.EqualFold(k, "Content-Encoding") {
					r.encoding = fmt.Sprint(v)
				}
			}
		}
	case *network.EventRequestServedFromCache:
		if r := rec.byID[e.RequestID]; r != nil {
			r.cached = true
		}
	case *network.EventLoadingFinished:
		if r := rec.byID[e.RequestID]; r != nil {
			r.bytes, r.done, r.finished = e.EncodedDataLength, true, e.Timestamp.Float64()
		}
	case *network.EventLoadingFailed:
		if r := rec.byID[e.RequestID]; r != nil {
			r.done = true
		}
	case *network.EventWebSocketCreated:
		if rec.committed && rec.ws == "" {
			rec.ws = e.RequestID
		}
	case *network.EventWebSocketWillSendHandshakeRequest:
		if e.RequestID == rec.ws && rec.wsCreated == 0 {
			rec.wsCreated = e.Timestamp.Float64()
		}
	case *network.EventWebSocketFrameReceived:
		if e.RequestID == rec.ws && rec.firstRecv == 0 {
			rec.firstRecv = e.Timestamp.Float64()
			if e.Response != nil {
				rec.welcomeBytes = len(e.Response.PayloadData)
			}
		}
	case *network.EventWebSocketFrameSent:
		if e.RequestID == rec.ws && rec.firstSend == 0 {
			rec.firstSend = e.Timestamp.Float64()
		}
	}
}

// visit runs nav (a navigation or a reload) and waits until the page has sent its first /relay
// message and every request it made has finished.
func (rec *loadRecorder) visit(tb testing.TB, ctx context.Context, nav chromedp.Action[chromedp.Void]) loadVisit {
	tb.Helper()
	rec.mu.Lock()
	rec.byID, rec.order = map[network.RequestID]*loadRequest{}, nil
	rec.firstSend, rec.wsCreated, rec.firstRecv, rec.committed, rec.ws, rec.welcomeBytes = 0, 0, 0, false, "", 0
	rec.mu.Unlock()
	nctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(nctx, nav); err != nil {
		tb.Fatalf("load the page: %v", err)
	}
	for {
		rec.mu.Lock()
		ready := rec.firstSend != 0 && len(rec.order) > 0
		for _, r := range rec.order {
			ready = ready && r.done
		}
		var v loadVisit
		if ready {
			for _, r := range rec.order {
				c := *r
				v.reqs = append(v.reqs, &c)
			}
			since := func(ts float64) time.Duration {
				return time.Duration((ts - rec.order[0].started) * float64(time.Second)).Round(time.Millisecond)
			}
			v.firstSend, v.relayDial, v.welcome = since(rec.firstSend), since(rec.wsCreated), since(rec.firstRecv)
			v.welcomeBytes = rec.welcomeBytes
		}
		rec.mu.Unlock()
		if ready {
			return v
		}
		select {
		case <-nctx.Done():
			rec.mu.Lock()
			defer rec.mu.Unlock()
			tb.Fatalf("the page did not send on /relay with every request finished in time (first send at %v, %d requests)", rec.firstSend, len(rec.order))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
