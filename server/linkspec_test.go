package server_test

import (
	"strings"
	"testing"

	"github.com/wireplay/wireplay/protocol"
	"github.com/wireplay/wireplay/server"
)

// TestLinkPresetEdit: the page edits one field of the 3g preset's up direction (it sends the
// preset's direction from the welcome with that field changed) and the link keeps the preset's
// 64 KB queue bound and rate; a bad field is refused with its name and value.
func TestLinkPresetEdit(t *testing.T) {
	s := startServer(t, server.Config{})
	rc, welcome := dialRelayWelcome(t, s)
	var g3 *protocol.PresetInfo
	for i := range welcome.Presets {
		if welcome.Presets[i].Name == "3g" {
			g3 = &welcome.Presets[i]
		}
	}
	if g3 == nil || g3.Up.QueueBytes != 64<<10 || g3.Down.QueueBytes != 64<<10 || g3.Up.RateKbps != 1000 {
		t.Fatalf("welcome's 3g preset %+v", g3)
	}
	up := g3.Up
	up.DelayMs = 40
	st := rc.switchLink(1, protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "3g", Up: &up}, newObserved())
	if st.Up != up || st.Down != g3.Down {
		t.Errorf("link in force up %+v down %+v, want up %+v down %+v", st.Up, st.Down, up, g3.Down)
	}
	bad := up
	bad.MTU = 20
	rc.send(protocol.Request{Type: protocol.TypeLink, ID: 2, Link: &protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "3g", Up: &bad}})
	rc.until(func(e protocol.Event) bool {
		return e.Type == protocol.EventError && e.Req == 2 && strings.Contains(e.Error, "mtu 20 is outside 68..65535")
	})
	rc.send(protocol.Request{Type: protocol.TypeLink, ID: 3, Link: &protocol.LinkRequest{Mode: protocol.ModeLink, Preset: "moon"}})
	rc.until(func(e protocol.Event) bool {
		return e.Type == protocol.EventError && e.Req == 3 && strings.Contains(e.Error, `unknown preset "moon"`)
	})
}
