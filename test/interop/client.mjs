#!/usr/bin/env node
// Interop probe: the UNMODIFIED wisp-js client (npm @mercuryworkshop/wisp-js,
// pinned in package.json) against a Wisp server, usually sockshim's relay.
//
//   node client.mjs URL HOST PORT [--wisp-version=1|2] [--bytes=N] [--streams=N]
//                                 [--chunk=N] [--expect-close=REASON] [--timeout-ms=N]
//
// Echo mode (default): opens --streams TCP streams to HOST:PORT (an echo
// server), sends --bytes on each in chunks of varied sizes (one of them
// larger than 64 KiB, and far more packets than the server's initial CONTINUE
// credit, so the client must wait for CONTINUE), reads the echo back and
// compares every byte.
//
// --expect-close=REASON: opens one stream and expects the server to close it
// with that CLOSE reason (e.g. 0x48) before any data arrives.
//
// Prints one JSON line on stdout and exits 0 on success, 1 on failure.
// wisp-js talks to the network through the `ws` package on Node (see its
// src/compat.mjs), so no --experimental-websocket flag is needed.

import { client } from "@mercuryworkshop/wisp-js/client";

function usage(msg) {
  console.error(`client.mjs: ${msg}`);
  console.error("usage: node client.mjs URL HOST PORT [--wisp-version=1|2] [--bytes=N] [--streams=N] [--chunk=N] [--expect-close=REASON] [--timeout-ms=N]");
  process.exit(2);
}

const positional = [];
const flags = { "wisp-version": "2", bytes: String(1 << 20), streams: "1", chunk: "0", "expect-close": "", "timeout-ms": "30000" };
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
const wispVersion = Number(flags["wisp-version"]);
const total = Number(flags.bytes);
const nStreams = Number(flags.streams);
const fixedChunk = Number(flags.chunk);
const expectClose = flags["expect-close"] === "" ? null : Number(flags["expect-close"]);
const timeoutMs = Number(flags["timeout-ms"]);
if (!Number.isInteger(port) || port < 1 || port > 65535) usage(`bad port ${portStr}`);
if (wispVersion !== 1 && wispVersion !== 2) usage("--wisp-version must be 1 or 2");
if (!Number.isInteger(total) || total < 1) usage("--bytes must be a positive integer");
if (!Number.isInteger(nStreams) || nStreams < 1) usage("--streams must be a positive integer");
if (!Number.isInteger(fixedChunk) || fixedChunk < 0) usage("--chunk must be a non-negative integer");
if (expectClose !== null && !Number.isInteger(expectClose)) usage("bad --expect-close");

const result = {
  ok: false,
  url,
  requested_version: wispVersion,
  negotiated_version: null,
  streams: [],
  warnings: [],
  error: null,
};

let finished = false;
function finish(ok, error) {
  if (finished) return;
  finished = true;
  result.ok = ok && result.warnings.length === 0;
  if (ok && result.warnings.length > 0) error = `wisp-js printed warnings: ${result.warnings.join("; ")}`;
  result.error = error || null;
  process.stdout.write(JSON.stringify(result) + "\n");
  try { conn?.close(); } catch {}
  // Exit explicitly: the WebSocket may linger in its closing handshake.
  process.exitCode = result.ok ? 0 : 1;
  setTimeout(() => process.exit(process.exitCode), 50);
}

// wisp-js reports protocol anomalies (packets for unknown streams, invalid
// packet types, short packets) with console.warn: any of them fails the run.
let closingDown = false;
const origWarn = console.warn;
console.warn = (...args) => {
  if (!closingDown) result.warnings.push(args.map(String).join(" "));
  origWarn(...args);
};

setTimeout(() => finish(false, `timed out after ${timeoutMs} ms`), timeoutMs).unref();

// Deterministic payload: a xorshift32 byte stream, different per stream.
function payload(n, seed) {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

// Chunk sizes: a few edge sizes, one chunk > 64 KiB (96 KiB), then many small
// chunks, so the stream needs several CONTINUE grants (credit is counted in
// packets). Chunks stay <= 128 KiB, one DATA packet each. --chunk=N sends
// fixed N-byte chunks instead.
function chunkSizes(n) {
  if (fixedChunk > 0) {
    const sizes = [];
    for (let left = n; left > 0; left -= fixedChunk) sizes.push(Math.min(fixedChunk, left));
    return sizes;
  }
  const fixed = [1, 7, 1000, 96 * 1024, 65536];
  const sizes = [];
  let left = n;
  let i = 0;
  let r = 12345;
  while (left > 0) {
    let s;
    if (i < fixed.length) s = fixed[i];
    else {
      r = (r * 1103515245 + 12345) & 0x7fffffff;
      s = 512 + (r % 7680); // 512 .. 8191
    }
    s = Math.min(s, left);
    sizes.push(s);
    left -= s;
    i++;
  }
  return sizes;
}

let conn;
try {
  conn = new client.ClientConnection(url, { wisp_version: wispVersion });
} catch (e) {
  finish(false, `ClientConnection: ${e}`);
}

conn.onerror = () => finish(false, "websocket error");
conn.onclose = () => {
  if (!finished) finish(false, "websocket closed before the test finished");
};

conn.onopen = () => {
  result.negotiated_version = conn.wisp_version;
  result.initial_credit = conn.max_buffer_size;
  if (wispVersion === 2 && (!conn.info_received || conn.wisp_version !== 2)) {
    finish(false, `asked for Wisp v2 but the session is v${conn.wisp_version} (INFO received: ${conn.info_received})`);
    return;
  }
  if (wispVersion === 1 && conn.wisp_version !== 1) {
    finish(false, `asked for Wisp v1 but the session is v${conn.wisp_version}`);
    return;
  }
  if (expectClose !== null) runExpectClose();
  else runEcho();
};

function runExpectClose() {
  const stream = conn.create_stream(host, port);
  const st = { id: stream.stream_id, received: 0, close_reason: null };
  result.streams.push(st);
  stream.onmessage = (data) => { st.received += data.length; };
  stream.onclose = (reason) => {
    st.close_reason = reason;
    if (reason === expectClose && st.received === 0) finish(true);
    else finish(false, `stream closed with reason 0x${reason.toString(16)} after ${st.received} bytes, want 0x${expectClose.toString(16)} before any data`);
  };
  // Data sent before the server's answer must not change the outcome.
  stream.send(new TextEncoder().encode("hello?"));
}

function runEcho() {
  let remaining = nStreams;
  for (let k = 0; k < nStreams; k++) {
    const want = payload(total, k + 1);
    const stream = conn.create_stream(host, port);
    const st = { id: stream.stream_id, sent: 0, received: 0, packets_sent: 0, packets_received: 0, close_reason: null };
    result.streams.push(st);
    let done = false;

    stream.onmessage = (data) => {
      if (done) return;
      st.packets_received++;
      if (st.received + data.length > total) {
        finish(false, `stream ${st.id}: echo longer than sent (${st.received + data.length} > ${total})`);
        return;
      }
      for (let i = 0; i < data.length; i++) {
        if (data[i] !== want[st.received + i]) {
          finish(false, `stream ${st.id}: byte ${st.received + i} differs (got ${data[i]}, want ${want[st.received + i]})`);
          return;
        }
      }
      st.received += data.length;
      if (st.received === total) {
        done = true;
        closingDown = remaining === 1;
        stream.close(0x02);
        if (--remaining === 0) finish(true);
      }
    };
    stream.onclose = (reason) => {
      st.close_reason = reason;
      if (!done) finish(false, `stream ${st.id} closed by the server with reason 0x${reason.toString(16)} after ${st.received} of ${total} bytes`);
    };

    let off = 0;
    for (const size of chunkSizes(total)) {
      stream.send(want.subarray(off, off + size));
      off += size;
      st.packets_sent++;
    }
    st.sent = off;
  }
}
