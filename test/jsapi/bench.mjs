// A quick comparison of the JS API (web/sockshim.js, Worker and in-page)
// with the wisp-js client in the same Chromium, through the same relay to
// the same loopback echo: bulk echo throughput on one stream and 64-byte
// round trips. Chromium is driven over a bare DevTools pipe (no Network
// domain, which would copy every WebSocket frame). Not part of make test;
// `make bench` owns the real table (tools/bench).
//
//   node test/jsapi/bench.mjs [seconds per row, default 3]
//   PROFILE=1 node test/jsapi/bench.mjs   # the page's CPU profile of an in-page bulk row, by self time
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { createServer as tcpServer } from "node:net";
import { once } from "node:events";
import { readFileSync, mkdtempSync } from "node:fs";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "./harness.mjs";

const seconds = Number(process.argv[2] || 3);

// The echo.
const echo = tcpServer((c) => c.pipe(c));
echo.listen(0, "127.0.0.1");
await once(echo, "listening");
const echoPort = echo.address().port;

// The relay, dev policy (loopback allowed for pages on 127.0.0.1).
const relay = spawn(join(root, "bin", "relay"), ["-dev", "-listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
const [line] = await once(createInterface({ input: relay.stdout }), "line");
const relayOrigin = line.match(/listening on (http:\/\/\S+)/)[1];

// The page, on the relay's origin's sibling, with wisp-js's browser module.
const wispClient = readFileSync(join(root, "test", "interop", "node_modules", "@mercuryworkshop", "wisp-js", "dist", "wisp-client.mjs"));
const page = createServer((req, res) => {
  if (req.url === "/wisp-client.mjs") {
    res.writeHead(200, { "Content-Type": "text/javascript" });
    res.end(wispClient);
    return;
  }
  res.writeHead(200, { "Content-Type": "text/html" });
  res.end(`<!doctype html><script type="module">
import { client as wisp } from "/wisp-client.mjs";
globalThis.wisp = wisp;
globalThis.loadSockshim = (o) => import(${JSON.stringify(relayOrigin + "/web/sockshim.js")}).then((m) => m.load(o));
</script>`);
});
page.listen(0, "127.0.0.1");
await once(page, "listening");
const pageURL = `http://127.0.0.1:${page.address().port}/`;

// Chromium over --remote-debugging-pipe: fd 3 to the browser, fd 4 from it.
const chrome = spawn(process.env.CHROMIUM || "/usr/bin/chromium", [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  `--user-data-dir=${mkdtempSync(join(tmpdir(), "sockshim-bench-"))}`, "--remote-debugging-pipe", "about:blank",
], { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] });
let nextId = 0, buf = "";
const waiting = new Map();
chrome.stdio[4].on("data", (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf("\0")) >= 0) {
    const m = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    if (m.id && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    }
  }
});
const cdp = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
  const id = ++nextId;
  waiting.set(id, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result)));
  chrome.stdio[3].write(JSON.stringify({ id, method, params, sessionId }) + "\0");
});
const { targetId } = await cdp("Target.createTarget", { url: pageURL });
const { sessionId } = await cdp("Target.attachToTarget", { targetId, flatten: true });
const evaluate = async (expr) => {
  const r = await cdp("Runtime.evaluate", { expression: expr, awaitPromise: true, returnByValue: true }, sessionId);
  if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description || r.exceptionDetails.text);
  return r.result.value;
};
for (let i = 0; i < 100 && !(await evaluate("!!globalThis.wisp && !!globalThis.loadSockshim")); i++) await new Promise((r) => setTimeout(r, 100));

const relayURL = relayOrigin.replace(/^http/, "ws") + "/wisp/";
const ms = seconds * 1000;
// Each workload: a function source run in the page.
const sockshimBulk = `async ({ worker, port, ms }) => {
  const s = await loadSockshim({ worker, relay: ${JSON.stringify(relayURL)} });
  const t = new s.TCPSocket("127.0.0.1", port);
  const o = await t.opened;
  const w = o.writable.getWriter();
  const r = o.readable.getReader();
  const chunk = new Uint8Array(64 << 10).fill(1);
  let stop = false, sent = 0, got = 0;
  const t0 = performance.now();
  const writing = (async () => { while (!stop) { await w.ready; if (stop) break; w.write(chunk); sent += chunk.length; } })();
  setTimeout(() => { stop = true; }, ms);
  while (!stop || got < sent) { const { value } = await r.read(); got += value.byteLength; }
  const elapsed = performance.now() - t0;
  await writing; await t.close(); s.terminate();
  return { mibps: got / (1 << 20) / (elapsed / 1000) };
}`;
const sockshimRTT = `async ({ worker, port, ms }) => {
  const s = await loadSockshim({ worker, relay: ${JSON.stringify(relayURL)} });
  const t = new s.TCPSocket("127.0.0.1", port);
  const o = await t.opened;
  const w = o.writable.getWriter();
  const r = o.readable.getReader();
  const out = new Uint8Array(64);
  const rtts = [];
  for (let i = 0, end = performance.now() + ms; performance.now() < end; i++) {
    const t0 = performance.now();
    w.write(out);
    let got = 0;
    while (got < 64) got += (await r.read()).value.byteLength;
    if (i >= 50) rtts.push(performance.now() - t0);
  }
  await t.close(); s.terminate();
  rtts.sort((a, b) => a - b);
  return { n: rtts.length, p50: rtts[rtts.length >> 1], p99: rtts[Math.floor(rtts.length * 0.99)] };
}`;
const wispBulk = `async ({ port, ms }) => {
  const conn = new wisp.ClientConnection(${JSON.stringify(relayURL)});
  await new Promise((res, rej) => { conn.onopen = res; conn.onerror = rej; });
  const s = conn.create_stream("127.0.0.1", port);
  const chunk = new Uint8Array(64 << 10).fill(1);
  const window = 16;
  let stop = false, inflight = 0, got = 0, finish;
  const done = new Promise((r) => { finish = r; });
  const pump = () => { while (!stop && inflight < window * chunk.length) { s.send(chunk); inflight += chunk.length; } if (stop && inflight === 0) finish(); };
  s.onmessage = (d) => { got += d.length; inflight -= d.length; pump(); };
  const t0 = performance.now();
  pump();
  setTimeout(() => { stop = true; pump(); }, ms);
  await done;
  const elapsed = performance.now() - t0;
  s.close(); conn.close();
  return { mibps: got / (1 << 20) / (elapsed / 1000) };
}`;
const wispRTT = `async ({ port, ms }) => {
  const conn = new wisp.ClientConnection(${JSON.stringify(relayURL)});
  await new Promise((res, rej) => { conn.onopen = res; conn.onerror = rej; });
  const s = conn.create_stream("127.0.0.1", port);
  let got = 0, wake = null;
  s.onmessage = (d) => { got += d.length; if (got >= 64 && wake) { const w = wake; wake = null; w(); } };
  const out = new Uint8Array(64);
  const rtts = [];
  for (let i = 0, end = performance.now() + ms; performance.now() < end; i++) {
    const t0 = performance.now();
    await new Promise((res) => { got = 0; wake = res; s.send(out); });
    if (i >= 50) rtts.push(performance.now() - t0);
  }
  s.close(); conn.close();
  rtts.sort((a, b) => a - b);
  return { n: rtts.length, p50: rtts[rtts.length >> 1], p99: rtts[Math.floor(rtts.length * 0.99)] };
}`;
const run = (fn, args) => evaluate(`(${fn})(${JSON.stringify(args)})`);
try {
  if (process.env.PROFILE) {
    await cdp("Profiler.enable", {}, sessionId);
    await cdp("Profiler.setSamplingInterval", { interval: 1000 }, sessionId);
    await cdp("Profiler.start", {}, sessionId);
    const b = await run(sockshimBulk, { worker: false, port: echoPort, ms });
    const { profile } = await cdp("Profiler.stop", {}, sessionId);
    const self = new Map();
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const counts = new Map();
    for (const id of profile.samples) counts.set(id, (counts.get(id) || 0) + 1);
    let total = 0;
    for (const [id, c] of counts) { const n = byId.get(id); const k = n.callFrame.functionName || "(anon " + n.callFrame.url.split("/").pop() + ":" + n.callFrame.lineNumber + ")"; self.set(k, (self.get(k) || 0) + c); total += c; }
    console.log("bulk", b.mibps.toFixed(1), "MiB/s; self time top:");
    for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log((100 * c / total).toFixed(1).padStart(5), k);
    process.exit(0);
  }
  const rows = [];
  for (const [name, bulkFn, rttFn, args] of [
    ["wisp-js client", wispBulk, wispRTT, {}],
    ["sockshim JS API (Worker)", sockshimBulk, sockshimRTT, { worker: true }],
    ["sockshim JS API (in-page)", sockshimBulk, sockshimRTT, { worker: false }],
  ]) {
    const b = await run(bulkFn, { ...args, port: echoPort, ms });
    const r = await run(rttFn, { ...args, port: echoPort, ms });
    rows.push({ name, "bulk MiB/s": b.mibps.toFixed(1), "rtt p50 ms": r.p50.toFixed(3), "rtt p99 ms": r.p99.toFixed(3), "round trips": r.n });
  }
  console.table(rows);
} finally {
  chrome.kill();
  relay.kill("SIGTERM");
  page.close();
  echo.close();
}
