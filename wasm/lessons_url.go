//go:build js && wasm

package main

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall/js"
)

// lessonFromURL is the lesson the page's address names and its controls, or "" and nil:
// ?view=lessons&lesson=handshake&preset=wifi&seed=3&repeat=2&p.requests=5&up.loss=10
func lessonFromURL() (string, *lessonState) {
	q := currentQuery()
	if q.Get("view") != "lessons" || q.Get("lesson") == "" {
		return "", nil
	}
	st := &lessonState{preset: q.Get("preset"), params: map[string]string{}, up: map[string]string{}, down: map[string]string{}}
	st.seed, _ = strconv.ParseInt(q.Get("seed"), 10, 64)
	st.repeat, _ = strconv.Atoi(q.Get("repeat"))
	for k, v := range q {
		if len(v) == 0 {
			continue
		}
		switch {
		case strings.HasPrefix(k, "p."):
			st.params[k[2:]] = v[0]
		case strings.HasPrefix(k, "up.") && slices.Contains(impKeys, k[3:]):
			st.up[k[3:]] = v[0]
		case strings.HasPrefix(k, "down.") && slices.Contains(impKeys, k[5:]):
			st.down[k[5:]] = v[0]
		}
	}
	return q.Get("lesson"), st
}

// isLessonKey reports whether k is one of the address's keys that belong to the lesson shown.
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
		for k, v := range lessonQuery(u.cur, st) {
			q[k] = v
		}
	})
}

// lessonQuery is lesson name with controls st as the address holds them (st nil: the name only).
func lessonQuery(name string, st *lessonState) url.Values {
	q := url.Values{}
	q.Set("lesson", name)
	if st == nil {
		return q
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
	return q
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
