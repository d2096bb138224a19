package server_test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wireplay/wireplay/protocol"
)

// TestBrowserLocalColumns: on the kernel the page's col-unix and col-pipe show a typed message's
// echo, with a round trip and what their "handshake" was, and no stack metrics; on the emulated
// link, which cannot carry them, both columns are hidden, and back on the kernel they show again.
func TestBrowserLocalColumns(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0")
	ctx := browserOpen(t, chrome)
	browserLoad(t, ctx, "http://"+srv.Addrs().HTTP+"/")
	msg := fmt.Sprintf("beside the network %d", time.Now().UnixNano()%1e6)
	browserWithin(t, ctx, 10*time.Second, "sending with Enter", chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), msg+"\r"))
	for col, hs := range map[string]string{"col-unix": protocol.HandshakeUnix, "col-pipe": protocol.HandshakePipe} {
		browserWithin(t, ctx, 20*time.Second, "the echo in "+col, browserWaitTrue(fmt.Sprintf(
			`Array.from(document.querySelectorAll('[data-testid=%q] [data-testid="echo"]')).some(e => e.textContent.includes(%q))`, col, msg)))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`(c => [c.querySelector('[data-testid="rtt"]').textContent,
			c.querySelector('[data-role="hs"]').title, String(c.querySelectorAll('[data-role="metrics"]').length), c.querySelector('[data-role="no-metrics"]')?.textContent ?? ""])(document.querySelector('[data-testid=%q]'))`, col)))
		if err != nil || len(got) != 4 {
			t.Fatalf("%s: %v %v", col, got, err)
		}
		if !regexp.MustCompile(`\d`).MatchString(got[0]) || got[1] != hs || got[2] != "0" || got[3] == "" {
			t.Errorf("%s: rtt %q, handshake %q, %s metrics lists, note %q; want a time, %q, none and a note", col, got[0], got[1], got[2], got[3], hs)
		}
	}
	local := `["col-unix", "col-pipe"].map(id => document.querySelector('[data-testid="' + id + '"]'))`
	hidden, shown := local+`.every(c => c.hidden)`, local+`.every(c => !c.hidden)`
	browserChange(t, ctx, "link-mode", "link")
	browserWithin(t, ctx, 20*time.Second, "both hidden on the emulated link", browserWaitTrue(`document.querySelector('#linkbar').dataset.mode === "link" && `+hidden))
	browserChange(t, ctx, "link-mode", "kernel")
	browserWithin(t, ctx, 20*time.Second, "both shown again on the kernel", browserWaitTrue(`document.querySelector('#linkbar').dataset.mode === "kernel" && `+shown))
}
