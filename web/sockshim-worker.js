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
  const readyName = "__sockshimReady";
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
  go.run(instance).then(() => postMessage(["exit", 0, null]), (e) => postMessage(["exit", 0, String(e?.message ?? e)]));
  const a = await ready;
  delete globalThis[readyName];
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
