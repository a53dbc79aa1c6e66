// The dedicated Worker behind web/sockshim.js: it runs the wasm (and so the
// WebSocket to the relay) off the page's main thread. Messages are arrays:
// page -> worker ["init", 0, config], ["call", req, op, args],
// ["write", id, ArrayBuffer], ["send", id, ArrayBuffer, host, port],
// ["pull", id, n]; worker -> page ["hello"], ["ready", 0, version],
// ["failed", 0, error], ["result", req, ok, value] and the wasm's events
// [type, id, x, y, z], whose data buffers are transferred, never copied.

let api = null;

function emit(type, id, x, y, z) {
  if (type === "data") postMessage([type, id, x], [x.buffer]);
  else if (type === "dgram") postMessage([type, id, x, y, z], [x.buffer]);
  else postMessage([type, id, x, y, z]);
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
  exited.then(() => postMessage(["exit", 0, null]), (e) => postMessage(["exit", 0, String(e?.message ?? e)]));
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
    case "write":
      api.write(m[1], new Uint8Array(m[2]));
      return;
    case "pull":
      api.pull(m[1], m[2]);
      return;
    case "send":
      api.send(m[1], new Uint8Array(m[2]), m[3], m[4]);
      return;
    case "call":
      api.call(m[2], m[3]).then((v) => postMessage(["result", m[1], true, v]), (err) => postMessage(["result", m[1], false, err]));
      return;
    case "init":
      init(m[2]).then((v) => postMessage(["ready", 0, v]), (err) => postMessage(["failed", 0, {
        name: err.name ?? "NetworkError", message: err.message ?? String(err), status: err.status ?? "Unknown", accessDenied: err.accessDenied ?? false,
      }]));
  }
};
postMessage(["hello"]);
