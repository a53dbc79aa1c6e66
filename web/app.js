// The demo: a StreamSocket from this tab, through the relay that served the
// page, to a real TCP echo service on the relay's loopback.
import { load } from "./sockshim.js";

const out = document.getElementById("out");
const log = (line, cls = "") => {
  const div = document.createElement("div");
  div.textContent = line;
  if (cls) div.className = cls;
  out.appendChild(div);
};

async function demo() {
  const cfg = await (await fetch("/demo.json")).json();
  if (!cfg.echo) {
    log("No demo echo service: start the relay with -dev (make run).", "err");
    return;
  }
  const [host, port] = [cfg.echo.slice(0, cfg.echo.lastIndexOf(":")), cfg.echo.slice(cfg.echo.lastIndexOf(":") + 1)];
  const sockshim = await load();
  log(`StreamSocket.Connect(${host}, ${port}) through ${location.origin}/wisp/ ...`);
  const s = new sockshim.TCPSocket(host, Number(port));
  const so = await s.opened;
  log(`connected: relay ${so.localAddress}:${so.localPort} -> ${so.remoteAddress}:${so.remotePort}`);
  const msg = "hello from a browser tab via sockshim";
  await so.writable.getWriter().write(new TextEncoder().encode(msg));
  let got = "";
  const dec = new TextDecoder();
  const sr = so.readable.getReader();
  while (got.length < msg.length) {
    const { value, done } = await sr.read();
    if (done) break;
    got += dec.decode(value);
  }
  log(`echo: ${got}`, got === msg ? "ok" : "err");
  await s.close();
  const echoOK = got === msg;

  // HTTPS-style: TLS runs in this tab (Go crypto/tls in wasm); the relay
  // forwards ciphertext only.
  let tlsOK = true;
  if (cfg.tls) {
    const [th, tp] = [cfg.tls.slice(0, cfg.tls.lastIndexOf(":")), cfg.tls.slice(cfg.tls.lastIndexOf(":") + 1)];
    const tout = document.getElementById("tls");
    const tlog = (line, cls = "") => {
      const div = document.createElement("div");
      div.textContent = line;
      if (cls) div.className = cls;
      tout.appendChild(div);
    };
    tlog(`StreamSocket.ConnectWithProtectionLevel(${th}, ${tp}, Ssl) ...`);
    const t = new sockshim.TCPSocket(th, Number(tp), { secureTransport: "on", caPEM: cfg.tlsCA });
    const to = await t.opened;
    const ti = await t.info();
    tlog(`negotiated ${ti.protectionLevel}; server certificate: ${ti.serverCertificate}`);
    await to.writable.getWriter().write(new TextEncoder().encode("GET /hello HTTP/1.0\r\nHost: localhost\r\n\r\n"));
    let resp = "";
    const tr = to.readable.getReader();
    for (;;) {
      const { value, done } = await tr.read();
      if (done) break;
      resp += dec.decode(value);
    }
    await t.close();
    tlsOK = resp.startsWith("HTTP/1.0 200") && resp.includes("hello over TLS");
    tlog(resp.split("\r\n\r\n")[1] || resp, tlsOK ? "ok" : "err");
  }
  const dgramOK = cfg.udpEcho ? await datagramDemo(sockshim, cfg.udpEcho) : true;
  document.body.dataset.demo = echoOK && tlsOK && dgramOK ? "ok" : "mismatch";
  await listenDemo(sockshim);
}

// A DatagramSocket with QualityOfService LowLatency: a WebRTC data channel
// when the relay and browser can connect one, else the WebSocket, unnoticed.
async function datagramDemo(sockshim, addr) {
  const dout = document.getElementById("datagram");
  const dlog = (line, cls = "") => {
    const div = document.createElement("div");
    div.textContent = line;
    if (cls) div.className = cls;
    dout.appendChild(div);
  };
  const [h, p] = [addr.slice(0, addr.lastIndexOf(":")), addr.slice(addr.lastIndexOf(":") + 1)];
  dlog(`DatagramSocket.Connect(${h}, ${p}), LowLatency ...`);
  // RTCPeerConnection exists only on the page, not in a Worker: this
  // demo uses an in-page instance.
  const inPage = await load({ worker: false });
  const d = new inPage.UDPSocket({ remoteAddress: h, remotePort: Number(p), lowLatency: true });
  const dopen = await d.opened;
  const dw = dopen.writable.getWriter();
  const dr = dopen.readable.getReader();
  const dec = new TextDecoder();
  let ok = true;
  const round = async (from, label) => {
    for (let i = from; i < from + 3; i++) {
      const msg = `datagram ${i} from the tab`;
      await dw.write({ data: new TextEncoder().encode(msg) });
      const got = dec.decode((await dr.read()).value.data);
      dlog(`echo: ${got} ${label}`, got === msg ? "ok" : "err");
      ok = ok && got === msg;
    }
  };
  await round(1, "");
  // The data channel opens in the background; later datagrams take it.
  await new Promise((r) => setTimeout(r, 2000));
  await round(4, "(after the data channel had time to open)");
  await d.close();
  return ok;
}

// A StreamSocketListener: the relay listens on its loopback for this tab,
// and every connection (curl, nc, a browser) is answered from here.
async function listenDemo(sockshim) {
  const lout = document.getElementById("listener");
  const llog = (line, cls = "") => {
    const div = document.createElement("div");
    div.textContent = line;
    if (cls) div.className = cls;
    lout.appendChild(div);
  };
  let n = 0;
  const server = new sockshim.TCPServerSocket("127.0.0.1");
  const l = await server.opened;
  (async () => {
    for await (const s of l.readable) {
      const id = ++n;
      const so = await s.opened;
      const dec = new TextDecoder();
      let req = "";
      const r = so.readable.getReader();
      while (!req.includes("\r\n\r\n") && !req.includes("\n\n")) {
        const { value, done } = await r.read();
        if (done) break;
        req += dec.decode(value);
      }
      llog(`connection #${id} from ${so.remoteAddress}: ${req.split("\n")[0].trim()}`);
      const body = `hello from a browser tab (connection #${id})\n`;
      const w = so.writable.getWriter();
      await w.write(new TextEncoder().encode(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`));
      await w.close();
      await s.close();
    }
  })();
  document.body.dataset.listenPort = l.localPort;
  llog(`listening through the relay at ${l.localAddress}:${l.localPort}; try:`);
  llog(`curl http://${l.localAddress.includes(":") ? `[${l.localAddress}]` : l.localAddress}:${l.localPort}/`, "ok");
}

demo().catch((e) => {
  log(`error: ${e.message}${e.status ? ` (status ${e.status})` : ""}`, "err");
  document.body.dataset.demo = "error";
});
