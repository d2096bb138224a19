//go:build js && wasm

package main

import (
	"time"

	"github.com/wireplay/wireplay/protocol"
)

// request builds the shown lesson's "scenario" request; ok is false (and the status says why)
// when the controls do not make a valid one.
func (u *lessonsUI) request() (protocol.Request, bool) {
	r, ok, err := u.requestFor(u.cur)
	if err != nil {
		u.setStatus("error", "")
		setError(u.status, "", err.Error())
	}
	return r, ok
}

// requestFor builds lesson name's "scenario" request from its controls' settings (the lesson's
// defaults when it was never shown); ok is false when there is no such lesson or (err) the
// settings do not make a valid request.
func (u *lessonsUI) requestFor(name string) (r protocol.Request, ok bool, err error) {
	in := u.info(name)
	if in == nil {
		return protocol.Request{}, false, nil
	}
	st := u.state(in)
	sr := &protocol.ScenarioRequest{Name: in.Name, Preset: st.preset, Seed: st.seed, Repeat: st.repeat}
	if len(st.params) > 0 {
		sr.Params = map[string]string{}
		for k, v := range st.params {
			sr.Params[k] = v
		}
	}
	if len(st.up) > 0 {
		im := u.direction(st, "up")
		sr.Up = &im
	}
	if len(st.down) > 0 {
		im := u.direction(st, "down")
		sr.Down = &im
	}
	r = protocol.Request{V: protocol.Version, Type: protocol.TypeScenario, Scenario: sr}
	if err := r.Validate(); err != nil {
		return r, false, err
	}
	return r, true, nil
}

// begin marks request id, for the shown lesson, as running.
func (u *lessonsUI) begin(id uint64) {
	u.pending, u.pendingName, u.started, u.progress, u.queued = id, u.cur, time.Now(), 0, 0
	if in := u.info(u.cur); in != nil {
		u.pendingKey = lessonQuery(u.cur, u.state(in)).Encode()
	}
	u.traces[u.cur] = &lessonTrace{}
	u.run.Set("disabled", true)
	setText(u.run, "Running…")
	if b, ok := u.items[u.cur]; ok {
		b.Get("dataset").Set("state", "running")
	}
	u.render()
}
