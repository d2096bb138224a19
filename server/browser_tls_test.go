package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/wireplay/wireplay/server"
)

// TestBrowserTLS runs the page over HTTPS with a certificate from a CA made for the test
// (Chromium trusts the server's key by its SPKI hash): the client connects to the relay over WSS
// and a message comes back in all five columns, with no Content-Security-Policy violation (its
// connect-src 'self' covers wss: to the page's own host and port).
func TestBrowserTLS(t *testing.T) {
	chrome := browserChromium(t)
	ca := newTestCA(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0", func(c *server.Config) { c.CertFile, c.KeyFile = ca.certFile, ca.keyFile })
	ctx := browserOpen(t, chrome, chromedp.Flag("ignore-certificate-errors-spki-list", ca.spki))
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("install the violation watch: %v", err)
	}
	browserLoad(t, ctx, "https://"+srv.Addrs().HTTP+"/")
	scheme, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.protocol`))
	if err != nil || scheme != "https:" {
		t.Fatalf("page protocol %q (%v), want https:", scheme, err)
	}
	msg := fmt.Sprintf("over https %d", time.Now().UnixNano()%1e6)
	browserWithin(t, ctx, 10*time.Second, "typing and sending", chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="message"]`), msg),
		chromedp.Click(chromedp.CSS(`[data-testid="send"]`)),
	))
	browserWaitEchoes(t, ctx, msg)
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp`)); err != nil || len(v) != 0 {
		t.Errorf("CSP violations over HTTPS: %q (%v)", v, err)
	}
}
