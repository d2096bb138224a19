//go:build js && wasm

package main

import (
	"encoding/json"
	"syscall/js"
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// refusedReason asks the server why a /relay upgrade may have failed: a browser cannot read the
// 429 answer to a WebSocket upgrade, so the page fetches GET /relay/limits (protocol.RelayLimits).
// It returns "" when the limits do not explain the failure (or cannot be fetched).
func refusedReason() string {
	body, ok := fetchText("/relay/limits", 5*time.Second)
	if !ok {
		return ""
	}
	var l protocol.RelayLimits
	if json.Unmarshal([]byte(body), &l) != nil {
		return ""
	}
	switch {
	case l.ShuttingDown:
		return "the server is shutting down"
	case l.PerAddress > 0 && l.Open >= l.PerAddress:
		return l.PerAddressReason()
	case l.Full:
		return "the server has as many pages connected as it takes; try again later"
	}
	return ""
}

// fetchText GETs url with the browser's fetch and returns the body of a 200 answer.
func fetchText(url string, timeout time.Duration) (string, bool) {
	type result struct {
		body string
		ok   bool
	}
	done := make(chan result, 1)
	var then, fail, text js.Func
	release := func() { then.Release(); fail.Release(); text.Release() }
	text = js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{args[0].String(), true}
		return nil
	})
	fail = js.FuncOf(func(js.Value, []js.Value) any {
		done <- result{}
		return nil
	})
	then = js.FuncOf(func(_ js.Value, args []js.Value) any {
		r := args[0]
		if r.Get("status").Int() != 200 {
			done <- result{}
			return nil
		}
		r.Call("text").Call("then", text, fail)
		return nil
	})
	opts := js.Global().Get("Object").New()
	opts.Set("cache", "no-store")
	js.Global().Call("fetch", url, opts).Call("then", then, fail)
	select {
	case r := <-done:
		time.AfterFunc(0, release)
		return r.body, r.ok
	case <-time.After(timeout):
		return "", false // the callbacks stay: a late answer has somewhere to go
	}
}
