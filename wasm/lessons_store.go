//go:build js && wasm

package main

import (
	"encoding/json"
	"slices"
	"syscall/js"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// The last result of each lesson and settings survives a reload in the browser's localStorage:
// one entry per lesson address (lessonQuery), at most maxStored of them, each at most
// maxStoredBytes of JSON; the oldest go first.
const (
	storePrefix    = "wireplay.lesson."
	storeIndex     = "wireplay.lessons"
	maxStored      = 12
	maxStoredBytes = 512 << 10
)

// storedResult is what localStorage holds for one lesson address.
type storedResult struct {
	AtMillis int64                    `json:"at_ms"`
	Report   *protocol.ScenarioReport `json:"report"`
}

func localStorage() (js.Value, bool) {
	ls := js.Global().Get("localStorage")
	return ls, ls.Truthy()
}

// storeResult keeps rep as the last result of the lesson address key.
func storeResult(key string, rep *protocol.ScenarioReport) {
	ls, ok := localStorage()
	if !ok || rep == nil {
		return
	}
	b, err := json.Marshal(storedResult{AtMillis: time.Now().UnixMilli(), Report: rep})
	if err != nil || len(b) > maxStoredBytes {
		return // too big to keep: the page shows it until the next reload only
	}
	index := storedIndex(ls)
	index = slices.DeleteFunc(index, func(k string) bool { return k == key })
	index = append(index, key)
	for len(index) > maxStored {
		ls.Call("removeItem", storePrefix+index[0])
		index = index[1:]
	}
	// A full storage throws: drop the oldest and try again, a few times at most.
	for range 4 {
		if setItem(ls, storePrefix+key, string(b)) {
			break
		}
		if len(index) <= 1 {
			return
		}
		ls.Call("removeItem", storePrefix+index[0])
		index = index[1:]
	}
	ib, _ := json.Marshal(index)
	setItem(ls, storeIndex, string(ib))
}

// loadResult is the stored last result of the lesson address key, and when it was made.
func loadResult(key string) (*protocol.ScenarioReport, time.Time, bool) {
	ls, ok := localStorage()
	if !ok {
		return nil, time.Time{}, false
	}
	v := ls.Call("getItem", storePrefix+key)
	if v.IsNull() {
		return nil, time.Time{}, false
	}
	var s storedResult
	if json.Unmarshal([]byte(v.String()), &s) != nil || s.Report == nil {
		return nil, time.Time{}, false
	}
	return s.Report, time.UnixMilli(s.AtMillis), true
}

func storedIndex(ls js.Value) []string {
	var index []string
	if v := ls.Call("getItem", storeIndex); !v.IsNull() {
		json.Unmarshal([]byte(v.String()), &index)
	}
	return index
}

// setItem stores v under k, reporting whether the browser took it (a full storage throws).
func setItem(ls js.Value, k, v string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ls.Call("setItem", k, v)
	return true
}

// restore shows, for the lesson address the controls now make, the result the last run with
// them left in storage, if the page has none of its own yet.
func (u *lessonsUI) restore(in *protocol.ScenarioInfo, st *lessonState) {
	if u.results[in.Name] != nil {
		return
	}
	rep, at, ok := loadResult(lessonQuery(in.Name, st).Encode())
	if !ok {
		return
	}
	u.results[in.Name] = &lessonResult{report: rep, restoredAt: at}
	if b, ok := u.items[in.Name]; ok {
		b.Get("dataset").Set("state", "done")
	}
}
