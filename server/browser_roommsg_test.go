package server_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// TestBrowserRoomMessage: the instructor types a message in the room page and sends it across the
// room's emulated link; every page, both participants' included, shows in room-message each
// transport's echo of it with its round trip and the packets the link carried, and the two
// participants' pages show the same, and so does the page of a participant who joins afterwards
// (from the room's state). A participant's page has no send control. Both views lay
// out at 360 to 2560 px.
func TestBrowserRoomMessage(t *testing.T) {
	chrome := browserChromium(t)
	srv := browserServer(t, browserAssets(t), "127.0.0.1:0", func(c *server.Config) { c.InstructorToken = testToken })
	base := "http://" + srv.Addrs().HTTP
	room := mustCreateRoom(t, srv)
	ictx := browserOpen(t, chrome)
	browserRoomJoin(t, ictx, base+room.InstructorURL, "Ines")
	p1 := browserRoomTab(t, ictx)
	browserRoomJoin(t, p1, base+room.URL, "Ada")
	p2 := browserRoomTab(t, ictx)
	browserRoomJoin(t, p2, base+room.URL, "Bo")
	pages := []struct {
		who string
		ctx context.Context
	}{{"Ines", ictx}, {"Ada", p1}, {"Bo", p2}}

	// A participant has no send control.
	for _, p := range pages[1:] {
		if hidden, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="room-send"]').offsetParent === null`)); err != nil || !hidden {
			t.Errorf("%s's page shows room-send (err %v)", p.who, err)
		}
	}

	const text = "hello, room"
	browserWithin(t, ictx, 20*time.Second, "Ines sending a message to the room", chromedp.Steps(
		chromedp.WaitEnabled(chromedp.CSS(`[data-testid="room-send"]`)),
		chromedp.SetValue(chromedp.CSS(`[data-testid="room-send-text"]`), text),
		chromedp.Click(chromedp.CSS(`[data-testid="room-send"]`)),
	))
	done := fmt.Sprintf(`(() => { const m = document.querySelector('[data-testid="room-message"]');
		if (m.hidden || m.dataset.state !== "done") return false;
		const rows = Array.from(m.querySelectorAll('[data-testid="room-message-row"]'));
		return rows.length === %d && rows.every(r => r.querySelector('[data-role="echo"]').textContent === %q &&
			r.querySelector('[data-role="rtt"]').textContent !== "" && Number(r.querySelector('[data-role="packets"]').textContent) > 0); })()`,
		len(protocol.Transports), text)
	read := `Array.from(document.querySelectorAll('[data-testid="room-message-row"]')).map(r =>
		[r.dataset.msgTransport, r.querySelector('[data-role="sent"]').textContent, r.querySelector('[data-role="echo"]').textContent,
		 r.querySelector('[data-role="rtt"]').textContent, r.querySelector('[data-role="packets"]').textContent,
		 r.querySelector('[data-role="dropped"]').textContent].join(" | "))
		.concat([document.querySelector('[data-testid="room-message"]').dataset.send])`
	got := map[string][]string{}
	for _, p := range pages {
		browserWithin(t, p.ctx, 60*time.Second, p.who+"'s page showing every transport's echo of the message", browserWaitTrue(done))
		v, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](read))
		if err != nil {
			t.Fatalf("read %s's room-message: %v", p.who, err)
		}
		got[p.who] = v
	}
	// A participant who joins afterwards sees the same, from the room's state.
	p3 := browserRoomTab(t, ictx)
	browserRoomJoin(t, p3, base+room.URL, "Cy")
	browserWithin(t, p3, 30*time.Second, "Cy's page showing the message it joined after", browserWaitTrue(done))
	v, err := chromedp.Run(p3, chromedp.Evaluate[[]string](read))
	if err != nil {
		t.Fatalf("read Cy's room-message: %v", err)
	}
	got["Cy"] = v
	if !reflect.DeepEqual(got["Ada"], got["Bo"]) || !reflect.DeepEqual(got["Ada"], got["Ines"]) || !reflect.DeepEqual(got["Ada"], got["Cy"]) {
		t.Errorf("the pages show different messages:\nInes %q\nAda  %q\nBo   %q\nCy   %q", got["Ines"], got["Ada"], got["Bo"], got["Cy"])
	}
	t.Logf("room-message rows: %q", got["Ada"])
	// The message's table and diagram lay out at every width, on the instructor's page (with the
	// send row) and a participant's.
	layoutAt(t, ictx, "room")
	layoutAt(t, p1, "room")
}
