// The dedicated Worker behind web/sockshim.js: it runs the wasm (and so the
// WebSocket to the relay) off the page's main thread. Messages are arrays:
// page -> worker ["init", 0, config] and ["batch", ops]; worker -> page
// ["hello"], ["ready", 0, version], ["failed", 0, error], ["exit", 0, why]
// and ["batch", events]. A batch is a flat array, five entries per op or
// event (sockshim.js's OP_* and EVENTS, wasm/bridge.go's op and event
// codes): the page's writes, sends, pulls and calls of one of its tasks, or
// the wasm's events and call results of one turn of this Worker, so that a
// busy socket costs one message per turn each way, not one per chunk. Data
// buffers are transferred, never copied.

const OP_WRITE = 1, OP_CALL = 4, EV_RESULT = 100, OP_STRIDE = 5;
// Write buffers of at least REUSE_MIN bytes go back to the page once the
// wasm has copied them, at most MAX_SPARE per message, so that a busy
// socket's writes reuse a few buffers instead of allocating one each.
const REUSE_MIN = 16 << 10, MAX_SPARE = 32;
const DATA = 1, DGRAM = 5; // events whose x is a Uint8Array

let api = null;

// The events and results of this turn, posted once the wasm and the calls
// that produced them have returned (a microtask: after the current call
// into Go, every goroutine it woke has run).
let events = [];
let transfer = [];
let spare = [];
let scheduled = false;

function post() {
  scheduled = false;
  const ev = events, tr = transfer, sp = spare;
  events = [];
  transfer = [];
  spare = [];
  if (sp.length) postMessage(["batch", ev, sp], tr.concat(sp));
  else postMessage(["batch", ev], tr);
}

function schedule() {
  if (!scheduled) {
    scheduled = true;
    queueMicrotask(post);
  }
}

function queue(code, id, x, y, z) {
  events.push(code, id, x, y, z);
  if (code === DATA || code === DGRAM) transfer.push(x.buffer);
  schedule();
}

function emit(code, id, x, y, z) { queue(code, id, x, y, z); }

// run hands the ops to the wasm: each run of writes, sends and pulls in one
// call, each call (in order after them) on its own.
function run(ops) {
  let from = -1;
  for (let i = 0; i < ops.length; i += OP_STRIDE) {
    if (ops[i] !== OP_CALL) {
      if (from < 0) from = i;
      continue;
    }
    if (from >= 0) {
      api.batch(ops, from, i);
      from = -1;
    }
    const req = ops[i + 1];
    api.call(ops[i + 2], ops[i + 3]).then((v) => queue(EV_RESULT, req, true, v, 0), (err) => queue(EV_RESULT, req, false, err, 0));
  }
  if (from >= 0) api.batch(ops, from, ops.length);
  // The wasm copied every write during api.batch: the buffers are free.
  for (let i = 0; i < ops.length && spare.length < MAX_SPARE; i += OP_STRIDE) {
    if (ops[i] === OP_WRITE && ops[i + 2].buffer.byteLength >= REUSE_MIN) {
      spare.push(ops[i + 2].buffer);
      schedule();
    }
  }
}

async function init(config) {
  await import(new URL("./wasm_exec.js", import.meta.url).href);
  const go = new globalThis.Go();
  // A name of its own, as in the page: nothing else in this global can
  // take the hand-over.
  const readyName = `__sockshimReady_${Math.random().toString(36).slice(2)}`;
  const ready = new Promise((resolve) => { globalThis[readyName] = resolve; });
  go.env = { SOCKSHIM_READY: readyName };
  let instance;
  try {
    ({ instance } = await WebAssembly.instantiateStreaming(fetch(config.wasmURL), go.importObject));
  } catch {
    const resp = await fetch(config.wasmURL);
    if (!resp.ok) throw { name: "NetworkError", message: `sockshim: ${config.wasmURL}: HTTP ${resp.status}`, status: "Unknown", accessDenied: false };
    ({ instance } = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject));
  }
  const exited = go.run(instance);
  // What the wasm emitted before it ended goes first.
  const exit = (why) => { if (scheduled) post(); postMessage(["exit", 0, why]); };
  exited.then(() => exit(null), (e) => exit(String(e?.message ?? e)));
  // A wasm that is not sockshim's never hands over: it exits or fails.
  const notSockshim = (why) => ({ name: "NotSupportedError", message: `sockshim: ${config.wasmURL} ${why}: it is not sockshim's ./wasm build`, status: "Unknown", accessDenied: false });
  const gone = exited.then(() => { throw notSockshim("exited without handing over sockshim's API"); },
    (e) => { throw notSockshim(`failed before handing over sockshim's API (${e?.message ?? e})`); });
  gone.catch(() => {}); // seen here when it wins the race; later, the "exit" message tells the page
  let a;
  try {
    a = await Promise.race([ready, gone]);
  } finally {
    delete globalThis[readyName];
  }
  if (typeof a?.configure !== "function") {
    throw { name: "NotSupportedError", message: `sockshim: ${config.wasmURL} is not the build of sockshim's ./wasm that this sockshim-worker.js expects (it handed over no configure function): serve the matching main.wasm`, status: "Unknown", accessDenied: false };
  }
  const err = a.configure({ ...config, worker: true, emit });
  if (err) throw err;
  api = a;
  return a.version;
}

self.onmessage = (e) => {
  const m = e.data;
  switch (m[0]) {
    case "batch":
      run(m[1]);
      return;
    case "init":
      init(m[2]).then((v) => postMessage(["ready", 0, v]), (err) => postMessage(["failed", 0, {
        name: err.name ?? "NetworkError", message: err.message ?? String(err), status: err.status ?? "Unknown", accessDenied: err.accessDenied ?? false,
      }]));
  }
};
postMessage(["hello"]);
