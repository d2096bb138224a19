//go:build js && wasm

package main

import (
	"net/url"
	"strconv"
	"strings"
	"syscall/js"
)

// lessonKeys are the address's keys that belong to the lesson shown.
func isLessonKey(k string) bool {
	switch k {
	case "lesson", "preset", "seed", "repeat":
		return true
	}
	return strings.HasPrefix(k, "p.") || strings.HasPrefix(k, "up.") || strings.HasPrefix(k, "down.")
}

// saveURL writes the shown lesson and its controls into the page's address, so a link reproduces
// them; only while the Lessons tab is shown (the other views own preset and seed).
func (u *lessonsUI) saveURL() {
	if !u.active || u.cur == "" {
		return
	}
	st := u.states[u.cur]
	rewriteURL(func(q url.Values) {
		for k := range q {
			if isLessonKey(k) || k == "mode" {
				q.Del(k)
			}
		}
		q.Set("lesson", u.cur)
		if st == nil {
			return
		}
		q.Set("preset", st.preset)
		q.Set("seed", strconv.FormatInt(st.seed, 10))
		if st.repeat > 1 {
			q.Set("repeat", itoa(st.repeat))
		}
		for k, v := range st.params {
			q.Set("p."+k, v)
		}
		for k, v := range st.up {
			q.Set("up."+k, v)
		}
		for k, v := range st.down {
			q.Set("down."+k, v)
		}
	})
}

// currentQuery is the page address's query.
func currentQuery() url.Values {
	q, _ := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	return q
}

// rewriteURL edits the page address's query in place (no navigation, no history entry).
func rewriteURL(edit func(q url.Values)) {
	loc := js.Global().Get("location")
	q := currentQuery()
	edit(q)
	u := loc.Get("pathname").String()
	if s := q.Encode(); s != "" {
		u += "?" + s
	}
	js.Global().Get("history").Call("replaceState", nil, "", u+loc.Get("hash").String())
}
