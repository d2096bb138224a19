package server_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/web"
)

var browserColumns = []string{"col-tcp", "col-udp", "col-quic-stream", "col-quic-dgram", "col-ws"}

// TestBrowser drives the real page in headless Chromium: the Go-wasm client is built from source,
// the server runs on loopback, and a typed message must come back in all five columns; then a
// burst of five comes back on TCP.
//
// Without a Chromium it skips, except under CI=true where it fails. With WIREPLAY_SCREENSHOT=1 it
// refreshes docs/screenshot-kernel.png (TestBrowserLink makes docs/screenshot.png); otherwise the
// screenshots go to the test's artifact directory
// (kept with go test -artifacts).
func TestBrowser(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+"/")
	browserScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), "connected.png"))

	// The message carries markup, which must show as text.
	msg := fmt.Sprintf("hello <b>wireplay</b> & co %d", time.Now().UnixNano()%1e6)
	browserWithin(t, ctx, 10*time.Second, "typing and sending", chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), msg),
		chromedp.Click(chromedp.CSS(`[data-testid="send"]`)),
	))
	browserWaitEchoes(t, ctx, msg)
	markup, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="echo"] b, .reads b').length`))
	if err != nil || markup != 0 {
		t.Errorf("message markup became %d elements (err %v), want plain text", markup, err)
	}
	for _, col := range browserColumns {
		rtt, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(fmt.Sprintf(`[data-testid=%q] [data-testid="rtt"]`, col))))
		if err != nil {
			t.Fatalf("read rtt of %s: %v", col, err)
		}
		if !regexp.MustCompile(`\d`).MatchString(rtt) {
			t.Errorf("%s rtt = %q, want a number", col, rtt)
		}
		// The handshake tile: "none" for UDP, a time for the others, and what it covers.
		hs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`(() => { const e = document.querySelector('[data-testid=%q] [data-role="hs"]'); return [e.textContent, e.title]; })()`, col)))
		if err != nil || len(hs) != 2 {
			t.Fatalf("read handshake of %s: %v %v", col, hs, err)
		}
		if col == "col-udp" {
			if hs[0] != "none" || hs[1] != protocol.HandshakeNone {
				t.Errorf("%s handshake %q (%q), want none", col, hs[0], hs[1])
			}
		} else if !regexp.MustCompile(`\d`).MatchString(hs[0]) || !strings.Contains(hs[1], "handshake") {
			t.Errorf("%s handshake %q (%q), want a time and what it covers", col, hs[0], hs[1])
		}
	}

	// A burst of 5 numbered messages of 32 bytes comes back on TCP as 5 more echoes.
	countTCP := `document.querySelectorAll('[data-testid="col-tcp"] [data-testid="echo"]').length`
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](countTCP))
	if err != nil {
		t.Fatal(err)
	}
	browserWithin(t, ctx, 10*time.Second, "starting a burst", chromedp.Steps(
		chromedp.SetValue(chromedp.CSS(`[data-testid="burst-count"]`), "5"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="burst-size"]`), "32"),
		chromedp.Click(chromedp.CSS(`[data-testid="burst"]`)),
	))
	browserWithin(t, ctx, 20*time.Second, "5 burst echoes in col-tcp", browserWaitTrue(fmt.Sprintf("%s >= %d", countTCP, before+5)))

	// One more ordinary message on top of the timelines, and a ping, for the picture.
	last := "one message, five ways"
	browserWithin(t, ctx, 10*time.Second, "sending with Enter", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), last+"\r"))
	browserWaitEchoes(t, ctx, last)
	browserWithin(t, ctx, 10*time.Second, "the browser↔server rtt", browserWaitTrue(`/\d/.test(document.querySelector('[data-testid="relay-rtt"]').textContent)`))

	shot := filepath.Join(t.ArtifactDir(), "screenshot.png")
	if os.Getenv("WIREPLAY_SCREENSHOT") == "1" {
		shot = filepath.Join("..", "docs", "screenshot-kernel.png")
	}
	browserScreenshot(t, ctx, shot)
}

// TestBrowserReconnect checks the Reconnect button (every column dials again and shows a new
// handshake) and that the page reconnects by itself when the server goes away and comes back.
func TestBrowserReconnect(t *testing.T) {
	chrome := browserChromium(t)
	assets := browserAssets(t)
	srv := browserServer(t, assets, "127.0.0.1:0")
	addr := srv.Addrs().HTTP
	ctx := browserOpen(t, chrome)
	browserLoad(t, ctx, "http://"+addr+"/")

	browserWithin(t, ctx, 10*time.Second, "sending with Enter", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), "first\r"))
	browserWaitEchoes(t, ctx, "first")

	handshakes := func(col string) string {
		return fmt.Sprintf(`document.querySelectorAll('[data-testid=%q] .timeline .note.connected').length`, col)
	}
	browserWithin(t, ctx, 10*time.Second, "clicking Reconnect", chromedp.Click(chromedp.CSS(`[data-testid="reconnect"]`)))
	for _, col := range browserColumns {
		browserWithin(t, ctx, 20*time.Second, "a second handshake in "+col, browserWaitTrue(handshakes(col)+" >= 2"))
	}
	waitState := func(state string) {
		t.Helper()
		browserWithin(t, ctx, 20*time.Second, "status "+state, browserWaitTrue(fmt.Sprintf(`document.querySelector('[data-testid="status"]').dataset.state === %q`, state)))
	}

	// The server goes away: the page says so and keeps trying.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	waitState("down")
	browserWithin(t, ctx, 5*time.Second, "Send to be disabled", browserWaitTrue(`document.querySelector('[data-testid="send"]').disabled`))

	// It comes back on the same address: the page reconnects and works again.
	browserServer(t, assets, addr)
	waitState("open")
	browserWithin(t, ctx, 20*time.Second, "Send to be enabled", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="send"]`)))
	browserWithin(t, ctx, 10*time.Second, "sending after the outage", chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), "again"),
		chromedp.Click(chromedp.CSS(`[data-testid="send"]`)),
	))
	browserWaitEchoes(t, ctx, "again")
}

// browserChromium finds Chromium or skips the test (fails it under CI=true).
func browserChromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	msg := "no chromium, chromium-browser or google-chrome on PATH (nor /usr/bin/chromium): browser test not run"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browserServer runs a server on loopback serving the static files in assets, shut down at cleanup
// (a second Shutdown is harmless); tune, if any, edit its configuration first.
func browserServer(t testing.TB, assets, httpAddr string, tune ...func(*server.Config)) *server.Server {
	t.Helper()
	cfg := server.Config{
		HTTPAddr: httpAddr,
		TCPAddr:  "127.0.0.1:0",
		UDPAddr:  "127.0.0.1:0",
		QUICAddr: "127.0.0.1:0",
		Assets:   os.DirFS(assets),
	}
	for _, f := range tune {
		f(&cfg)
	}
	srv := server.New(cfg)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

// browserOptions are the browser tests' Chromium: headless, the binary chrome, a fresh profile in
// dir (so an empty cache), no QUIC and no background traffic, a 1280×720 window.
func browserOptions(chrome, dir string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 720),
	)
}

// browserOpen starts a headless Chromium with a fresh profile and a 1280×720 window, fails the
// test if the browser reports a Content-Security-Policy violation in its first tab, and logs the
// page's console if the test fails.
func browserOpen(t *testing.T, chrome string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(browserOptions(chrome, t.TempDir()), extra...)...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)

	// The first Run starts the browser; it must not have a deadline, which would stop the browser.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}

	var (
		mu         sync.Mutex
		console    []string
		violations []string // the page's Content-Security-Policy refused something
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m.String())
			if strings.Contains(m.Text, "Content Security Policy") {
				violations = append(violations, m.String())
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		if len(violations) > 0 {
			t.Errorf("the browser reported %d Content-Security-Policy violations, the first: %s", len(violations), violations[0])
		}
		mu.Unlock()
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range console {
				t.Logf("console: %s", m)
			}
		}
	})
	return ctx
}

// browserLoad opens the page and waits until the client is connected (it enables Send then).
func browserLoad(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	browserWithin(t, ctx, 20*time.Second, "the page to load", chromedp.Steps(
		chromedp.Navigate(url),
		chromedp.WaitReady(chromedp.CSS(`[data-testid="message"]`)),
	))
	browserWithin(t, ctx, 20*time.Second, "the client to connect", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="send"]`)))
}

// browserWaitEchoes waits until every column shows an echo holding msg.
func browserWaitEchoes(t *testing.T, ctx context.Context, msg string) {
	t.Helper()
	for _, col := range browserColumns {
		js := fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid=%q] [data-testid="echo"]')).some(e => e.textContent.includes(%q))`, col, msg)
		browserWithin(t, ctx, 20*time.Second, fmt.Sprintf("the echo of %q in %s", msg, col), browserWaitTrue(js))
	}
}

func browserScreenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
	t.Logf("screenshot: %s", path)
}

// browserWithin runs a waiting action with its own deadline, failing the test with what was awaited.
func browserWithin(t *testing.T, ctx context.Context, d time.Duration, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(wctx, a); err != nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		status, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`document.getElementById("status-text").textContent + " | " + document.getElementById("notice").textContent`))
		t.Fatalf("waiting %v for %s: %v (page status: %s)", d, what, err, status)
	}
}

// browserWaitTrue polls a JavaScript expression until it is true.
func browserWaitTrue(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, tg)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// browserAssets makes a static tree like web/static in a temporary directory: the checked-in files,
// main.wasm built from ./wasm now (as go tool task wasm builds it), and the Go toolchain's
// wasm_exec.js. The embedded .br and .gz copies are left out: they belong to the embedded build,
// not to this one (the server would log that they do not match and send the files as they are).
func browserAssets(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(web.Static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." || strings.HasSuffix(p, ".br") || strings.HasSuffix(p, ".gz") {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, p), 0o755)
		}
		b, err := fs.ReadFile(web.Static, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy static files: %v", err)
	}
	goroot := browserGoEnv(t, "GOROOT")
	build := exec.Command(filepath.Join(goroot, "bin", "go"), "build", "-trimpath", "-ldflags=-s", "-o", filepath.Join(dir, "main.wasm"), "./wasm")
	build.Dir = ".."
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build wasm: %v\n%s", err, out)
	}
	js, err := os.ReadFile(filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatalf("wasm_exec.js: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func browserGoEnv(t testing.TB, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}
