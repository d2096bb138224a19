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
	}{
		{"server-models", map[string]string{"lesson-param-clients": "4", "lesson-param-idle": "20", "lesson-param-idle_procs": "2"}},
		{"patterns", nil},
		{"ipc", nil},
		{"chat", map[string]string{"lesson-param-messages": "3"}},
	}
	for _, l := range lessons {
		browserWithin(t, ctx, 10*time.Second, "lesson-"+l.name+" in the menu", browserWaitTrue(fmt.Sprintf(`document.querySelector('[data-testid="lesson-%s"]') !== null`, l.name)))
		browserLessonRun(t, ctx, l.name, l.controls)
		browserLessonDrawn(t, ctx, l.name)
		tables, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="lesson-tables"] table').length`))
		if err != nil || tables < 1 {
			t.Errorf("%s: %d tables (%v), want its own", l.name, tables, err)
		}
	}
}
