#!/usr/bin/env node
// Interop probe: the UNMODIFIED wisp-js client's UDP (Wisp stream type 0x02)
// against a Wisp server, usually sockshim's relay.
//
//   node udp.mjs URL HOST PORT [--count=N] [--timeout-ms=N]
//
// Opens one UDP stream to HOST:PORT (a UDP echo server), sends --count
// datagrams of distinct sizes (4 bytes to 60000 bytes) in bursts of four,
// and checks that each comes back whole: one message per datagram, never merged or split. UDP may
// lose datagrams, but not on loopback: every one must come back.
//
// Prints one JSON line on stdout and exits 0 on success, 1 on failure.

import { client } from "@mercuryworkshop/wisp-js/client";

function usage(msg) {
  console.error(`udp.mjs: ${msg}`);
  console.error("usage: node udp.mjs URL HOST PORT [--count=N] [--timeout-ms=N]");
  process.exit(2);
}

const positional = [];
const flags = { count: "50", "timeout-ms": "30000" };
for (const arg of process.argv.slice(2)) {
  const m = /^--([a-z-]+)=(.*)$/.exec(arg);
  if (m) {
    if (!(m[1] in flags)) usage(`unknown flag --${m[1]}`);
    flags[m[1]] = m[2];
  } else {
    positional.push(arg);
  }
}
if (positional.length !== 3) usage("want URL HOST PORT");
const [url, host, portStr] = positional;
const port = Number(portStr);
const count = Number(flags.count);
if (!Number.isInteger(port) || port < 1 || port > 65535) usage(`bad port ${portStr}`);
if (!Number.isInteger(count) || count < 1) usage("--count must be a positive integer");

const result = { ok: false, url, udp_enabled: null, sent: 0, received: 0, warnings: [], error: null };
let finished = false;
let conn;
function finish(ok, error) {
  if (finished) return;
  finished = true;
  result.ok = ok && result.warnings.length === 0;
  if (ok && result.warnings.length > 0) error = `wisp-js printed warnings: ${result.warnings.join("; ")}`;
  result.error = error || null;
  process.stdout.write(JSON.stringify(result) + "\n");
  try { conn?.close(); } catch {}
  process.exitCode = result.ok ? 0 : 1;
  setTimeout(() => process.exit(process.exitCode), 50);
}
const origWarn = console.warn;
console.warn = (...args) => { if (!finished) result.warnings.push(args.map(String).join(" ")); origWarn(...args); };
setTimeout(() => finish(false, `timed out after ${Number(flags["timeout-ms"])} ms (${result.received}/${count} back)`), Number(flags["timeout-ms"])).unref();

// Datagram i: a 4-byte index, then bytes derived from i; its size is unique.
function size(i) { return i === 0 ? 4 : Math.min(4 + i * 1201, 60000 - i); }
function datagram(i) {
  const b = new Uint8Array(size(i));
  new DataView(b.buffer).setUint32(0, i, true);
  for (let k = 4; k < b.length; k++) b[k] = (i * 31 + k) & 0xff;
  return b;
}

try {
  conn = new client.ClientConnection(url, { wisp_version: 2 });
} catch (e) {
  finish(false, `ClientConnection: ${e}`);
}
conn.onerror = () => finish(false, "websocket error");
conn.onclose = () => finish(false, "websocket closed before the test finished");
conn.onopen = () => {
  result.udp_enabled = conn.udp_enabled;
  let stream;
  try {
    stream = conn.create_stream(host, port, "udp");
  } catch (e) {
    finish(false, `create_stream udp: ${e}`);
    return;
  }
  const seen = new Set();
  stream.onmessage = (data) => {
    if (data.length < 4) { finish(false, `a ${data.length}-byte message: split`); return; }
    const i = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true);
    const want = i < count ? datagram(i) : null;
    if (!want || want.length !== data.length || want.some((v, k) => v !== data[k])) {
      finish(false, `message claiming index ${i}: ${data.length} bytes, want ${want ? want.length : "none"}: merged or split`);
      return;
    }
    if (seen.has(i)) { finish(false, `datagram ${i} came back twice`); return; }
    seen.add(i);
    result.received = seen.size;
    if (seen.size === count) finish(true);
    else if (i === result.sent - 1) sendBurst();
  };
  stream.onclose = (reason) => finish(false, `stream closed with reason 0x${reason.toString(16)}`);
  // Small bursts, each after the last one's echo: several datagrams in
  // flight at once, yet never more than loopback socket buffers hold.
  function sendBurst() {
    for (let k = 0; k < 4 && result.sent < count; k++) {
      stream.send(datagram(result.sent));
      result.sent++;
    }
  }
  sendBurst();
};
