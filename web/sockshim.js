// sockshim for JavaScript: loads the wasm build and returns its API.
//
//   import { load } from "/web/sockshim.js";
//   const sockshim = await load();
//   const s = await sockshim.connectStream("example.com", "http");
//   await s.write("GET / HTTP/1.0\r\n\r\n");
//   const chunk = await s.read();   // Uint8Array, or null at end of stream
//   await s.close();
//
// Errors are Error objects with .status (a WinRT SocketErrorStatus name)
// and .accessDenied (the app's capabilities do not allow the destination).
// Requires web/wasm_exec.js (Go's) to be loaded first.
export async function load(wasmURL = "/web/main.wasm") {
  if (globalThis.sockshim) return globalThis.sockshim;
  const ready = new Promise((resolve) => { globalThis.__sockshimReady = resolve; });
  const go = new Go();
  const resp = fetch(wasmURL);
  const { instance } = await WebAssembly.instantiateStreaming(resp, go.importObject);
  go.run(instance);
  return ready;
}
