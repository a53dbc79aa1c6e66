// sockshim: the WICG Direct Sockets API (TCPSocket, UDPSocket,
// TCPServerSocket) in every browser, tunnelled over Wisp to a sockshim relay
// that opens the real connections. One self-contained ES module: it loads
// Go's wasm_exec.js and web/main.wasm itself.
//
//   import { load } from "https://relay.example/web/sockshim.js";
//   const sockshim = await load();            // relay: this page's origin + /wisp/
//   const socket = new sockshim.TCPSocket("example.com", 80);
//   const { readable, writable } = await socket.opened;
//
// By default the wasm and its WebSocket run in a dedicated Worker, and the
// page exchanges transferred ArrayBuffers with it; load({ worker: false })
// runs them in the page. Errors are DOMExceptions with .status (the WinRT
// SocketErrorStatus name) and .accessDenied; see sockshim.d.ts.

const moduleURL = import.meta.url;

const LOAD_OPTIONS = ["relay", "appId", "secret", "wasmURL", "worker"];
const TCP_OPTIONS = ["noDelay", "keepAliveDelay", "sendBufferSize", "receiveBufferSize",
  "secureTransport", "serverName", "caPEM", "signal", "hopLimit", "serializeConnectionAttempts"];
const UDP_OPTIONS = ["remoteAddress", "remotePort", "localAddress", "localPort",
  "sendBufferSize", "receiveBufferSize", "lowLatency", "signal"];
const SERVER_OPTIONS = ["localPort", "backlog", "signal"];

// Default buffer sizes: how many bytes the page queues for reading before
// the wasm stops reading the relay (whose own window then fills), and how
// many written bytes may wait for the relay before writer.ready waits.
const DEFAULT_RECEIVE = 1 << 20;
const DEFAULT_SEND = 1 << 20;
const DATAGRAM_QUEUE = 64;

/**
 * Loads a sockshim instance. Every option is optional.
 * @param {object} [options]
 * @param {string} [options.relay] Wisp endpoint (ws:, wss:, http: or https:); default: this page's origin + "/wisp/".
 * @param {string} [options.appId] app id registered in the relay's config.
 * @param {string} [options.secret] the app's credential.
 * @param {string} [options.wasmURL] main.wasm; default: next to this module.
 * @param {boolean} [options.worker] run in a dedicated Worker (default, where Workers exist).
 */
export async function load(options = {}) {
  checkOptions(options, LOAD_OPTIONS, "load");
  const relay = relayURL(options.relay);
  for (const k of ["appId", "secret", "wasmURL"]) {
    if (options[k] !== undefined && typeof options[k] !== "string") throw new TypeError(`load: ${k} must be a string`);
  }
  if (options.worker !== undefined && typeof options.worker !== "boolean") throw new TypeError("load: worker must be a boolean");
  const wasmURL = new URL(options.wasmURL ?? "./main.wasm", moduleURL).href;
  const worker = options.worker ?? (typeof Worker === "function" && typeof document !== "undefined");
  const config = { relay, appId: options.appId ?? "", secret: options.secret ?? "", wasmURL };
  const backend = worker ? await workerBackend(config) : await pageBackend(config);
  return makeInstance(backend, { relay, worker });
}

function relayURL(relay) {
  if (relay === undefined) {
    if (typeof location === "undefined") throw new TypeError("load: no page origin here: pass relay");
    relay = location.origin + "/wisp/";
  }
  if (typeof relay !== "string") throw new TypeError("load: relay must be a URL string");
  let u;
  try {
    u = new URL(relay, typeof location === "undefined" ? undefined : location.href);
  } catch {
    throw new TypeError(`load: relay ${JSON.stringify(relay)} is not a URL`);
  }
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new TypeError(`load: relay must be ws:, wss:, http: or https:, not ${u.protocol}`);
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u.href;
}

function checkOptions(options, known, where) {
  if (options === null || typeof options !== "object") throw new TypeError(`${where}: options must be an object`);
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new TypeError(`${where}: unknown option ${JSON.stringify(k)} (known: ${known.join(", ")})`);
  }
}

// ---- errors

const ERROR_FIELDS = { status: "Unknown", accessDenied: false };

function socketError(name, message, fields = {}) {
  const e = new DOMException(message, name);
  Object.assign(e, ERROR_FIELDS, fields);
  return e;
}

// fromGo turns the wasm's {name, message, status, accessDenied} into a DOMException.
function fromGo(e) {
  if (e instanceof Error || e instanceof DOMException) return e;
  return socketError(e.name, e.message, { status: e.status, accessDenied: e.accessDenied });
}

const closedError = (what) => socketError("InvalidStateError", `${what}: the socket is closed`, { status: "OperationAborted" });

function abortError(signal) {
  const r = signal.reason;
  if (r instanceof DOMException && r.name === "AbortError") return Object.assign(r, { status: r.status ?? "OperationAborted", accessDenied: r.accessDenied ?? false });
  return socketError("AbortError", r instanceof Error ? r.message : "the operation was aborted", { status: "OperationAborted" });
}

// handled marks a promise's rejection as seen, so a socket nobody awaits
// does not log an unhandled rejection; the caller still sees it.
function handled(p) {
  p.catch(() => {});
  return p;
}

// deferred is a promise with its resolvers; state says how it settled first
// ("pending", "fulfilled", "rejected").
function deferred() {
  const d = { state: "pending" };
  d.promise = handled(new Promise((res, rej) => {
    d.resolve = (v) => { if (d.state === "pending") d.state = "fulfilled"; res(v); };
    d.reject = (e) => { if (d.state === "pending") d.state = "rejected"; rej(e); };
  }));
  return d;
}

// closeAgain is close() on a socket already closed, as the Direct Sockets
// spec has it (https://wicg.github.io/direct-sockets/, close() steps 1-2):
// a socket that had opened returns its closed promise (resolved, or the
// error that ended it), so closing one the peer already closed resolves;
// one that never opened rejects with InvalidStateError.
function closeAgain(opened, closed) {
  return opened.state === "fulfilled" ? closed.promise : Promise.reject(closedError("close"));
}

function toBytes(chunk, where) {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && chunk instanceof SharedArrayBuffer)) return new Uint8Array(chunk);
  throw new TypeError(`${where}: want an ArrayBuffer or a view of one, got ${typeof chunk}`);
}

function checkPort(port, where, allowZero) {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new TypeError(`${where}: port ${port} is not an integer in ${allowZero ? 0 : 1}..65535`);
  }
}

function checkSize(v, where) {
  if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw new TypeError(`${where} must be a positive integer`);
}

function checkSignal(signal, where) {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`${where}: signal must be an AbortSignal`);
}

// transferArgs checks transferOwnership's arguments (the socket broker:
// broker.go in wasm/) and shapes them for the wasm.
const TRANSFER_OPTIONS = ["context", "keepAliveTime", "taskId"];
function transferArgs(where, socketId, options) {
  if (typeof socketId !== "string" || socketId === "" || new TextEncoder().encode(socketId).length > 255) throw new TypeError(`${where}: socketId must be a string of 1-255 bytes`);
  checkOptions(options, TRANSFER_OPTIONS, where);
  const o = options;
  if (o.taskId !== undefined && typeof o.taskId !== "string") throw new TypeError(`${where}: taskId must be a string`);
  if (o.keepAliveTime !== undefined && (!Number.isInteger(o.keepAliveTime) || o.keepAliveTime < 1000)) throw new TypeError(`${where}: keepAliveTime must be an integer of at least 1000 (ms)`);
  let context;
  if (typeof o.context === "string") context = new TextEncoder().encode(o.context);
  else if (o.context !== undefined) context = new Uint8Array(toBytes(o.context, `${where}: context`));
  if (context && context.byteLength > 4096) throw new TypeError(`${where}: context is ${context.byteLength} bytes, at most 4096`);
  return { socketId, taskId: o.taskId ?? "", context, keepAliveTime: o.keepAliveTime };
}

function pushArgs(sub) {
  const where = "setPushSubscription";
  if (sub === null) return { endpoint: "" };
  const b64url = (v, k) => {
    if (typeof v !== "string") throw new TypeError(`${where}: keys.${k} must be a base64url string`);
    const bin = atob(v.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(v.length / 4) * 4, "="));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  };
  let p256dh, auth;
  if (typeof sub?.getKey === "function") {
    p256dh = new Uint8Array(sub.getKey("p256dh") ?? new ArrayBuffer(0));
    auth = new Uint8Array(sub.getKey("auth") ?? new ArrayBuffer(0));
  } else if (sub && typeof sub.keys === "object" && sub.keys !== null) {
    p256dh = b64url(sub.keys.p256dh, "p256dh");
    auth = b64url(sub.keys.auth, "auth");
  } else {
    throw new TypeError(`${where}: want a PushSubscription, its toJSON() form, or null`);
  }
  if (typeof sub.endpoint !== "string" || sub.endpoint === "") throw new TypeError(`${where}: the subscription has no endpoint`);
  if (p256dh.byteLength !== 65 || auth.byteLength !== 16) throw new TypeError(`${where}: keys of ${p256dh.byteLength} and ${auth.byteLength} bytes, want a 65-byte p256dh and a 16-byte auth`);
  return { endpoint: sub.endpoint, p256dh, auth };
}

// ---- backends: the wasm in the page, or in a dedicated Worker

// The events the wasm emits, by the number it sends (wasm/bridge.go's
// eventCodes), and the ops of a batch message to the Worker (its opWrite...):
// flat arrays, OP_STRIDE entries per op or event.
const EVENTS = ["log", "data", "end", "sent", "werr", "dgram", "accept"];
const OP_WRITE = 1, OP_PULL = 2, OP_SEND = 3, OP_CALL = 4, EV_RESULT = 100;
const OP_STRIDE = 5;
// Writes smaller than this share a buffer with the socket's other writes
// of the same batch; larger ones travel in a buffer of their own.
const SMALL_WRITE = 4 << 10;
// How many spent write buffers the page keeps for reuse (the Worker sends
// back those of at least 16 KiB).
const MAX_FREE = 32;

// nextTask runs f in a task of its own, after the microtasks now queued and
// their continuations: every write the current task causes (across all
// sockets) joins one batch.
const nextTask = (() => {
  if (typeof MessageChannel !== "function") return (f) => setTimeout(f, 0);
  const ch = new MessageChannel();
  let q = [];
  ch.port1.onmessage = () => {
    const fs = q;
    q = [];
    for (const f of fs) f();
  };
  return (f) => {
    q.push(f);
    if (q.length === 1) ch.port2.postMessage(null);
  };
})();

// Outbox collects what the page sends to the Worker during one task into
// one message: the ops in order, each write copied into a transferable
// buffer (small ones of a socket joined), each socket's read credit summed
// into one pull.
class Outbox {
  #ops = [];
  #transfer = [];
  #small = new Map(); // id -> {buf, len, at}: the socket's open small-write buffer
  #pulls = new Map(); // id -> index of its pull op
  #scheduled = false;
  #free = []; // write buffers the Worker has copied into the wasm and sent back
  constructor(post) { this.post = post; }

  // take returns a view of n bytes on a returned buffer of up to 2n
  // bytes, or on a new one.
  #take(n) {
    const f = this.#free;
    for (let i = f.length - 1; i >= 0; i--) {
      if (f[i].byteLength >= n && f[i].byteLength <= 2 * n) {
        const b = f[i];
        f[i] = f[f.length - 1];
        f.pop();
        return new Uint8Array(b, 0, n);
      }
    }
    return new Uint8Array(n);
  }

  // reuse takes back buffers the Worker is done with (at most MAX_FREE).
  reuse(buffers) {
    for (const b of buffers) if (this.#free.length < MAX_FREE) this.#free.push(b);
  }

  #schedule() {
    if (this.#scheduled) return;
    this.#scheduled = true;
    nextTask(() => this.flush());
  }

  write(id, bytes) {
    const n = bytes.byteLength;
    let st = this.#small.get(id);
    if (n < SMALL_WRITE) {
      if (!st || st.len + n > st.buf.byteLength) {
        this.#seal(id);
        st = { buf: this.#take(SMALL_WRITE * 4), len: 0, at: this.#ops.length };
        this.#ops.push(OP_WRITE, id, null, 0, 0);
        this.#transfer.push(st.buf.buffer);
        this.#small.set(id, st);
      }
      st.buf.set(bytes, st.len);
      st.len += n;
    } else {
      this.#seal(id); // later small writes must not overtake this one
      const copy = this.#take(n); // one copy into an ArrayBuffer of its own (never shared), which moves to the Worker
      copy.set(bytes);
      this.#ops.push(OP_WRITE, id, copy, 0, 0);
      this.#transfer.push(copy.buffer);
    }
    this.#schedule();
  }

  send(id, bytes, host, port) {
    const copy = new Uint8Array(bytes);
    this.#ops.push(OP_SEND, id, copy, host, port);
    this.#transfer.push(copy.buffer);
    this.#schedule();
  }

  pull(id, n) {
    const at = this.#pulls.get(id);
    if (at !== undefined) {
      this.#ops[at + 2] += n;
      return;
    }
    this.#pulls.set(id, this.#ops.length);
    this.#ops.push(OP_PULL, id, n, 0, 0);
    this.#schedule();
  }

  // call goes in order with the writes before it (closeWrite, startTls
  // come after them); writes after it start new buffers.
  call(req, op, args) {
    for (const id of [...this.#small.keys()]) this.#seal(id);
    this.#ops.push(OP_CALL, req, op, args, 0);
    this.#schedule();
  }

  // seal ends the socket's open small-write buffer: its op gets the bytes.
  #seal(id) {
    const st = this.#small.get(id);
    if (!st) return;
    this.#ops[st.at + 2] = st.buf.subarray(0, st.len);
    this.#small.delete(id);
  }

  flush() {
    this.#scheduled = false;
    if (this.#ops.length === 0) return;
    for (const id of [...this.#small.keys()]) this.#seal(id);
    const ops = this.#ops, transfer = this.#transfer;
    this.#ops = [];
    this.#transfer = [];
    this.#pulls.clear();
    this.post(ops, transfer);
  }
}

let instances = 0;

async function goInstance(wasmURL, env) {
  if (typeof globalThis.Go !== "function") await import(new URL("./wasm_exec.js", moduleURL).href);
  const go = new globalThis.Go();
  const readyName = `__sockshimReady${++instances}_${Math.random().toString(36).slice(2)}`;
  const ready = new Promise((resolve) => { globalThis[readyName] = resolve; });
  go.env = { SOCKSHIM_READY: readyName, ...env };
  let instance;
  try {
    ({ instance } = await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject));
  } catch (e) {
    // A server that does not send application/wasm: compile from bytes.
    const resp = await fetch(wasmURL);
    if (!resp.ok) throw new TypeError(`sockshim: ${wasmURL}: HTTP ${resp.status}`);
    ({ instance } = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject));
  }
  const exited = go.run(instance);
  // A wasm that is not sockshim's never hands over: it exits or fails.
  const gone = handled(exited.then(() => { throw socketError("NotSupportedError", `sockshim: ${wasmURL} exited without handing over sockshim's API: it is not sockshim's ./wasm build`); },
    (e) => { throw socketError("NotSupportedError", `sockshim: ${wasmURL} failed before handing over sockshim's API (${e?.message ?? e}): it is not sockshim's ./wasm build`); }));
  let api;
  try {
    api = await Promise.race([ready, gone]);
  } finally {
    delete globalThis[readyName];
  }
  if (typeof api?.configure !== "function") throw socketError("NotSupportedError", `sockshim: ${wasmURL} is not the build of sockshim's ./wasm that this sockshim.js expects (it handed over no configure function): serve the matching main.wasm`);
  return { api, exited };
}

// The page backend calls the wasm directly; Go calls dispatch for events.
async function pageBackend(config) {
  const { api, exited } = await goInstance(config.wasmURL);
  const b = new Backend();
  exited.then(() => b.die("the wasm program exited"), (e) => b.die(`the wasm program failed: ${e?.message ?? e}`));
  const err = api.configure({ ...config, worker: false, emit: (t, id, x, y, z) => b.dispatch(EVENTS[t], id, x, y, z) });
  if (err) throw fromGo(err);
  b.call = (op, args) => (b.dead ? Promise.reject(b.dead) : Promise.race([api.call(op, args).catch((e) => { throw fromGo(e); }), b.died]));
  b.write = (id, bytes) => api.write(id, bytes);
  b.send = (id, bytes, host, port) => api.send(id, bytes, host, port);
  b.pull = (id, n) => api.pull(id, n);
  // The wasm stays in the page: close what it holds, then fail the rest.
  b.terminate = () => {
    for (const id of b.handlers.keys()) api.call("close", { id }).catch(() => {});
    b.die("the instance was terminated");
  };
  b.version = api.version;
  return b;
}

// The worker backend posts to web/sockshim-worker.js. A Worker's script
// must be same-origin with the page, so a page on another origin starts
// it from a blob: module that imports the real one (with CORS).
async function workerBackend(config) {
  const src = new URL("./sockshim-worker.js", moduleURL).href;
  let w;
  if (typeof location !== "undefined" && new URL(src).origin === location.origin) {
    w = new Worker(src, { type: "module", name: "sockshim" });
  } else {
    const blob = new Blob([`import ${JSON.stringify(src)};\n`], { type: "text/javascript" });
    const url = URL.createObjectURL(blob);
    w = new Worker(url, { type: "module", name: "sockshim" });
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }
  const b = new Backend();
  const pending = new Map();
  let req = 0;
  const started = new Promise((resolve, reject) => {
    w.onerror = (e) => reject(new TypeError(`sockshim: the Worker failed to start: ${e.message || "script error"} (${src})`));
    w.onmessage = (e) => {
      const m = e.data;
      if (m[0] === "hello") w.postMessage(["init", 0, config]);
      else if (m[0] === "ready") resolve(m[2]);
      else if (m[0] === "failed") reject(fromGo(m[2]));
    };
  });
  let version;
  try {
    version = await started;
  } catch (e) {
    w.terminate();
    throw e;
  }
  w.onerror = (e) => {
    b.die(`the Worker failed: ${e.message || "script error"}`);
    for (const p of pending.values()) p.reject(b.dead);
    pending.clear();
  };
  // The Worker sends ["batch", events]: every event and call result of one
  // of its turns, in order, OP_STRIDE entries each.
  w.onmessage = (e) => {
    const m = e.data;
    if (m[0] === "exit") {
      b.die(`the wasm program in the Worker ${m[2] ? `failed: ${m[2]}` : "exited"}`);
      for (const p of pending.values()) p.reject(b.dead);
      pending.clear();
      return;
    }
    if (m[0] !== "batch") return;
    if (m[2]) out.reuse(m[2]);
    const ev = m[1];
    for (let i = 0; i < ev.length; i += OP_STRIDE) {
      if (ev[i] === EV_RESULT) {
        const p = pending.get(ev[i + 1]);
        pending.delete(ev[i + 1]);
        if (!p) continue;
        if (ev[i + 2]) p.resolve(ev[i + 3]); else p.reject(fromGo(ev[i + 3]));
        continue;
      }
      b.dispatch(EVENTS[ev[i]], ev[i + 1], ev[i + 2], ev[i + 3], ev[i + 4]);
    }
  };
  const out = new Outbox((ops, transfer) => {
    if (!b.dead) w.postMessage(["batch", ops], transfer);
  });
  b.call = (op, args) => new Promise((resolve, reject) => {
    if (b.dead) {
      reject(b.dead);
      return;
    }
    pending.set(++req, { resolve, reject });
    out.call(req, op, args);
  });
  b.write = (id, bytes) => out.write(id, bytes);
  b.send = (id, bytes, host, port) => out.send(id, bytes, host, port);
  b.pull = (id, n) => out.pull(id, n);
  b.terminate = () => {
    w.terminate();
    b.die("the instance was terminated");
    for (const p of pending.values()) p.reject(b.dead);
    pending.clear();
  };
  b.version = version;
  return b;
}

class Backend {
  constructor() {
    this.handlers = new Map();
    this.nextId = 0;
  }
  newId() { return ++this.nextId; }
  dead = null;
  #died = null;
  died = new Promise((_, reject) => { this.#died = reject; });
  // die ends the instance: every open socket fails with a NetworkError, and
  // every later call rejects with it.
  die(why) {
    if (this.dead) return;
    this.dead = socketError("NetworkError", `sockshim: ${why}`, { status: "OperationAborted" });
    this.died.catch(() => {});
    this.#died(this.dead);
    for (const h of [...this.handlers.values()]) h.event("end", this.dead);
    this.handlers.clear();
  }
  dispatch(type, id, x, y, z) {
    if (type === "log") {
      console.info(x);
      for (const f of this.loggers) f(x);
      return;
    }
    const h = this.handlers.get(id);
    if (h) h.event(type, x, y, z);
  }
  loggers = new Set();
}

// ---- the API

function makeInstance(backend, { relay, worker }) {
  const ACCEPTED = Symbol("accepted");
  const RECLAIMED = Symbol("reclaimed"); // a socket reclaimed from the broker

  // SocketLife is what a TCPSocket and a UDPSocket share: the state
  // ("opening", "open", "closed"), the opened and closed promises, the
  // readable's and writable's controllers, which directions have ended, and
  // a write waiting for acknowledgements; and the three ways a socket ends.
  class SocketLife {
    state = "opening";
    opened = deferred();
    closed = deferred();
    rc = null; wc = null;
    readEnded = false; writeEnded = false;
    waiter = null;
    id = 0; // the socket's, set with it

    // end marks the socket closed and tells the wasm (whose answer nobody
    // waits for here), reporting whether it was open.
    #end() {
      const wasOpen = this.state === "open";
      this.state = "closed";
      backend.handlers.delete(this.id);
      return wasOpen;
    }

    #errorAll(err) {
      if (!this.readEnded) try { this.rc.error(err); } catch {}
      try { this.wc.error(err); } catch {}
    }

    // finish closes an open socket once both directions have ended.
    finish() {
      if (this.state !== "open" || !this.readEnded || !this.writeEnded) return;
      this.#end();
      backend.call("close", { id: this.id }).catch(() => {});
      this.closed.resolve();
    }

    // fail ends the socket with err: the streams error, opened (if still
    // pending) and closed reject.
    fail(err) {
      if (this.state === "closed") return;
      const wasOpen = this.#end();
      backend.call("close", { id: this.id }).catch(() => {});
      this.opened.reject(err);
      if (wasOpen) this.#errorAll(err);
      this.waiter?.reject(err);
      this.waiter = null;
      this.closed.reject(err);
    }

    // close is the app's close(): pending reads and writes fail with
    // InvalidStateError, closed resolves. On a closed socket: its closed
    // promise (closeAgain).
    close() {
      if (this.state === "closed") return closeAgain(this.opened, this.closed);
      const wasOpen = this.#end();
      const err = closedError("read/write");
      this.opened.reject(socketError("AbortError", "close() was called before the socket opened", { status: "OperationAborted" }));
      if (wasOpen) this.#errorAll(err);
      this.waiter?.reject(err);
      this.waiter = null;
      this.closed.resolve();
      return backend.call("close", { id: this.id }).then(() => {}, () => {});
    }
  }

  class TCPSocket {
    #id;
    #s = new SocketLife(); // state, opened, closed, the stream controllers (its id is set with #id)
    #options;
    #info = null;
    #inflight = 0; // read credit granted and not yet used
    #unacked = 0; // written bytes the relay has not taken yet
    #tls = false;
    #receive; #send;

    /**
     * @param {string} remoteAddress host name or IP address
     * @param {number} remotePort 1..65535
     * @param {object} [options] see sockshim.d.ts
     */
    constructor(remoteAddress, remotePort, options = {}) {
      if (remoteAddress === ACCEPTED) {
        this.#id = this.#s.id = remotePort.id;
        this.#options = {};
        this.#receive = DEFAULT_RECEIVE;
        this.#send = DEFAULT_SEND;
        backend.handlers.set(this.#id, this);
        this.#open(remotePort);
        return;
      }
      if (typeof remoteAddress !== "string" || remoteAddress === "") throw new TypeError("TCPSocket: remoteAddress must be a non-empty string");
      checkPort(remotePort, "TCPSocket", false);
      checkOptions(options, TCP_OPTIONS, "TCPSocket");
      const o = options;
      if (o.noDelay !== undefined && typeof o.noDelay !== "boolean") throw new TypeError("TCPSocket: noDelay must be a boolean");
      if (o.keepAliveDelay !== undefined && (!Number.isInteger(o.keepAliveDelay) || o.keepAliveDelay < 1000)) throw new TypeError("TCPSocket: keepAliveDelay must be an integer of at least 1000 (ms)");
      checkSize(o.sendBufferSize, "TCPSocket: sendBufferSize");
      checkSize(o.receiveBufferSize, "TCPSocket: receiveBufferSize");
      // "relay" (sockshim's): the relay does the TLS, NOT end to end (Go's ProtectionLevelRelayTls).
      if (o.secureTransport !== undefined && !["off", "on", "starttls", "relay"].includes(o.secureTransport)) throw new TypeError(`TCPSocket: secureTransport must be "off", "on", "starttls" or "relay"`);
      for (const k of ["serverName", "caPEM"]) if (o[k] !== undefined && typeof o[k] !== "string") throw new TypeError(`TCPSocket: ${k} must be a string`);
      checkSignal(o.signal, "TCPSocket");
      // sockshim's: the real connection's IP TTL / hop limit, and one connection attempt at a time.
      if (o.hopLimit !== undefined && (!Number.isInteger(o.hopLimit) || o.hopLimit < 1 || o.hopLimit > 255)) throw new TypeError("TCPSocket: hopLimit must be an integer from 1 to 255");
      if (o.serializeConnectionAttempts !== undefined && typeof o.serializeConnectionAttempts !== "boolean") throw new TypeError("TCPSocket: serializeConnectionAttempts must be a boolean");
      this.#options = { ...o };
      this.#receive = o.receiveBufferSize ?? DEFAULT_RECEIVE;
      this.#send = o.sendBufferSize ?? DEFAULT_SEND;
      this.#id = this.#s.id = backend.newId();
      backend.handlers.set(this.#id, this);
      if (o.signal) {
        if (o.signal.aborted) {
          this.#fail(abortError(o.signal));
          return;
        }
        o.signal.addEventListener("abort", () => this.#fail(abortError(o.signal)), { once: true });
      }
      backend.call("tcp.open", {
        id: this.#id, host: remoteAddress, port: remotePort,
        secureTransport: o.secureTransport === "on" || o.secureTransport === "relay" ? o.secureTransport : "off",
        serverName: o.serverName, caPEM: o.caPEM, noDelay: o.noDelay, keepAliveDelay: o.keepAliveDelay,
        // StreamSocketControl: OutboundBufferSizeInBytes, OutboundUnicastHopLimit, SerializeConnectionAttempts.
        sendBufferSize: o.sendBufferSize, hopLimit: o.hopLimit, serializeConnectionAttempts: o.serializeConnectionAttempts,
      }).then((d) => {
        if (this.#s.state === "closed") return;
        this.#open(d);
      }, (e) => this.#fail(e));
    }

    /** Resolves to {readable, writable, remoteAddress, remotePort, localAddress, localPort} once connected. */
    get opened() { return this.#s.opened.promise; }
    /** Resolves when both directions have ended or close() was called; rejects with the error that ended the socket. */
    get closed() { return this.#s.closed.promise; }

    #open(d) {
      this.#s.state = "open";
      this.#info = d;
      this.#tls = d.protectionLevel !== undefined && d.protectionLevel !== "PlainSocket";
      const readable = new ReadableStream({
        type: "bytes",
        start: (c) => { this.#s.rc = c; },
        pull: () => this.#grant(),
        cancel: () => { this.#s.readEnded = true; this.#maybeFinish(); },
      }, { highWaterMark: this.#receive });
      const writable = new WritableStream({
        start: (c) => { this.#s.wc = c; },
        write: (chunk) => this.#write(chunk),
        close: () => backend.call("tcp.closeWrite", { id: this.#id }).then(() => { this.#s.writeEnded = true; this.#maybeFinish(); }),
        abort: () => {
          this.#s.writeEnded = true;
          return backend.call("tcp.closeWrite", { id: this.#id }).catch(() => {}).then(() => this.#maybeFinish());
        },
      }, { highWaterMark: 1 });
      this.#s.opened.resolve({
        readable, writable,
        remoteAddress: d.remoteAddress, remotePort: d.remotePort,
        localAddress: d.localAddress, localPort: d.localPort,
      });
    }

    // grant gives the wasm read credit for what the readable has room for
    // (or what a pending BYOB read asks), in batches.
    #grant() {
      if (this.#s.readEnded || this.#s.state !== "open") return;
      const c = this.#s.rc;
      let room = c.desiredSize ?? 0;
      const br = c.byobRequest;
      if (br) room = Math.max(room, br.view.byteLength);
      const want = room - this.#inflight;
      if (want > 0 && (this.#inflight === 0 || want >= Math.min(64 << 10, this.#receive >> 2))) {
        this.#inflight += want;
        backend.pull(this.#id, want);
      }
    }

    #write(chunk) {
      if (this.#s.state !== "open") throw closedError("write");
      const bytes = toBytes(chunk, "TCPSocket writable");
      if (bytes.byteLength === 0) return;
      this.#unacked += bytes.byteLength;
      backend.write(this.#id, bytes);
      if (this.#unacked <= this.#send) return;
      return new Promise((resolve, reject) => { this.#s.waiter = { resolve, reject }; });
    }

    event(type, x) {
      switch (type) {
        case "data":
          this.#inflight -= x.byteLength;
          if (this.#s.readEnded || this.#s.state !== "open") return;
          this.#s.rc.enqueue(x);
          return;
        case "end":
          if (x) {
            this.#fail(fromGo(x));
            return;
          }
          if (!this.#s.readEnded && this.#s.state === "open") {
            this.#s.readEnded = true;
            this.#s.rc.close();
            this.#s.rc.byobRequest?.respond(0);
          }
          this.#maybeFinish();
          return;
        case "sent":
          this.#unacked -= x;
          if (this.#s.waiter && this.#unacked <= this.#send) {
            this.#s.waiter.resolve();
            this.#s.waiter = null;
          }
          return;
        case "werr":
          this.#fail(fromGo(x));
      }
    }

    #maybeFinish() { this.#s.finish(); }

    // fail ends the socket with err: the streams error, opened (if still
    // pending) and closed reject.
    #fail(err) { this.#s.fail(err); }

    /** Closes both directions at once; pending reads and writes fail with InvalidStateError. On a closed socket: its closed promise. */
    close() { return this.#s.close(); }

    /**
     * For secureTransport "starttls": negotiates TLS (in the wasm, Go's
     * crypto/tls) after every byte written so far; the same readable and
     * writable then carry plaintext over TLS. Resolves to the open info.
     */
    async startTls() {
      if (this.#s.state === "closed") throw closedError("startTls");
      if (this.#options.secureTransport !== "starttls") throw socketError("InvalidStateError", `startTls: the socket was opened with secureTransport ${JSON.stringify(this.#options.secureTransport ?? "off")}, not "starttls"`);
      if (this.#tls) throw socketError("InvalidStateError", "startTls: TLS is already on");
      const info = await this.opened;
      if (this.#s.state === "closed") throw closedError("startTls");
      this.#tls = true;
      let d;
      try {
        d = await backend.call("tcp.startTls", { id: this.#id });
      } catch (e) {
        if (this.#s.state === "closed") throw closedError("startTls");
        this.#fail(e);
        throw e;
      }
      this.#info = d;
      return info;
    }

    /**
     * Statistics and transport: {transport, relay, protectionLevel,
     * serverCertificate, bytesSent, bytesReceived, openMs,
     * bandwidthStatistics, roundTripTimeStatistics,
     * tunnelRoundTripTimeStatistics, connectionBandwidthStatistics, ...}.
     */
    async info() {
      if (this.#s.state !== "open") throw closedError("info");
      const i = await backend.call("info", { id: this.#id });
      return { ...i, worker, bytesQueued: this.#unacked };
    }

    /**
     * Hands the open socket to the relay's socket broker under socketId
     * (WinRT's TransferOwnership), after every byte written so far. The
     * socket is closed here when it resolves: the readable ends after what it
     * already holds, and what the page has not received yet stays with the
     * broker, ahead of what arrives later. sockshim.allSockets() in a later
     * page of the same app reclaims it. A TLS socket cannot be transferred.
     * @param {string} socketId 1-255 bytes, unique among the app's held sockets
     * @param {object} [options] {context: string|BufferSource (<= 4096 bytes), keepAliveTime: ms, taskId}
     */
    async transferOwnership(socketId, options = {}) {
      const args = transferArgs("TCPSocket.transferOwnership", socketId, options);
      if (this.#s.state !== "open") throw closedError("transferOwnership");
      await backend.call("broker.transfer", { id: this.#id, ...args });
      if (this.#s.state !== "open") return;
      this.#s.state = "closed";
      backend.handlers.delete(this.#id);
      if (!this.#s.readEnded) {
        this.#s.readEnded = true;
        try { this.#s.rc.close(); this.#s.rc.byobRequest?.respond(0); } catch {}
      }
      const err = closedError("write: the socket was transferred to the broker;");
      try { this.#s.wc.error(err); } catch {}
      this.#s.waiter?.reject(err);
      this.#s.waiter = null;
      this.#s.closed.resolve();
    }
  }

  class UDPSocket {
    #id;
    #s = new SocketLife(); // its id is set with #id
    #connected;
    #inflight = 0; #unacked = 0;
    #queue;

    /** @param {object} options {remoteAddress, remotePort} (connected) or {localAddress, localPort} (bound) */
    constructor(options, reclaimed) {
      if (options === RECLAIMED) {
        this.#connected = reclaimed.remoteAddress !== undefined;
        this.#queue = DATAGRAM_QUEUE;
        this.#id = this.#s.id = reclaimed.id;
        backend.handlers.set(this.#id, this);
        this.#open(reclaimed);
        return;
      }
      checkOptions(options, UDP_OPTIONS, "UDPSocket");
      const o = options;
      const remote = o.remoteAddress !== undefined || o.remotePort !== undefined;
      const local = o.localAddress !== undefined || o.localPort !== undefined;
      if (remote === local) throw new TypeError("UDPSocket: pass either remoteAddress and remotePort (connected) or localAddress (bound)");
      if (remote) {
        if (typeof o.remoteAddress !== "string" || o.remoteAddress === "") throw new TypeError("UDPSocket: remoteAddress must be a non-empty string");
        checkPort(o.remotePort, "UDPSocket remotePort", false);
      } else {
        if (typeof o.localAddress !== "string" || o.localAddress === "") throw new TypeError("UDPSocket: localAddress must be a non-empty string (an IP address)");
        if (o.localPort !== undefined) checkPort(o.localPort, "UDPSocket localPort", true);
      }
      checkSize(o.sendBufferSize, "UDPSocket: sendBufferSize");
      checkSize(o.receiveBufferSize, "UDPSocket: receiveBufferSize");
      if (o.lowLatency !== undefined && typeof o.lowLatency !== "boolean") throw new TypeError("UDPSocket: lowLatency must be a boolean");
      checkSignal(o.signal, "UDPSocket");
      this.#connected = remote;
      this.#queue = DATAGRAM_QUEUE;
      this.#id = this.#s.id = backend.newId();
      backend.handlers.set(this.#id, this);
      if (o.signal) {
        if (o.signal.aborted) {
          this.#fail(abortError(o.signal));
          return;
        }
        o.signal.addEventListener("abort", () => this.#fail(abortError(o.signal)), { once: true });
      }
      backend.call("udp.open", {
        id: this.#id, remoteAddress: o.remoteAddress, remotePort: o.remotePort,
        localAddress: o.localAddress, localPort: o.localPort ?? 0,
        receiveBufferSize: o.receiveBufferSize, lowLatency: o.lowLatency === true,
      }).then((d) => {
        if (this.#s.state === "closed") return;
        this.#open(d);
      }, (e) => this.#fail(e));
    }

    get opened() { return this.#s.opened.promise; }
    get closed() { return this.#s.closed.promise; }

    #open(d) {
      this.#s.state = "open";
      const readable = new ReadableStream({
        start: (c) => { this.#s.rc = c; },
        pull: () => this.#grant(),
        cancel: () => { this.#s.readEnded = true; this.#maybeFinish(); },
      }, { highWaterMark: this.#queue });
      const writable = new WritableStream({
        start: (c) => { this.#s.wc = c; },
        write: (m) => this.#write(m),
        close: () => { this.#s.writeEnded = true; this.#maybeFinish(); },
        abort: () => { this.#s.writeEnded = true; this.#maybeFinish(); },
      }, { highWaterMark: 1 });
      this.#s.opened.resolve({
        readable, writable,
        remoteAddress: d.remoteAddress, remotePort: d.remotePort,
        localAddress: d.localAddress, localPort: d.localPort,
      });
    }

    #grant() {
      if (this.#s.readEnded || this.#s.state !== "open") return;
      const want = (this.#s.rc.desiredSize ?? 0) - this.#inflight;
      if (want > 0) {
        this.#inflight += want;
        backend.pull(this.#id, want);
      }
    }

    #write(m) {
      if (this.#s.state !== "open") throw closedError("write");
      if (m === null || typeof m !== "object" || m.data === undefined) throw new TypeError("UDPSocket writable: want {data, remoteAddress?, remotePort?}");
      const bytes = toBytes(m.data, "UDPSocket writable: data");
      let host, port;
      if (this.#connected) {
        if (m.remoteAddress !== undefined || m.remotePort !== undefined) throw new TypeError("UDPSocket writable: a connected socket sends to its remoteAddress only");
      } else {
        if (typeof m.remoteAddress !== "string" || m.remoteAddress === "") throw new TypeError("UDPSocket writable: a bound socket needs remoteAddress");
        checkPort(m.remotePort, "UDPSocket writable: remotePort", false);
        host = m.remoteAddress;
        port = m.remotePort;
      }
      this.#unacked++;
      backend.send(this.#id, bytes, host, port);
      if (this.#unacked <= DATAGRAM_QUEUE) return;
      return new Promise((resolve, reject) => { this.#s.waiter = { resolve, reject }; });
    }

    event(type, x, y, z) {
      switch (type) {
        case "dgram":
          this.#inflight--;
          if (this.#s.readEnded || this.#s.state !== "open") return;
          this.#s.rc.enqueue({ data: x, remoteAddress: y, remotePort: z });
          return;
        case "sent":
        case "werr":
          // A datagram that could not be sent is lost, as UDP's are; the
          // error is logged, the socket stays usable. "sent" counts x
          // datagrams, "werr" one.
          if (type === "werr") console.warn("sockshim UDPSocket: datagram not sent:", x.message);
          this.#unacked -= type === "sent" ? x : 1;
          if (this.#s.waiter && this.#unacked <= DATAGRAM_QUEUE) {
            this.#s.waiter.resolve();
            this.#s.waiter = null;
          }
          return;
        case "end":
          this.#fail(fromGo(x));
      }
    }

    #maybeFinish() { this.#s.finish(); }

    #fail(err) { this.#s.fail(err); }

    close() { return this.#s.close(); }

    /** {transport: "websocket"|"datachannel", transportReason?, datagramsSent, datagramsReceived, ...} */
    async info() {
      if (this.#s.state !== "open") throw closedError("info");
      return { ...(await backend.call("info", { id: this.#id })), worker };
    }

    /**
     * Hands the socket to the relay's broker under socketId; it is closed
     * here when this resolves. The relay keeps receiving on the same port
     * and keeps what arrives (UDP has no flow control: past 1 MiB or 4096
     * datagrams it drops, and counts). Options as for TCPSocket.
     */
    async transferOwnership(socketId, options = {}) {
      const args = transferArgs("UDPSocket.transferOwnership", socketId, options);
      if (this.#s.state !== "open") throw closedError("transferOwnership");
      await backend.call("broker.transfer", { id: this.#id, ...args });
      if (this.#s.state !== "open") return;
      this.#s.state = "closed";
      backend.handlers.delete(this.#id);
      if (!this.#s.readEnded) {
        this.#s.readEnded = true;
        try { this.#s.rc.close(); } catch {}
      }
      const err = closedError("write: the socket was transferred to the broker;");
      try { this.#s.wc.error(err); } catch {}
      this.#s.waiter?.reject(err);
      this.#s.waiter = null;
      this.#s.closed.resolve();
    }
  }

  class TCPServerSocket {
    #id;
    #state = "opening";
    #opened = deferred();
    #closed = deferred();
    #rc = null;
    #inflight = 0;

    /**
     * A listener held by the relay.
     * @param {string} localAddress an IP address of the relay ("0.0.0.0", "::", "127.0.0.1")
     * @param {object} [options] {localPort (0 or absent: any), backlog, signal}
     */
    constructor(localAddress, options = {}) {
      if (localAddress === RECLAIMED) {
        this.#id = options.id;
        backend.handlers.set(this.#id, this);
        this.#listening(options);
        return;
      }
      if (typeof localAddress !== "string" || localAddress === "") throw new TypeError("TCPServerSocket: localAddress must be a non-empty string");
      checkOptions(options, SERVER_OPTIONS, "TCPServerSocket");
      if (options.localPort !== undefined) checkPort(options.localPort, "TCPServerSocket localPort", true);
      checkSize(options.backlog, "TCPServerSocket: backlog");
      checkSignal(options.signal, "TCPServerSocket");
      this.#id = backend.newId();
      backend.handlers.set(this.#id, this);
      const signal = options.signal;
      if (signal) {
        if (signal.aborted) {
          this.#fail(abortError(signal));
          return;
        }
        signal.addEventListener("abort", () => this.#fail(abortError(signal)), { once: true });
      }
      backend.call("server.open", { id: this.#id, localAddress, localPort: options.localPort ?? 0 }).then((d) => {
        if (this.#state === "closed") return;
        this.#listening(d);
      }, (e) => this.#fail(e));
    }

    #listening(d) {
      this.#state = "open";
      const readable = new ReadableStream({
        start: (c) => { this.#rc = c; },
        pull: () => this.#grant(),
        cancel: () => this.close().catch(() => {}),
      }, { highWaterMark: 1 });
      this.#opened.resolve({ readable, localAddress: d.localAddress, localPort: d.localPort });
    }

    get opened() { return this.#opened.promise; }
    get closed() { return this.#closed.promise; }

    #grant() {
      if (this.#state !== "open") return;
      const want = (this.#rc.desiredSize ?? 0) - this.#inflight;
      if (want > 0) {
        this.#inflight += want;
        backend.pull(this.#id, want);
      }
    }

    event(type, x) {
      if (type === "accept") {
        this.#inflight--;
        const s = new TCPSocket(ACCEPTED, x);
        if (this.#state !== "open") {
          s.close();
          return;
        }
        this.#rc.enqueue(s);
      } else if (type === "end") {
        this.#fail(fromGo(x));
      }
    }

    #fail(err) {
      if (this.#state === "closed") return;
      const wasOpen = this.#state === "open";
      this.#state = "closed";
      backend.handlers.delete(this.#id);
      backend.call("close", { id: this.#id }).catch(() => {});
      this.#opened.reject(err);
      if (wasOpen) try { this.#rc.error(err); } catch {}
      this.#closed.reject(err);
    }

    /** Stops listening and ends the readable of connections; sockets already accepted stay open. */
    close() {
      if (this.#state === "closed") return closeAgain(this.#opened, this.#closed);
      const wasOpen = this.#state === "open";
      this.#state = "closed";
      backend.handlers.delete(this.#id);
      this.#opened.reject(socketError("AbortError", "close() was called before the socket opened", { status: "OperationAborted" }));
      // The stream of connections ends: a for-await loop over it finishes.
      if (wasOpen) try { this.#rc.close(); } catch {}
      this.#closed.resolve();
      return backend.call("close", { id: this.#id }).then(() => {}, () => {});
    }

    async info() {
      if (this.#state !== "open") throw closedError("info");
      return { ...(await backend.call("info", { id: this.#id })), worker };
    }

    /**
     * Hands the listener to the relay's broker under socketId; it is closed
     * here when this resolves (connections already in its readable stay
     * there). The relay goes on accepting on the same port and holds each
     * connection: allSockets() lists it as socketId + "/" + n, kind
     * "TCPSocket", reason "ConnectionAccepted". Options as for TCPSocket.
     */
    async transferOwnership(socketId, options = {}) {
      const args = transferArgs("TCPServerSocket.transferOwnership", socketId, options);
      if (this.#state !== "open") throw closedError("transferOwnership");
      await backend.call("broker.transfer", { id: this.#id, ...args });
      if (this.#state !== "open") return;
      this.#state = "closed";
      backend.handlers.delete(this.#id);
      try { this.#rc.close(); } catch {}
      this.#closed.resolve();
    }
  }

  // reclaimHeld attaches a held socket to this instance (broker.reclaim)
  // and returns it open, as the class of its kind.
  async function reclaimHeld(h) {
    const id = backend.newId();
    const d = await backend.call("broker.reclaim", { id, socketId: h.id, kind: h.kind });
    d.id = id;
    if (h.kind === "TCPServerSocket") return new TCPServerSocket(RECLAIMED, d);
    if (h.kind === "UDPSocket") return new UDPSocket(RECLAIMED, d);
    return new TCPSocket(ACCEPTED, d);
  }

  return Object.freeze({
    TCPSocket, UDPSocket, TCPServerSocket,
    /** The Wisp endpoint this instance uses. */
    relay,
    /** Whether the wasm runs in a dedicated Worker. */
    worker,
    version: backend.version,
    /**
     * GETs url with Go's net/http inside the wasm, over real TCP through the
     * relay (shim.Dialer), not the browser's fetch: no CORS, any port. It
     * resolves to {status, statusText, proto, contentType, body} (body: the
     * first 4 KiB, as text); failures reject like a TCPSocket's.
     */
    httpGet(url) {
      if (typeof url !== "string") return Promise.reject(new TypeError("httpGet: url must be a string"));
      return backend.call("http.get", { url });
    },
    /**
     * What the relay's socket broker holds for this app (WinRT's
     * SocketActivityInformation.AllSockets): sockets transferred by this or
     * an earlier page of the app, and connections their held listeners
     * accepted. Each is {id, kind ("TCPSocket", "TCPServerSocket",
     * "UDPSocket"), reason ("SocketActivity", "ConnectionAccepted",
     * "KeepAliveTimerExpired", "SocketClosed", "Unknown"), taskId, context
     * (Uint8Array), buffered (bytes held), reclaim()}; reclaim() resolves to
     * the open socket, which reads what the broker held first, in order.
     * Listing renews every lease.
     */
    /**
     * Registers the app's Web Push subscription with the relay's broker (a
     * browser PushSubscription, or its toJSON() form; null removes it): when
     * a held socket of the app has activity, the relay pushes
     * {socketId, kind, reason, taskId} to it, waking the service worker,
     * which loads sockshim and reclaims. The relay's config must list the
     * push service for the app (broker.push), or this rejects with
     * NotAllowedError.
     */
    async setPushSubscription(subscription) {
      const args = pushArgs(subscription);
      await backend.call("broker.push", { id: 0, ...args });
    },
    async allSockets() {
      const list = await backend.call("broker.list", { id: 0 });
      return list.map((h) => {
        const e = { id: h.socketId, kind: h.kind, reason: h.reason, taskId: h.taskId, context: h.context, buffered: h.buffered };
        e.reclaim = () => reclaimHeld(e);
        return Object.freeze(e);
      });
    },
    /** Calls f(message) for every diagnostic the instance logs (also console.info). */
    onLog(f) { backend.loggers.add(f); return () => backend.loggers.delete(f); },
    /** Ends the instance: its Worker stops (in-page: its sockets close); open sockets fail with NetworkError, later calls reject. */
    terminate() { backend.terminate(); },
  });
}
