// The demo page, built on sockshim's Direct Sockets API (sockshim.js): the
// sockets run in a dedicated Worker; the low-latency UDPSocket also runs in
// an in-page instance, since only the page has RTCPeerConnection. The
// table charts each socket's throughput (from socket.info()) and its echo
// round trip (timed here, ping to echo through the relay).
import { load } from "./sockshim.js";

const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const dec = new TextDecoder();

function logTo(el, line, cls = "") {
  const div = document.createElement("div");
  div.textContent = line;
  if (cls) div.className = cls;
  el.appendChild(div);
  el.scrollTop = el.scrollHeight;
}
const log = (line, cls) => logTo($("out"), line, cls);

const split = (addr) => [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];

// ---- the live table

const HISTORY = 60;

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function sparkline(canvas, values, color) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.fillStyle = "#f8f9fb";
  g.fillRect(0, 0, w, h);
  if (values.length < 2) return;
  const max = Math.max(...values, 1e-9);
  const x = (i) => (i + HISTORY - values.length) * (w / (HISTORY - 1));
  const y = (v) => h - 2 - (v / max) * (h - 4);
  g.beginPath();
  values.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
  g.strokeStyle = color;
  g.lineWidth = 1.5;
  g.stroke();
  g.lineTo(x(values.length - 1), h);
  g.lineTo(x(0), h);
  g.closePath();
  g.globalAlpha = 0.12;
  g.fillStyle = color;
  g.fill();
  g.globalAlpha = 1;
}

const rows = [];

class Row {
  constructor(name, socket, kind, where) {
    this.socket = socket;
    this.kind = kind; // "tcp", "udp", "server"
    this.rates = [];
    this.rtts = [];
    this.last = null;
    const tr = document.createElement("tr");
    tr.innerHTML = `<td><b></b><br><span class="note"></span></td><td></td><td></td><td></td>
      <td class="metric"></td><td><canvas width="150" height="30" style="width:150px;height:30px"></canvas><span class="metric"></span></td>
      <td><canvas width="150" height="30" style="width:150px;height:30px"></canvas><span class="metric"></span></td>`;
    const td = tr.children;
    td[0].firstChild.textContent = name;
    td[0].lastChild.textContent = { tcp: "TCPSocket", udp: "UDPSocket", server: "TCPServerSocket" }[kind];
    td[1].textContent = where;
    this.td = td;
    this.setTransport(kind === "server" ? "listener" : "websocket");
    this.setState("opening");
    $("sockets").tBodies[0].appendChild(tr);
    rows.push(this);
  }
  setTransport(t, reason) {
    const cell = this.td[2];
    if (cell.dataset.t === t && cell.dataset.r === (reason || "")) return;
    cell.dataset.t = t;
    cell.dataset.r = reason || "";
    cell.innerHTML = `<span class="badge ${t}"></span>`;
    cell.firstChild.textContent = t === "listener" ? "relay listener" : t === "datachannel" ? "WebRTC data channel" : "WebSocket";
    if (reason) {
      const r = document.createElement("span");
      r.className = "reason";
      r.textContent = reason.replace(/^lowLatency: /, "");
      cell.appendChild(r);
    }
  }
  setState(s) {
    this.state = s;
    this.td[3].innerHTML = `<span class="state-${s === "open" || s === "listening" ? "open" : s === "opening" || s === "closed" ? "closed" : "error"}"></span>`;
    this.td[3].firstChild.textContent = s;
  }
  rtt(ms) {
    this.rtts.push(ms);
    if (this.rtts.length > HISTORY) this.rtts.shift();
  }
  async sample(now) {
    if (this.state !== "open" && this.state !== "listening") return;
    let info;
    try {
      info = await this.socket.info();
    } catch {
      return;
    }
    if (this.kind === "udp") this.setTransport(info.transport, info.transportReason);
    if (this.kind === "server") {
      this.td[4].textContent = `${info.localAddress}:${info.localPort}`;
      return;
    }
    const sent = this.kind === "tcp" ? info.bytesSent : info.datagramsSent;
    const recv = this.kind === "tcp" ? info.bytesReceived : info.datagramsReceived;
    this.td[4].textContent = this.kind === "tcp" ? `${fmtBytes(sent)} / ${fmtBytes(recv)}` : `${sent} / ${recv} datagrams`;
    // TCP: info().bandwidthStatistics (since the previous info()); UDP: datagrams per second.
    let rate = null;
    if (this.kind === "tcp") {
      const bw = info.bandwidthStatistics;
      rate = (bw.inboundBitsPerSecond + bw.outboundBitsPerSecond) / 8;
      // Where the round trip goes: tab to relay, relay to server (info(), in µs).
      const tun = info.tunnelRoundTripTimeStatistics, conn = info.roundTripTimeStatistics;
      this.split = tun && conn ? `tab ⇄ relay ${(tun.sum / 1000).toFixed(2)} ms · relay ⇄ server ${(conn.sum / 1000).toFixed(2)} ms (info())` : "";
    } else if (this.last) {
      rate = (sent + recv - this.last.n) / ((now - this.last.t) / 1000);
    }
    if (rate !== null) {
      this.rates.push(rate);
      if (this.rates.length > HISTORY) this.rates.shift();
    }
    this.last = { n: sent + recv, t: now };
  }
  draw() {
    const [tc, tl] = this.td[5].children;
    const [rc, rl] = this.td[6].children;
    if (this.kind === "server") return;
    sparkline(tc, this.rates, "#2f6fde");
    sparkline(rc, this.rtts, "#c2410c");
    const r = this.rates.at(-1);
    const rate = (v) => (this.kind === "tcp" ? `${fmtBytes(Math.round(v))}/s` : `${v.toFixed(1)}/s`);
    const peak = Math.max(...this.rates);
    tl.textContent = r === undefined ? "" : ` ${rate(r)}${peak > r * 1.5 ? ` · peak ${rate(peak)}` : ""}`;
    const t = this.rtts.at(-1);
    rl.textContent = t === undefined ? "" : ` ${t.toFixed(1)} ms`;
    rl.title = this.split || "";
  }
}

setInterval(async () => {
  const now = performance.now();
  await Promise.all(rows.map((r) => r.sample(now)));
  for (const r of rows) r.draw();
}, 500);

// ---- an echo client over one TCPSocket: writes in order, matches what
// comes back to what was sent, and times each round trip.

class Echo {
  constructor(opened) {
    this.writer = opened.writable.getWriter();
    this.reader = opened.readable.getReader();
    this.pending = [];
    this.done = this.#loop();
  }
  async #loop() {
    for (;;) {
      const { value, done } = await this.reader.read();
      if (done) return;
      let off = 0;
      while (off < value.length && this.pending.length) {
        const p = this.pending[0];
        const take = Math.min(p.left, value.length - off);
        if (p.keep) p.chunks.push(value.slice(off, off + take));
        p.left -= take;
        off += take;
        if (p.left === 0) {
          this.pending.shift();
          p.resolve({ ms: performance.now() - p.t0, text: p.keep ? dec.decode(concat(p.chunks)) : "" });
        }
      }
    }
  }
  // send writes bytes and resolves when all of them are back.
  async send(bytes, keep = true) {
    await this.writer.ready;
    const back = new Promise((resolve) => {
      this.pending.push({ left: bytes.length, t0: performance.now(), keep, chunks: [], resolve });
    });
    this.writer.write(bytes);
    return back;
  }
}

function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.length; }
  return out;
}

// ---- the demos

async function echoDemo(sockshim, cfg) {
  const [host, port] = split(cfg.echo);
  log(`new TCPSocket("${host}", ${port}) through ${sockshim.relay} …`);
  const s = new sockshim.TCPSocket(host, port);
  const row = new Row("echo", s, "tcp", "Worker");
  const o = await s.opened;
  row.setState("open");
  log(`opened: relay ${o.localAddress}:${o.localPort} -> ${o.remoteAddress}:${o.remotePort}`);
  const echo = new Echo(o);
  const msg = "hello from a browser tab via sockshim";
  const { text, ms } = await echo.send(enc.encode(msg));
  log(`echo: ${text} (${ms.toFixed(1)} ms)`, text === msg ? "ok" : "err");
  row.rtt(ms);

  $("sendform").addEventListener("submit", async (e) => {
    e.preventDefault();
    const t = $("sendtext").value;
    if (!t) return;
    const r = await echo.send(enc.encode(t));
    log(`you sent ${JSON.stringify(t)}; echo: ${JSON.stringify(r.text)} (${r.ms.toFixed(1)} ms)`, r.text === t ? "ok" : "err");
  });
  $("bulk").addEventListener("click", () => bulk(echo, 32 << 20));
  setInterval(async () => { row.rtt((await echo.send(enc.encode("ping"), false)).ms); }, 500);
  await bulk(echo, 8 << 20);
  return text === msg;
}

async function bulk(echo, total) {
  const chunk = new Uint8Array(64 << 10).fill(0x61);
  const t0 = performance.now();
  const backs = [];
  for (let sent = 0; sent < total; sent += chunk.length) backs.push(echo.send(chunk, false));
  await Promise.all(backs);
  const s = (performance.now() - t0) / 1000;
  log(`bulk: ${fmtBytes(total)} there and back in ${s.toFixed(2)} s (${fmtBytes(Math.round((2 * total) / s))}/s both ways)`, "note");
}

async function tlsDemo(sockshim, cfg) {
  const el = $("tls");
  const [host, port] = split(cfg.tls);
  logTo(el, `new TCPSocket("${host}", ${port}, { secureTransport: "on", caPEM }) …`);
  const t = new sockshim.TCPSocket(host, port, { secureTransport: "on", caPEM: cfg.tlsCA });
  const row = new Row("https-style", t, "tcp", "Worker");
  const o = await t.opened;
  row.setState("open");
  const info = await t.info();
  logTo(el, `negotiated ${info.protectionLevel}; server certificate: ${info.serverCertificate}`);
  const w = o.writable.getWriter();
  const t0 = performance.now();
  await w.write(enc.encode("GET /hello HTTP/1.0\r\nHost: localhost\r\n\r\n"));
  let resp = "";
  const r = o.readable.getReader();
  for (;;) {
    const { value, done } = await r.read();
    if (done) break;
    resp += dec.decode(value);
  }
  row.rtt(performance.now() - t0);
  await row.sample(performance.now());
  await t.close();
  row.setState("closed");
  row.draw();
  const ok = resp.startsWith("HTTP/1.0 200") && resp.includes("hello over TLS");
  logTo(el, resp.split("\r\n\r\n")[1] || resp, ok ? "ok" : "err");
  return ok;
}

async function udpPinger(socket, row) {
  const o = await socket.opened;
  row.setState("open");
  const w = o.writable.getWriter();
  const r = o.readable.getReader();
  return {
    async round(text) {
      const t0 = performance.now();
      await w.write({ data: enc.encode(text) });
      const { value } = await r.read();
      row.rtt(performance.now() - t0);
      return dec.decode(value.data);
    },
  };
}

async function datagramDemo(sockshim, addr) {
  const el = $("datagram");
  const [host, port] = split(addr);
  // RTCPeerConnection exists only on the page, not in a Worker: the
  // low-latency socket runs on an in-page instance.
  const inPage = await load({ worker: false });
  logTo(el, `new UDPSocket({ remoteAddress: "${host}", remotePort: ${port}, lowLatency: true }) on an in-page instance …`);
  const d = new inPage.UDPSocket({ remoteAddress: host, remotePort: port, lowLatency: true });
  const row = new Row("udp echo", d, "udp", "page");
  const p = await udpPinger(d, row);
  let ok = true;
  const rounds = async (from, label) => {
    for (let i = from; i < from + 3; i++) {
      const msg = `datagram ${i} from the tab`;
      const got = await p.round(msg);
      logTo(el, `echo: ${got} ${label}`, got === msg ? "ok" : "err");
      ok = ok && got === msg;
    }
  };
  await rounds(1, "");
  // The data channel opens in the background; later datagrams take it.
  await new Promise((r) => setTimeout(r, 2000));
  await rounds(4, "(after the data channel had time to open)");
  setInterval(() => p.round("ping").catch(() => {}), 500);

  // The same in the Worker: no RTCPeerConnection there, and it says so.
  const wd = new sockshim.UDPSocket({ remoteAddress: host, remotePort: port, lowLatency: true });
  const wrow = new Row("udp echo", wd, "udp", "Worker");
  const wp = await udpPinger(wd, wrow);
  await wp.round("first");
  const winfo = await wd.info();
  logTo(el, `Worker UDPSocket: ${winfo.transport}; ${winfo.transportReason ?? ""}`, "note");
  setInterval(() => wp.round("ping").catch(() => {}), 500);
  return ok;
}

// A TCPServerSocket: the relay listens on its loopback for this tab, and
// every connection (curl, nc, a browser) is answered from here.
async function listenDemo(sockshim) {
  const el = $("listener");
  const server = new sockshim.TCPServerSocket("127.0.0.1");
  const row = new Row("listener", server, "server", "Worker");
  const l = await server.opened;
  row.setState("listening");
  document.body.dataset.listenPort = l.localPort;
  logTo(el, `listening through the relay at ${l.localAddress}:${l.localPort}; try:`);
  logTo(el, `curl http://${l.localAddress.includes(":") ? `[${l.localAddress}]` : l.localAddress}:${l.localPort}/`, "ok");
  let n = 0;
  for await (const s of l.readable) {
    const id = ++n;
    serve(s, id, el).catch((e) => logTo(el, `connection #${id}: ${e.message}`, "err"));
  }
}

async function serve(s, id, el) {
  const so = await s.opened;
  const row = new Row(`connection #${id}`, s, "tcp", "Worker");
  row.setState("open");
  let req = "";
  const r = so.readable.getReader();
  while (!req.includes("\r\n\r\n") && !req.includes("\n\n")) {
    const { value, done } = await r.read();
    if (done) break;
    req += dec.decode(value);
  }
  logTo(el, `connection #${id} from ${so.remoteAddress}:${so.remotePort}: ${req.split("\n")[0].trim()}`);
  const body = `hello from a browser tab (connection #${id})\n`;
  const w = so.writable.getWriter();
  await w.write(enc.encode(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
  await w.close(); // FIN: the answer is complete
  await row.sample(performance.now());
  // The client closes once it has the answer; with both directions ended
  // the socket is closed, and close() returns s.closed (the Direct Sockets
  // spec: no error for a socket the peer closed first). A client that
  // keeps its side open is closed from here after 5 s.
  await Promise.race([s.closed, new Promise((r) => setTimeout(r, 5000))]).catch(() => {});
  await s.close();
  row.setState("closed");
}

// The socket broker: a TCPServerSocket is handed to the relay and its
// object closed, as a tab that goes away would; requests to the port (this
// page's own fetch, and your curl) are accepted and held by the relay while
// nobody in the tab listens; "Reclaim" (or 30 s) takes listener and
// connections back from allSockets() and answers the held requests.
async function brokerDemo(sockshim) {
  const el = $("broker");
  const server = new sockshim.TCPServerSocket("127.0.0.1");
  const { localAddress, localPort } = await server.opened;
  const url = `http://${localAddress}:${localPort}/`;
  await server.transferOwnership("demo-web", { context: "the broker card", taskId: "demo" });
  await server.closed;
  logTo(el, `listener ${localAddress}:${localPort} transferred to the relay's broker; its object is closed`);
  logTo(el, `try: curl ${url}held (it waits for the reclaim)`, "ok");
  document.body.dataset.brokerPort = localPort;
  // The page's own request, to a port nobody in the tab listens on.
  const answered = fetch(`${url}from-the-tab-while-held`, { mode: "no-cors" }).catch(() => {});
  const button = $("reclaim");
  button.disabled = false;
  const clicked = new Promise((resolve) => button.addEventListener("click", resolve, { once: true }));
  const deadline = performance.now() + 30000;
  let done = false;
  clicked.then(() => { done = true; });
  let held = [];
  while (!done && performance.now() < deadline) {
    held = (await sockshim.allSockets()).filter((h) => h.id.startsWith("demo-web"));
    const conns = held.filter((h) => h.kind === "TCPSocket");
    $("brokerheld").textContent = `the relay holds the listener and ${conns.length} connection${conns.length === 1 ? "" : "s"} (${conns.reduce((n, h) => n + h.buffered, 0)} bytes)`;
    await Promise.race([clicked, new Promise((r) => setTimeout(r, 500))]);
  }
  button.disabled = true;
  held = (await sockshim.allSockets()).filter((h) => h.id.startsWith("demo-web"));
  for (const h of held) logTo(el, `allSockets(): ${h.id} ${h.kind} ${h.reason}, ${h.buffered} bytes held, context "${dec.decode(h.context)}"`);
  // answer reads one HTTP request from s and answers it with body.
  const answer = async (s, label, body) => {
    const so = await s.opened;
    const r = so.readable.getReader();
    let req = "";
    while (!req.includes("\r\n\r\n")) {
      const { value, done } = await r.read();
      if (done) break;
      req += dec.decode(value);
    }
    logTo(el, `${label}: ${req.split("\r\n")[0] || "(no request)"}`, "ok");
    const w = so.writable.getWriter();
    await w.write(enc.encode(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
    await w.close();
    await s.close().catch(() => {}); // the client may have closed it first
    return req !== "";
  };
  let requests = 0;
  for (const h of held.filter((h) => h.kind === "TCPSocket")) {
    if (await answer(await h.reclaim(), `reclaimed ${h.id}, the request that waited`, "answered after the reclaim\n")) requests++;
  }
  await answered;
  const ln = held.find((h) => h.id === "demo-web");
  if (!ln) throw new Error("the broker lists no demo-web listener");
  const back = await ln.reclaim();
  const bo = await back.opened;
  $("brokerheld").textContent = `reclaimed: the tab listens on port ${bo.localPort} again`;
  logTo(el, `reclaimed the listener, again on port ${bo.localPort}; curl ${url} now`, "ok");
  document.body.dataset.broker = requests > 0 ? "ok" : "no-request";
  let n = 0;
  for await (const s of bo.readable) {
    const label = `connection ${++n} to the reclaimed listener`;
    answer(s, label, `hello from the reclaimed listener (${label})\n`).catch((e) => logTo(el, e.message, "err"));
  }
}

// Go's net/http in the wasm, through shim.Dialer: a real TCP connection
// through the relay, not the browser's fetch. The form takes any http URL
// the app's policy admits; a server that is not there says so.
function httpDemo(sockshim, cfg) {
  const el = $("http");
  const get = async (url) => {
    logTo(el, `GET ${url}`);
    try {
      const r = await sockshim.httpGet(url);
      logTo(el, `${r.proto} ${r.statusText} (${r.contentType || "no Content-Type"}): ${r.body.trim().slice(0, 200)}`, r.status < 400 ? "ok" : "err");
      return r;
    } catch (e) {
      const why = e.status === "ConnectionRefused" ? "nothing is listening there" : e.status === "HostNotFound" ? "no such host" : e.message;
      logTo(el, `${e.name}${e.status ? ` (${e.status})` : ""}: ${why}`, "err");
      return null;
    }
  };
  $("httpurl").value = `http://${cfg.http}/from-the-tab`;
  $("httpform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    get($("httpurl").value);
  });
  return get($("httpurl").value);
}

async function demo() {
  const cfg = await (await fetch("/demo.json")).json();
  if (!cfg.echo) {
    log("No demo echo service: start the relay with -dev (make run).", "err");
    return;
  }
  const sockshim = await load();
  $("mode").textContent = sockshim.worker ? "wasm in a dedicated Worker" : "wasm in the page";
  $("relay").textContent = `relay ${sockshim.relay}`;
  const echoOK = await echoDemo(sockshim, cfg);
  const tlsOK = cfg.tls ? await tlsDemo(sockshim, cfg) : true;
  const dgramOK = cfg.udpEcho ? await datagramDemo(sockshim, cfg.udpEcho) : true;
  const httpOK = cfg.http ? (await httpDemo(sockshim, cfg))?.status === 200 : true;
  document.body.dataset.demo = echoOK && tlsOK && dgramOK && httpOK ? "ok" : "mismatch";
  brokerDemo(sockshim).catch((e) => {
    logTo($("broker"), `error: ${e.message}${e.status ? ` (status ${e.status})` : ""}`, "err");
    document.body.dataset.broker = "error";
  });
  await listenDemo(sockshim);
}

demo().catch((e) => {
  log(`error: ${e.message}${e.status ? ` (status ${e.status})` : ""}`, "err");
  document.body.dataset.demo = "error";
});
