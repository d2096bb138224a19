package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserSocketLessons runs the socket-programming lessons from the page's Lessons menu
// (lesson-NAME) with small parameters: each result shows in the same places as every lesson's
// (lesson-conclusion, lesson-charts, lesson-stats, lesson-tables).
func TestBrowserSocketLessons(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+"/?view=lessons")
	lessons := []struct {
		name     string
		controls map[string]string
		charts   bool // nat's result is its tables (the matrix, the trace)
	}{
		{"server-models", map[string]string{"lesson-param-clients": "4", "lesson-param-idle": "20", "lesson-param-idle_procs": "2"}, true},
		{"patterns", nil, true},
		{"nat", nil, false},
		{"http", map[string]string{"lesson-param-requests": "2"}, true},
		{"ipc", nil, true},
		{"chat", map[string]string{"lesson-param-messages": "3"}, true},
	}
	for _, l := range lessons {
		browserWithin(t, ctx, 10*time.Second, "lesson-"+l.name+" in the menu", browserWaitTrue(fmt.Sprintf(`document.querySelector('[data-testid="lesson-%s"]') !== null`, l.name)))
		browserLessonRun(t, ctx, l.name, l.controls)
		if l.charts {
			browserLessonDrawn(t, ctx, l.name)
		} else {
			conclusion, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`[data-testid="lesson-conclusion"]`)))
			if err != nil || len(conclusion) < 20 {
				t.Errorf("%s: conclusion %q (%v)", l.name, conclusion, err)
			}
			// Its packets, A's side of the traced pair, are on the sequence diagram.
			arrows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector('[data-testid="lesson-live"]').hidden ? -1 :
				document.querySelectorAll('[data-testid="lesson-seq"] g.pk line').length`))
			if err != nil || arrows < 1 {
				t.Errorf("%s: %d arrows in the sequence diagram (%v), want the traced pair's packets", l.name, arrows, err)
			}
		}
		tables, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="lesson-tables"] table').length`))
		if err != nil || tables < 1 {
			t.Errorf("%s: %d tables (%v), want its own", l.name, tables, err)
		}
	}
}
