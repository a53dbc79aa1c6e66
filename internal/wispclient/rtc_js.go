package wispclient

import (
	"errors"
	"sync"
	"syscall/js"
)

// In a browser the peer is the browser's own RTCPeerConnection, driven
// through syscall/js: pion's js build wraps the same object, and linking it
// cost the demo bundle about 0.9 MB (gzip).

var uint8Array = js.Global().Get("Uint8Array")

var errPeerClosed = errors.New("webrtc: peer connection closed")

// newPeerConnection wraps the browser's RTCPeerConnection; where there is
// none (Node), the socket stays on the WebSocket.
func newPeerConnection() (rtcPeerConn, error) {
	ctor := js.Global().Get("RTCPeerConnection")
	if ctor.Type() != js.TypeFunction {
		return nil, errors.New("no RTCPeerConnection here")
	}
	var pc js.Value
	if err := catch(func() { pc = ctor.New() }); err != nil {
		return nil, err
	}
	p := &jsPeer{pc: pc, h: jsHandlers{obj: pc}, done: make(chan struct{}), gathered: make(chan struct{})}
	// Gathering ends with iceGatheringState "complete" and a null
	// candidate; either will do.
	p.h.set("onicegatheringstatechange", func(js.Value, []js.Value) any {
		if pc.Get("iceGatheringState").String() == "complete" {
			p.gatherDone()
		}
		return nil
	})
	p.h.set("onicecandidate", func(_ js.Value, args []js.Value) any {
		if c := arg0(args); c.Type() == js.TypeObject && c.Get("candidate").IsNull() {
			p.gatherDone()
		}
		return nil
	})
	return p, nil
}

// jsPeer is rtcPeerConn on an RTCPeerConnection.
type jsPeer struct {
	pc         js.Value
	h          jsHandlers
	done       chan struct{} // closed by Close
	closeOnce  sync.Once
	gathered   chan struct{}
	gatherOnce sync.Once
}

func (p *jsPeer) gatherDone() { p.gatherOnce.Do(func() { close(p.gathered) }) }

func (p *jsPeer) CreateDataChannel(label string, unreliable bool) (rtcChannel, error) {
	var dc js.Value
	err := catch(func() {
		if unreliable {
			dc = p.pc.Call("createDataChannel", label, map[string]any{"ordered": false, "maxRetransmits": 0})
		} else {
			dc = p.pc.Call("createDataChannel", label)
		}
	})
	if err != nil {
		return nil, err
	}
	return newJSChannel(dc), nil
}

func (p *jsPeer) OnConnectionStateChange(f func(string)) {
	p.h.set("onconnectionstatechange", func(js.Value, []js.Value) any {
		f(p.pc.Get("connectionState").String())
		return nil
	})
}

func (p *jsPeer) SetLocalOffer() (<-chan struct{}, error) {
	offer, err := p.await("createOffer")
	if err != nil {
		return nil, err
	}
	if _, err := p.await("setLocalDescription", offer); err != nil {
		return nil, err
	}
	if p.pc.Get("iceGatheringState").String() == "complete" {
		p.gatherDone()
	}
	return p.gathered, nil
}

func (p *jsPeer) LocalDescription() (sessionDescription, error) {
	d := p.pc.Get("localDescription")
	if d.Type() != js.TypeObject {
		return sessionDescription{}, errors.New("webrtc: no local description")
	}
	return sessionDescription{Type: d.Get("type").String(), SDP: d.Get("sdp").String()}, nil
}

func (p *jsPeer) SetRemoteDescription(d sessionDescription) error {
	_, err := p.await("setRemoteDescription", map[string]any{"type": d.Type, "sdp": d.SDP})
	return err
}

func (p *jsPeer) AddICECandidate(c iceCandidateInit) error {
	init := map[string]any{"candidate": c.Candidate, "sdpMid": nil, "sdpMLineIndex": nil, "usernameFragment": nil}
	if c.SDPMid != nil {
		init["sdpMid"] = *c.SDPMid
	}
	if c.SDPMLineIndex != nil {
		init["sdpMLineIndex"] = int(*c.SDPMLineIndex)
	}
	if c.UsernameFragment != nil {
		init["usernameFragment"] = *c.UsernameFragment
	}
	_, err := p.await("addIceCandidate", init)
	return err
}

func (p *jsPeer) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		p.h.release()
		catch(func() { p.pc.Call("close") })
	})
	return nil
}

// await calls a promise-returning method of the peer connection and waits
// for the promise. A closed RTCPeerConnection never settles the promises of
// its pending operations, so Close ends the wait too. It blocks: never call
// it on the event loop (in a handler).
func (p *jsPeer) await(method string, args ...any) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1) // then or catch, once
	then := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- result{v: arg0(a)}
		return nil
	})
	defer then.Release()
	fail := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- result{err: jsError(arg0(a))}
		return nil
	})
	defer fail.Release()
	if err := catch(func() { p.pc.Call(method, args...).Call("then", then, fail) }); err != nil {
		return js.Undefined(), err
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-p.done:
		return js.Undefined(), errPeerClosed
	}
}

func (c *jsChannel) OnOpen(f func()) {
	var once sync.Once
	c.h.set("onopen", func(js.Value, []js.Value) any {
		once.Do(f)
		return nil
	})
	if c.dc.Get("readyState").String() == "open" {
		once.Do(f)
	}
}

// OnClose's handler runs when the channel closes from the relay's side or
// the network's; every handler is released then.
func (c *jsChannel) OnClose(f func()) {
	c.h.set("onclose", func(js.Value, []js.Value) any {
		f()
		c.h.release()
		c.releaseGlue()
		return nil
	})
}

// Close closes the channel and releases its handlers (no handler runs
// after it).
func (c *jsChannel) Close() error {
	c.h.release()
	c.releaseGlue()
	return catch(func() { c.dc.Call("close") })
}

// jsHandlers are the js.Funcs set as on* properties of one object, so that
// they can be unset and released together.
type jsHandlers struct {
	obj      js.Value
	mu       sync.Mutex
	fns      map[string]js.Func
	released bool
}

func (h *jsHandlers) set(name string, f func(js.Value, []js.Value) any) {
	fn := js.FuncOf(f)
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		fn.Release()
		return
	}
	if h.fns == nil {
		h.fns = map[string]js.Func{}
	}
	old, replaced := h.fns[name]
	h.fns[name] = fn
	h.mu.Unlock()
	h.obj.Set(name, fn)
	if replaced {
		old.Release()
	}
}

func (h *jsHandlers) release() {
	h.mu.Lock()
	fns := h.fns
	h.fns, h.released = nil, true
	h.mu.Unlock()
	for name, fn := range fns {
		h.obj.Set(name, js.Null())
		fn.Release()
	}
}

// catch runs f, turning a JavaScript exception into an error.
func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = jsError(e.Value)
		}
	}()
	f()
	return nil
}

// jsError describes a thrown or rejected value ("InvalidStateError: ...").
func jsError(v js.Value) error {
	return errors.New("webrtc: " + js.Global().Call("String", v).String())
}

func arg0(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}
