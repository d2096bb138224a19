package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// roomTestIDs are the room mode's data-testid attributes (issue 10's test contract, and the
// page's own), each once on /r/CODE and nowhere on the ordinary page.
var roomTestIDs = []string{
	"tab-room", "room-code", "room-link", "room-follow", "room-join-form", "room-name", "room-join", "room-status",
	"room-controls", "room-lesson", "room-own-settings", "room-run", "room-stop", "room-share", "room-share-status",
	"room-live", "room-live-status", "room-live-meta", "room-live-conclusion", "room-live-seq", "room-seq",
	"room-live-charts", "room-live-stats", "room-live-tables", "room-aggregate", "room-members",
	"chat-log", "chat-input", "chat-send", "chat-error",
}

func TestPageRoomMode(t *testing.T) {
	info := pageInfo{Addrs: Addrs{HTTP: "127.0.0.1:8080"}}
	plain := renderPage(t, info, "127.0.0.1:8080")
	info.Room = "K7QW3M"
	room := renderPage(t, info, "127.0.0.1:8080")
	for _, id := range roomTestIDs {
		if got := len(byTestID(room, id)); got != 1 {
			t.Errorf("room page: data-testid=%q: %d elements, want 1", id, got)
		}
		if got := len(byTestID(plain, id)); got != 0 {
			t.Errorf("ordinary page: data-testid=%q: %d elements, want 0", id, got)
		}
	}
	for _, id := range testIDs { // the ordinary page's, all still there
		if got := len(byTestID(room, id)); got != 1 {
			t.Errorf("room page: data-testid=%q: %d elements, want 1", id, got)
		}
	}
	if n := byTestID(room, "room-code"); len(n) == 1 && text(n[0]) != "K7QW3M" {
		t.Errorf("room-code %q, want K7QW3M", text(n[0]))
	}
	bodyRoom := func(doc *html.Node) (string, bool) {
		for n := range doc.Descendants() {
			if n.Type == html.ElementNode && n.Data == "body" {
				return attr(n, "data-room")
			}
		}
		return "", false
	}
	if v, ok := bodyRoom(room); v != "K7QW3M" {
		t.Errorf("room page: body data-room %q (%v), want K7QW3M", v, ok)
	}
	if v, ok := bodyRoom(plain); ok {
		t.Errorf("ordinary page: body data-room %q, want none", v)
	}
	if n := byTestID(room, "room-follow"); len(n) == 1 {
		if _, checked := attr(n[0], "checked"); !checked {
			t.Error("room-follow is not checked: following the instructor is on by default")
		}
	}
}

// TestInstructorPage: /instructor has the token input and the create button, loads instructor.js
// alone (no inline script), and says when the server has no instructor token.
func TestInstructorPage(t *testing.T) {
	for _, token := range []string{"", "T"} {
		s := &Server{cfg: Config{InstructorToken: token}}
		rec := httptest.NewRecorder()
		s.instructorHandler(pageInfo{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/instructor?token=T", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("token %q: status %d", token, rec.Code)
		}
		body := rec.Body.String()
		if strings.Contains(body, `value="T"`) {
			t.Errorf("token %q: the page carries the token from the query (instructor.js fills it in)", token)
		}
		doc, err := html.Parse(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"instructor-token", "room-create", "room-code", "room-url", "room-instructor-url", "instructor-status"} {
			if got := len(byTestID(doc, id)); got != 1 {
				t.Errorf("token %q: data-testid=%q: %d elements, want 1", token, id, got)
			}
		}
		var scripts []string
		for n := range doc.Descendants() {
			if n.Type == html.ElementNode && n.Data == "script" {
				src, _ := attr(n, "src")
				scripts = append(scripts, src)
			}
		}
		if strings.Join(scripts, " ") != "/static/instructor.js" {
			t.Errorf("token %q: scripts %q, want [/static/instructor.js]", token, scripts)
		}
		if off := len(byTestID(doc, "rooms-off")); off != map[bool]int{true: 1, false: 0}[token == ""] {
			t.Errorf("token %q: %d rooms-off notices", token, off)
		}
	}
}
