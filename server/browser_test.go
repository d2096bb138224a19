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

	"github.com/wireplay/wireplay/server"
	"github.com/wireplay/wireplay/web"
)

// TestBrowser drives the real page in headless Chromium: the Go-wasm client is built from source,
// the server runs on loopback, and a typed message must come back in all five columns.
//
// Without a Chromium it skips, except under CI=true where it fails. With WIREPLAY_SCREENSHOT=1 it
// refreshes docs/screenshot.png.
func TestBrowser(t *testing.T) {
	chrome := findChrome()
	if chrome == "" {
		msg := "no chromium, chromium-browser or google-chrome on PATH (nor /usr/bin/chromium): browser test not run"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	assets := buildAssets(t)

	srv := server.New(server.Config{
		HTTPAddr: "127.0.0.1:0",
		TCPAddr:  "127.0.0.1:0",
		UDPAddr:  "127.0.0.1:0",
		QUICAddr: "127.0.0.1:0",
		Assets:   os.DirFS(assets),
	})
	if err := srv.Start(t.Context()); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	url := "http://" + srv.Addrs().HTTP + "/"

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 720),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)

	// Keep the page's console, to explain a failure.
	var (
		mu      sync.Mutex
		console []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m.String())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range console {
				t.Logf("console: %s", m)
			}
		}
	})

	// The first Run starts the browser; it must not have a deadline, which would stop the browser.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	within(t, ctx, 20*time.Second, "the page to load", chromedp.Steps(
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="message"]`)),
	))
	// The client enables Send once the relay has welcomed it.
	within(t, ctx, 20*time.Second, "the client to connect", chromedp.WaitEnabled(chromedp.CSS(`[data-testid="send"]`)))

	msg := fmt.Sprintf("hello wireplay %d", time.Now().UnixNano()%1e6)
	within(t, ctx, 10*time.Second, "typing and sending", chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), msg),
		chromedp.Click(chromedp.CSS(`[data-testid="send"]`)),
	))
	cols := []string{"col-tcp", "col-udp", "col-quic-stream", "col-quic-dgram", "col-ws"}
	for _, col := range cols {
		js := fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid=%q] [data-testid="echo"]')).some(e => e.textContent.includes(%q))`, col, msg)
		within(t, ctx, 20*time.Second, "the echo in "+col, waitTrue(js))
	}
	for _, col := range cols {
		rtt, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(fmt.Sprintf(`[data-testid=%q] [data-testid="rtt"]`, col))))
		if err != nil {
			t.Fatalf("read rtt of %s: %v", col, err)
		}
		if !regexp.MustCompile(`\d`).MatchString(rtt) {
			t.Errorf("%s rtt = %q, want a number", col, rtt)
		}
	}

	// A burst of 5 numbered messages of 32 bytes comes back on TCP as 5 more echoes.
	countTCP := `document.querySelectorAll('[data-testid="col-tcp"] [data-testid="echo"]').length`
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](countTCP))
	if err != nil {
		t.Fatal(err)
	}
	within(t, ctx, 10*time.Second, "starting a burst", chromedp.Steps(
		chromedp.SetValue(chromedp.CSS(`[data-testid="burst-count"]`), "5"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="burst-size"]`), "32"),
		chromedp.Click(chromedp.CSS(`[data-testid="burst"]`)),
	))
	within(t, ctx, 20*time.Second, "5 burst echoes in col-tcp", waitTrue(fmt.Sprintf("%s >= %d", countTCP, before+5)))

	// Let a ping land before the picture.
	within(t, ctx, 10*time.Second, "the browser↔server rtt", waitTrue(`/\d/.test(document.querySelector('[data-testid="relay-rtt"]').textContent)`))

	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.ArtifactDir(), "screenshot.png")
	if os.Getenv("WIREPLAY_SCREENSHOT") == "1" {
		shot = filepath.Join("..", "docs", "screenshot.png")
		if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
}

// within runs a waiting action with its own deadline, failing the test with what was awaited.
func within(t *testing.T, ctx context.Context, d time.Duration, what string, a chromedp.Action[chromedp.Void]) {
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

// waitTrue polls a JavaScript expression until it is true.
func waitTrue(expr string) chromedp.Action[chromedp.Void] {
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

func findChrome() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// buildAssets makes a static tree like web/static in a temporary directory: the checked-in files,
// main.wasm built from ./wasm now, and the Go toolchain's wasm_exec.js.
func buildAssets(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(web.Static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
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
	goTool := filepath.Join(goEnv(t, "GOROOT"), "bin", "go")
	build := exec.Command(goTool, "build", "-o", filepath.Join(dir, "main.wasm"), "./wasm")
	build.Dir = ".."
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build wasm: %v\n%s", err, out)
	}
	js, err := os.ReadFile(filepath.Join(goEnv(t, "GOROOT"), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatalf("wasm_exec.js: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}
