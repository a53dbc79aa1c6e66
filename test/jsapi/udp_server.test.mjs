// UDPSocket and TCPServerSocket in $SOCKSHIM_BROWSER through a real relay,
// in both modes; the data channel only where RTCPeerConnection exists (the
// page) and where ICE can reach the relay (Chromium on loopback, not Firefox).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { once } from "node:events";
import { setup, instancePage, browserName, Browser } from "./harness.mjs";

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

for (const worker of [true, false]) {
  describe(`UDPSocket (${Browser}, ${worker ? "Worker" : "in-page"})`, () => {
    let page;
    before(async () => { page = await instancePage(env, { worker }); });
    const run = (fn, args = {}) => page.evaluate(fn, { srv: env.srv, worker, ...args });

    test("connected: datagrams echo whole, with the sender's address", async () => {
      const r = await run(async ({ srv }) => {
        const u = new S.UDPSocket({ remoteAddress: srv.udpEcho.host, remotePort: srv.udpEcho.port });
        const o = await u.opened;
        const w = o.writable.getWriter();
        const rd = o.readable.getReader();
        const got = [];
        for (let i = 0; i < 5; i++) {
          await w.write({ data: T.enc(`datagram ${i}`) });
          const { value } = await rd.read();
          got.push({ text: T.dec(value.data), from: `${value.remoteAddress}:${value.remotePort}`, isBytes: value.data instanceof Uint8Array });
        }
        const big = new Uint8Array(9000).fill(7);
        await w.write({ data: big });
        const { value } = await rd.read();
        const info = await u.info();
        const toAddr = await T.rejects(w.write({ data: T.enc("x"), remoteAddress: "127.0.0.1", remotePort: 9 }));
        await u.close();
        return { got, big: value.data.byteLength, info, ra: o.remoteAddress, rp: o.remotePort, toAddr };
      });
      assert.deepEqual(r.got.map((g) => g.text), [0, 1, 2, 3, 4].map((i) => `datagram ${i}`));
      for (const g of r.got) {
        assert.equal(g.from, `${env.srv.udpEcho.host}:${env.srv.udpEcho.port}`);
        assert.equal(g.isBytes, true);
      }
      assert.equal(r.big, 9000);
      assert.equal(r.ra, env.srv.udpEcho.host);
      assert.equal(r.rp, env.srv.udpEcho.port);
      assert.equal(r.info.transport, "websocket");
      assert.equal(r.info.datagramsReceived, 6);
      assert.equal(r.toAddr.name, "TypeError");
    });

    test("bound: send to any address, receive with the peer's address", async () => {
      const r = await run(async ({ srv }) => {
        const u = new S.UDPSocket({ localAddress: "127.0.0.1" });
        const o = await u.opened;
        const w = o.writable.getWriter();
        const rd = o.readable.getReader();
        await w.write({ data: T.enc("to the echo"), remoteAddress: srv.udpEcho.host, remotePort: srv.udpEcho.port });
        const { value } = await rd.read();
        const noAddr = await T.rejects(w.write({ data: T.enc("nowhere") }));
        await u.close();
        return { text: T.dec(value.data), from: value.remoteAddress, port: value.remotePort, la: o.localAddress, lp: o.localPort, noAddr };
      });
      assert.equal(r.text, "to the echo");
      assert.equal(r.from, env.srv.udpEcho.host);
      assert.equal(r.port, env.srv.udpEcho.port);
      assert.equal(r.la, "127.0.0.1");
      assert.ok(r.lp > 0);
      assert.equal(r.noAddr.name, "TypeError");
    });

    // Firefox offers no loopback ICE candidate (README, "Browser support"),
    // so in-page on loopback its data channel cannot open: the socket must
    // say so in info() and the log, and its datagrams still echo.
    const channel = !worker && browserName === "chromium";
    test(worker ? "lowLatency in a Worker: the WebSocket, and info() says why"
      : channel ? "lowLatency in the page: a WebRTC data channel"
        : "lowLatency in the page, Firefox on loopback: the data channel cannot open, info() and the log say why", async () => {
      const r = await run(async ({ srv, worker }) => {
        const logs = [];
        const off = S.onLog((m) => logs.push(m));
        const u = new S.UDPSocket({ remoteAddress: srv.udpEcho.host, remotePort: srv.udpEcho.port, lowLatency: true });
        const o = await u.opened;
        const w = o.writable.getWriter();
        const rd = o.readable.getReader();
        let info;
        const deadline = Date.now() + 40000;
        let echoed = 0;
        for (;;) {
          await w.write({ data: T.enc("ping") });
          if (T.dec((await rd.read()).value.data) === "ping") echoed++;
          info = await u.info();
          if (worker || info.transport === "datachannel" || info.transportReason || Date.now() > deadline) break;
          await new Promise((res) => setTimeout(res, 200));
        }
        off();
        await u.close();
        return { info, logs, echoed };
      });
      assert.ok(r.echoed >= 1);
      if (worker) {
        assert.equal(r.info.transport, "websocket");
        assert.match(r.info.transportReason, /RTCPeerConnection/);
        assert.ok(r.logs.some((l) => /RTCPeerConnection/.test(l)), `logged: ${r.logs}`);
      } else if (channel) {
        assert.equal(r.info.transport, "datachannel");
        assert.equal(r.info.transportReason, undefined);
      } else {
        assert.equal(r.info.transport, "websocket", JSON.stringify(r.info));
        assert.match(r.info.transportReason ?? "", /data channel to the relay did not open/, JSON.stringify(r.info));
        assert.ok(r.logs.some((l) => /did not open/.test(l)), `logged: ${r.logs}`);
        assert.equal(r.info.datagramsReceived, r.echoed);
      }
    });

    test("bad options: TypeError; after close: InvalidStateError, close() again returns closed", async () => {
      const r = await run(async ({ srv }) => {
        const out = {};
        const tries = {
          both: () => new S.UDPSocket({ remoteAddress: "127.0.0.1", remotePort: 9, localAddress: "127.0.0.1" }),
          neither: () => new S.UDPSocket({}),
          unknown: () => new S.UDPSocket({ remoteAddress: "127.0.0.1", remotePort: 9, multicast: true }),
          noPort: () => new S.UDPSocket({ remoteAddress: "127.0.0.1" }),
        };
        for (const [k, f] of Object.entries(tries)) {
          try { f(); out[k] = "no throw"; } catch (e) { out[k] = e.constructor.name; }
        }
        const u = new S.UDPSocket({ remoteAddress: srv.udpEcho.host, remotePort: srv.udpEcho.port });
        const o = await u.opened;
        const w = o.writable.getWriter();
        const rd = o.readable.getReader();
        const pending = rd.read();
        await u.close();
        out.pendingRead = (await T.rejects(pending)).name;
        out.write = (await T.rejects(w.write({ data: T.enc("late") }))).name;
        out.close = (await T.rejects(u.close())).name;
        out.info = (await T.rejects(u.info())).name;
        out.closed = await T.withTimeout(u.closed, 1000);
        return out;
      });
      assert.deepEqual(r, {
        both: "TypeError", neither: "TypeError", unknown: "TypeError", noPort: "TypeError",
        pendingRead: "InvalidStateError", write: "InvalidStateError", close: "resolved", info: "InvalidStateError",
        closed: "settled",
      });
    });
  });

  describe(`TCPServerSocket (${Browser}, ${worker ? "Worker" : "in-page"})`, () => {
    let page;
    before(async () => { page = await instancePage(env, { worker }); });

    test("a relay-held listener: connections from this machine arrive as TCPSockets", async () => {
      const addr = await page.evaluate(async () => {
        globalThis.server = new S.TCPServerSocket("127.0.0.1");
        const o = await server.opened;
        globalThis.served = (async () => {
          const seen = [];
          const rd = o.readable.getReader();
          for (let i = 0; i < 2; i++) {
            const { value: s } = await rd.read();
            const so = await s.opened;
            const text = await T.readText(so.readable.getReader(), 4);
            const w = so.writable.getWriter();
            await w.write(T.enc(`${text.toUpperCase()} from ${so.remoteAddress}`));
            await w.close();
            seen.push({ isTCPSocket: s instanceof S.TCPSocket, remoteAddress: so.remoteAddress, remotePort: so.remotePort, localPort: so.localPort });
            await T.withTimeout(s.closed, 5000);
          }
          rd.releaseLock();
          return seen;
        })();
        return { host: o.localAddress, port: o.localPort };
      });
      assert.equal(addr.host, "127.0.0.1");
      for (let i = 0; i < 2; i++) {
        const c = connect(addr.port, "127.0.0.1");
        await once(c, "connect");
        c.end("ping");
        let got = "";
        c.on("data", (d) => { got += d; });
        await once(c, "end");
        assert.equal(got, `PING from 127.0.0.1`);
        c.destroy();
      }
      const seen = await page.evaluate(() => served);
      assert.equal(seen.length, 2);
      for (const s of seen) {
        assert.equal(s.isTCPSocket, true);
        assert.equal(s.remoteAddress, "127.0.0.1");
        assert.equal(s.localPort, addr.port);
      }
      const after = await page.evaluate(async () => {
        await server.close();
        return { close: (await T.rejects(server.close())).name, info: (await T.rejects(server.info())).name };
      });
      assert.deepEqual(after, { close: "resolved", info: "InvalidStateError" });
      // The listener is gone at the relay: connecting is refused.
      const c = connect(addr.port, "127.0.0.1");
      const [err] = await once(c, "error");
      assert.equal(err.code, "ECONNREFUSED");
    });

    test("the page connects to its own listener through the relay", async () => {
      const r = await page.evaluate(async () => {
        const server = new S.TCPServerSocket("127.0.0.1", { localPort: 0 });
        const { readable, localAddress, localPort } = await server.opened;
        (async () => {
          for await (const conn of readable) {
            const { readable, writable } = await conn.opened;
            readable.pipeTo(writable).catch(() => {});
          }
        })();
        const s = new S.TCPSocket(localAddress, localPort);
        const o = await s.opened;
        await o.writable.getWriter().write(T.enc("round trip"));
        const got = await T.readText(o.readable.getReader(), 10);
        await s.close();
        await server.close();
        return got;
      });
      assert.equal(r, "round trip");
    });

    test("errors: a port the app may not bind, bad arguments, close before open", async () => {
      const r = await page.evaluate(async () => {
        const out = {};
        out.lowPort = await T.rejects(new S.TCPServerSocket("127.0.0.1", { localPort: 80 }).opened);
        out.otherAddress = await T.rejects(new S.TCPServerSocket("127.0.0.2").opened);
        for (const [k, f] of Object.entries({
          noAddress: () => new S.TCPServerSocket(""),
          unknown: () => new S.TCPServerSocket("127.0.0.1", { port: 1 }),
          badPort: () => new S.TCPServerSocket("127.0.0.1", { localPort: -1 }),
        })) {
          try { f(); out[k] = "no throw"; } catch (e) { out[k] = e.constructor.name; }
        }
        const early = new S.TCPServerSocket("127.0.0.1");
        early.close();
        out.early = (await T.rejects(early.opened)).name;
        return out;
      });
      assert.equal(r.lowPort.name, "NotAllowedError");
      assert.equal(r.lowPort.accessDenied, true);
      assert.equal(r.otherAddress.accessDenied, true);
      assert.equal(r.noAddress, "TypeError");
      assert.equal(r.unknown, "TypeError");
      assert.equal(r.badPort, "TypeError");
      assert.equal(r.early, "AbortError");
    });
  });
}
