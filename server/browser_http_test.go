package server_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserLessonHTTP runs the http lesson from the page's Lessons menu: its result has the
// conclusion, the chart, the statistics, and the table of the bytes on the wire as text.
func TestBrowserLessonHTTP(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+"/?view=lessons")
	browserWithin(t, ctx, 10*time.Second, "the lessons menu", browserWaitTrue(`document.querySelector('[data-testid="lesson-http"]') !== null`))
	browserLesson(t, ctx, "http", map[string]string{"lesson-param-requests": "3"})
	tables, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid="lesson-tables"]`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`GET /bytes?n=200 HTTP/1.0\r\n`, `HTTP/1.1 408 Request Timeout\r\n`, "Bytes on the wire"} {
		if !strings.Contains(tables, want) {
			t.Errorf("the lesson's tables lack %q", want)
		}
	}
	browserFullScreenshot(t, ctx, filepath.Join(t.ArtifactDir(), "lesson-http.png"))
}
