//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/wireplay/wireplay/protocol"
)

// The capture downloads (pcapng, qlog) are fetched with the session id in a header
// (protocol.SessionHeader), never in the URL, which would end up in the server's and proxies'
// logs; the answer is then offered as a file from a blob: URL.

// wireDownload makes a click on the link a download of path for the page's session, saved as
// the name the link's download attribute holds. A disabled link does nothing; a refusal is shown
// with notify.
func (l *linkUI) wireDownload(a js.Value, path string) {
	a.Set("href", path)
	a.Call("addEventListener", "click", js.FuncOf(func(_ js.Value, args []js.Value) any {
		args[0].Call("preventDefault")
		if a.Call("getAttribute", "aria-disabled").String() == "true" || l.session == "" {
			return nil
		}
		fetchDownload(path, l.session, a.Get("download").String(), l.notify)
		return nil
	}))
}

// fetchDownload GETs path with the session header and saves the answer as name, or passes the
// server's reason to notify.
func fetchDownload(path, session, name string, notify func(string)) {
	var funcs []js.Func
	release := func() {
		for _, f := range funcs {
			f.Release()
		}
	}
	fn := func(f func(v js.Value)) js.Func {
		jf := js.FuncOf(func(_ js.Value, args []js.Value) any {
			f(args[0])
			return nil
		})
		funcs = append(funcs, jf)
		return jf
	}
	fail := fn(func(v js.Value) {
		defer release()
		go notify("Download failed: " + v.Call("toString").String())
	})
	saved := fn(func(blob js.Value) {
		defer release()
		u := js.Global().Get("URL").Call("createObjectURL", blob)
		tmp := el("a", "", "")
		tmp.Set("href", u)
		tmp.Set("download", name)
		tmp.Set("hidden", true)
		document.Get("body").Call("append", tmp)
		tmp.Call("click")
		tmp.Call("remove")
		js.Global().Call("setTimeout", js.Global().Get("URL").Get("revokeObjectURL").Call("bind", js.Global().Get("URL"), u), 60000)
	})
	refused := fn(func(text js.Value) {
		defer release()
		go notify("Download refused: " + text.String())
	})
	answered := fn(func(r js.Value) {
		if r.Get("ok").Bool() {
			if t := r.Get("headers").Call("get", protocol.TruncatedHeader); t.Type() == js.TypeString {
				go notify("Saved " + name + ", truncated: " + t.String())
			}
			r.Call("blob").Call("then", saved, fail)
			return
		}
		r.Call("text").Call("then", refused, fail)
	})
	headers := js.Global().Get("Object").New()
	headers.Set(protocol.SessionHeader, session)
	opts := js.Global().Get("Object").New()
	opts.Set("headers", headers)
	opts.Set("cache", "no-store")
	js.Global().Call("fetch", path, opts).Call("then", answered, fail)
}
