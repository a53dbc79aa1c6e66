// TCPSocket in $SOCKSHIM_BROWSER (Chromium or Firefox), through a real relay
// to real loopback servers, in both modes: the wasm in a dedicated Worker
// (the default; the page is on another origin than the relay, so the Worker
// starts from a blob: module) and in the page.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { setup, instancePage, Browser } from "./harness.mjs";

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

for (const worker of [true, false]) {
  describe(`TCPSocket (${Browser}, ${worker ? "Worker" : "in-page"})`, () => {
    let page;
    before(async () => { page = await instancePage(env, { worker }); });
    const run = (fn, args = {}) => page.evaluate(fn, { srv: env.srv, ...args });

    test("instance reports its mode and relay; the module is on another origin", async () => {
      const r = await run(({ moduleURL }) => ({ worker: S.worker, relay: S.relay, version: S.version, crossOrigin: new URL(moduleURL).origin !== location.origin }), { moduleURL: env.moduleURL });
      assert.equal(r.worker, worker);
      assert.equal(r.relay, env.relayURL);
      assert.equal(r.version, "sockshim-dev");
      assert.equal(r.crossOrigin, true); // so a Worker starts from a blob: module
    });

    test("a wasm that is not sockshim's: load() rejects with NotSupportedError, not a hang", async () => {
      // The smallest valid wasm module: it instantiates, and Go's run() fails on it.
      const r = await run(async ({ relay, worker }) => T.rejects(load({ relay, worker, wasmURL: "data:application/wasm;base64,AGFzbQEAAAA=" })), { relay: env.relayURL, worker });
      assert.equal(r.name, "NotSupportedError", JSON.stringify(r));
      assert.match(r.message, /not sockshim's \.\/wasm build/);
    });

    test("echo: opened gives streams and addresses", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
        const o = await s.opened;
        const w = o.writable.getWriter();
        await w.write(T.enc("hello "));
        await w.write(new DataView(T.enc("world").buffer));
        const got = await T.readText(o.readable.getReader(), 11);
        const info = await s.info();
        await s.close();
        return { got, ra: o.remoteAddress, rp: o.remotePort, la: o.localAddress, lp: o.localPort, info };
      });
      assert.equal(r.got, "hello world");
      assert.equal(r.ra, env.srv.echo.host);
      assert.equal(r.rp, env.srv.echo.port);
      assert.equal(r.la, "127.0.0.1");
      assert.ok(r.lp > 0);
      assert.equal(r.info.transport, "websocket");
      assert.equal(r.info.worker, worker);
      assert.equal(r.info.bytesSent, 11);
      assert.equal(r.info.bytesReceived, 11);
      assert.equal(r.info.protectionLevel, "PlainSocket");
    });

    test("BYOB reader fills the caller's buffer", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
        const o = await s.opened;
        const reader = o.readable.getReader({ mode: "byob" });
        await o.writable.getWriter().write(T.enc("0123456789"));
        let got = "";
        let buf = new ArrayBuffer(4);
        const sizes = [];
        while (got.length < 10) {
          const { value, done } = await reader.read(new Uint8Array(buf, 0, 4));
          if (done) break;
          sizes.push(value.byteLength);
          got += T.dec(value);
          buf = value.buffer;
        }
        await s.close();
        return { got, sizes };
      });
      assert.equal(r.got, "0123456789");
      assert.ok(r.sizes.every((n) => n >= 1 && n <= 4), `BYOB chunk sizes ${r.sizes}`);
    });

    test("bulk: 16 MiB both ways through the echo, bytes intact", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
        const o = await s.opened;
        const total = 16 << 20;
        const chunk = new Uint8Array(64 << 10);
        for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7 + 3) & 0xff;
        const reading = (async () => {
          const reader = o.readable.getReader();
          let n = 0, bad = 0;
          while (n < total) {
            const { value, done } = await reader.read();
            if (done) break;
            for (let i = 0; i < value.length; i += 997) if (value[i] !== (((n + i) % chunk.length) * 7 + 3 & 0xff)) bad++;
            n += value.length;
          }
          return { n, bad };
        })();
        const w = o.writable.getWriter();
        for (let sent = 0; sent < total; sent += chunk.length) {
          await w.ready;
          w.write(chunk);
        }
        const got = await reading;
        const bw = (await s.info()).bandwidthStatistics;
        const idle = (await s.info()).bandwidthStatistics;
        await s.close();
        return { ...got, bw, idle };
      });
      assert.equal(r.n, 16 << 20);
      assert.equal(r.bad, 0);
      // bandwidthStatistics: since open, then (nothing moved) since the previous info().
      assert.ok(r.bw.inboundBitsPerSecond > 0 && r.bw.outboundBitsPerSecond > 0, JSON.stringify(r.bw));
      const expected = (16 << 20) * 8 / (r.bw.intervalMs / 1000);
      assert.ok(Math.abs(r.bw.inboundBitsPerSecond - expected) < expected * 0.01, JSON.stringify(r.bw));
      assert.equal(r.idle.inboundBitsPerSecond, 0);
      assert.equal(r.idle.outboundBitsPerSecond, 0);
    });

    test("writes of one task, small and large, on two sockets: each socket's bytes come back whole and in order", async () => {
      const r = await run(async ({ srv }) => {
        const socks = [];
        for (let k = 0; k < 2; k++) {
          const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
          socks.push({ s, o: await s.opened });
        }
        // Sizes straddle the 4 KiB small-write limit, so joined small
        // writes, writes of their own and a write past a joined buffer's
        // room alternate; all are issued in one task, none awaited.
        const sizes = [1, 100, 5000, 7, 4095, 4096, 20000, 3, 9000, 1, 16383, 2];
        const want = socks.map(() => []);
        const writers = socks.map(({ o }) => o.writable.getWriter());
        let seq = 0;
        for (const n of sizes) {
          for (let k = 0; k < socks.length; k++) {
            const b = new Uint8Array(n);
            for (let i = 0; i < n; i++) b[i] = (seq * 31 + i * 7 + k) & 0xff;
            seq++;
            writers[k].write(b); // a WritableStream's chunk is the caller's again once its write resolves, not before
            want[k].push(b);
          }
        }
        const out = [];
        for (let k = 0; k < socks.length; k++) {
          const total = want[k].reduce((a, b) => a + b.length, 0);
          const expect = new Uint8Array(total);
          let off = 0;
          for (const b of want[k]) { expect.set(b, off); off += b.length; }
          const got = new Uint8Array(total);
          const rd = socks[k].o.readable.getReader();
          let n = 0;
          while (n < total) {
            const { value, done } = await rd.read();
            if (done) break;
            got.set(value.subarray(0, Math.min(value.length, total - n)), n);
            n += value.length;
          }
          let firstBad = -1;
          for (let i = 0; i < total; i++) if (got[i] !== expect[i]) { firstBad = i; break; }
          out.push({ total, n, firstBad });
          await socks[k].s.close();
        }
        return out;
      });
      for (const s of r) {
        assert.equal(s.n, s.total);
        assert.equal(s.firstBad, -1, JSON.stringify(r));
      }
    });

    test("half-close: closing the writable sends FIN, reading goes on to EOF, then closed resolves (and close() too)", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.halfclose.host, srv.halfclose.port);
        const o = await s.opened;
        const w = o.writable.getWriter();
        await w.write(new Uint8Array(1000));
        await w.close();
        const got = await T.readText(o.readable.getReader());
        const closed = await T.withTimeout(s.closed, 10000);
        // The Direct Sockets spec: close() on a socket whose closed promise
        // settled returns it (the peer closed first: no error).
        const again = await T.rejects(s.close());
        return { got, closed, again };
      });
      assert.equal(r.got, "got 1000 bytes");
      assert.equal(r.closed, "settled");
      assert.equal(r.again.name, "resolved");
    });

    test("backpressure: a peer that does not read makes writer.ready wait; it resumes when the peer reads", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.stall.host, srv.stall.port, { sendBufferSize: 256 << 10 });
        const o = await s.opened;
        const w = o.writable.getWriter();
        const chunk = new Uint8Array(64 << 10);
        let accepted = 0;
        // Write until ready stays pending for 2 s; a sink without
        // backpressure would take everything (the cap is 512 MiB).
        while (accepted < 512 << 20) {
          if (await T.withTimeout(w.ready, 2000) === "timeout") break;
          w.write(chunk).catch(() => {});
          accepted += chunk.length;
        }
        const stalled = await T.withTimeout(w.ready, 10);
        // The peer starts reading: ready resolves.
        const rel = new S.TCPSocket(srv.release.host, srv.release.port);
        const ro = await rel.opened;
        const released = await T.readText(ro.readable.getReader(), 9);
        const resumed = await T.withTimeout(w.ready, 30000);
        await rel.close();
        await s.close();
        return { accepted, stalled, released, resumed };
      });
      assert.equal(r.stalled, "timeout");
      assert.ok(r.accepted < 64 << 20, `accepted ${r.accepted} bytes before waiting`);
      assert.equal(r.released, "released\n");
      assert.equal(r.resumed, "settled");
    });

    test("TLS on: crypto/tls in the wasm, a private CA, serverName", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.tls.host, srv.tls.port, { secureTransport: "on", caPEM: srv.caPEM, serverName: "localhost" });
        const o = await s.opened;
        await o.writable.getWriter().write(T.enc("over tls"));
        const got = await T.readText(o.readable.getReader(), 8);
        const info = await s.info();
        await s.close();
        return { got, info };
      });
      assert.equal(r.got, "over tls");
      assert.notEqual(r.info.protectionLevel, "PlainSocket");
      assert.match(r.info.serverCertificate, /sockshim jsapi test server/);
    });

    test("TLS with an untrusted certificate: NetworkError, status CertificateUntrustedRoot", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.tls.host, srv.tls.port, { secureTransport: "on" });
        return { open: await T.rejects(s.opened), closed: await T.rejects(s.closed) };
      });
      assert.equal(r.open.name, "NetworkError");
      assert.equal(r.open.status, "CertificateUntrustedRoot");
      assert.equal(r.open.accessDenied, false);
      assert.equal(r.open.isDOMException, true);
      assert.equal(r.closed.name, "NetworkError");
    });

    test("STARTTLS: plain text, then startTls() on the same streams", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.starttls.host, srv.starttls.port, { secureTransport: "starttls", caPEM: srv.caPEM });
        const o = await s.opened;
        const w = o.writable.getWriter();
        const rd = o.readable.getReader();
        await w.write(T.enc("hi\n"));
        const plain = await T.readText(rd, 10);
        await w.write(T.enc("STARTTLS\n"));
        const go = await T.readText(rd, 3);
        const before = (await s.info()).protectionLevel;
        const info = await s.startTls();
        await w.write(T.enc("secret"));
        const echoed = await T.readText(rd, 6);
        const after = (await s.info()).protectionLevel;
        const twice = await T.rejects(s.startTls());
        await s.close();
        return { plain, go, before, after, echoed, same: info.readable === o.readable, twice };
      });
      assert.equal(r.plain, "plain: hi\n");
      assert.equal(r.go, "GO\n");
      assert.equal(r.before, "PlainSocket");
      assert.notEqual(r.after, "PlainSocket");
      assert.equal(r.echoed, "secret");
      assert.equal(r.same, true);
      assert.equal(r.twice.name, "InvalidStateError");
    });

    test("startTls without secureTransport starttls: InvalidStateError", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
        await s.opened;
        const e = await T.rejects(s.startTls());
        await s.close();
        return e;
      });
      assert.equal(r.name, "InvalidStateError");
    });

    test("refused: NetworkError, status ConnectionRefused", async () => {
      const r = await run(async ({ srv }) => T.rejects(new S.TCPSocket(srv.refused.host, srv.refused.port).opened));
      assert.equal(r.name, "NetworkError");
      assert.equal(r.status, "ConnectionRefused");
      assert.equal(r.accessDenied, false);
    });

    test("reset by the peer: the socket fails with a NetworkError", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.reset.host, srv.reset.port);
        let e;
        try {
          const o = await s.opened;
          const rd = o.readable.getReader();
          for (;;) {
            const { done } = await rd.read();
            if (done) return { eof: true };
          }
        } catch (err) {
          e = T.err(err);
        }
        return { e, closed: await T.rejects(s.closed) };
      });
      // The relay may see the RST as an orderly end (EOF) or as a reset.
      if (!r.eof) {
        assert.equal(r.e.name, "NetworkError");
        assert.equal(typeof r.e.status, "string");
        assert.equal(r.closed.name, "NetworkError");
      }
    });

    test("host names resolve at the relay; an unknown one is HostNotFound", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket("localhost", srv.echo.port);
        const o = await s.opened;
        await o.writable.getWriter().write(T.enc("named"));
        const got = await T.readText(o.readable.getReader(), 5);
        await s.close();
        const bad = await T.rejects(new S.TCPSocket("no-such-host.invalid", 80).opened);
        return { got, bad };
      });
      assert.equal(r.got, "named");
      assert.equal(r.bad.status, "HostNotFound");
    });

    test("options the relay cannot honour: NotSupportedError", async () => {
      const r = await run(async ({ srv }) => ({
        noDelay: await T.rejects(new S.TCPSocket(srv.echo.host, srv.echo.port, { noDelay: false }).opened),
        keepAlive: await T.rejects(new S.TCPSocket(srv.echo.host, srv.echo.port, { keepAliveDelay: 5000 }).opened),
      }));
      assert.equal(r.noDelay.name, "NotSupportedError");
      assert.equal(r.keepAlive.name, "NotSupportedError");
    });

    test("bad arguments throw TypeError synchronously", async () => {
      const r = await run(({ srv }) => {
        const tries = {
          unknownOption: () => new S.TCPSocket(srv.echo.host, srv.echo.port, { tls: true }),
          port0: () => new S.TCPSocket(srv.echo.host, 0),
          portBig: () => new S.TCPSocket(srv.echo.host, 70000),
          portString: () => new S.TCPSocket(srv.echo.host, "80"),
          noHost: () => new S.TCPSocket("", 80),
          secureTransport: () => new S.TCPSocket(srv.echo.host, 80, { secureTransport: "yes" }),
          keepAliveShort: () => new S.TCPSocket(srv.echo.host, 80, { keepAliveDelay: 10 }),
          signal: () => new S.TCPSocket(srv.echo.host, 80, { signal: {} }),
          loadUnknown: () => load({ relays: "x" }),
        };
        const out = {};
        for (const [k, f] of Object.entries(tries)) {
          try {
            const p = f();
            out[k] = p instanceof Promise ? "promise" : "no throw";
          } catch (e) {
            out[k] = e.constructor.name;
          }
        }
        return out;
      });
      for (const [k, v] of Object.entries(r)) {
        if (k === "loadUnknown") continue;
        assert.equal(v, "TypeError", k);
      }
      // load is async: its TypeError is a rejection.
      const l = await run(async () => T.rejects(load({ relays: "x" })));
      assert.equal(l.name, "TypeError");
      assert.match(l.message, /unknown option "relays"/);
    });

    test("a written chunk that is not bytes errors the writable with TypeError", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
        const o = await s.opened;
        const e = await T.rejects(o.writable.getWriter().write("a string"));
        await s.close();
        return e;
      });
      assert.equal(r.name, "TypeError");
    });

    test("after close(): every call rejects with InvalidStateError, and close() again returns closed", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
        const o = await s.opened;
        const w = o.writable.getWriter();
        const rd = o.readable.getReader();
        const pendingRead = rd.read();
        await s.close();
        return {
          pendingRead: await T.rejects(pendingRead),
          read: await T.rejects(rd.read()),
          write: await T.rejects(w.write(T.enc("late"))),
          close: await T.rejects(s.close()),
          startTls: await T.rejects(s.startTls()),
          info: await T.rejects(s.info()),
          closed: await T.withTimeout(s.closed, 1000),
          opened: await T.withTimeout(s.opened, 1000),
        };
      });
      assert.equal(r.close.name, "resolved");
      for (const k of ["pendingRead", "read", "write", "startTls", "info"]) {
        assert.equal(r[k].name, "InvalidStateError", k);
        assert.equal(r[k].isDOMException, true, k);
      }
      assert.equal(r.closed, "settled");
      assert.equal(r.opened, "settled");
    });

    test("close() before the socket opened: opened rejects with AbortError", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
        const c = s.close();
        return { opened: await T.rejects(s.opened), close: await T.withTimeout(c, 5000), again: await T.rejects(s.close()) };
      });
      assert.equal(r.opened.name, "AbortError");
      assert.equal(r.close, "settled");
      assert.equal(r.again.name, "InvalidStateError");
    });

    test("AbortSignal: aborted before open, and during a pending read and write", async () => {
      const r = await run(async ({ srv }) => {
        const pre = await T.rejects(new S.TCPSocket(srv.echo.host, srv.echo.port, { signal: AbortSignal.abort() }).opened);
        const ac = new AbortController();
        const s = new S.TCPSocket(srv.stall.host, srv.stall.port, { signal: ac.signal, sendBufferSize: 1024 });
        const o = await s.opened;
        const read = o.readable.getReader().read();
        const w = o.writable.getWriter();
        w.write(new Uint8Array(4096)).catch(() => {});
        const write = w.write(new Uint8Array(4096));
        ac.abort();
        return { pre, read: await T.rejects(read), write: await T.rejects(write), closed: await T.rejects(s.closed), close: await T.rejects(s.close()) };
      });
      assert.equal(r.pre.name, "AbortError");
      assert.equal(r.read.name, "AbortError");
      assert.equal(r.write.name, "AbortError");
      assert.equal(r.closed.name, "AbortError");
      assert.equal(r.close.name, "AbortError", "close() returns the closed promise, rejected with what ended the socket");
    });

    test("readable.pipeTo(writable, {signal}) stops on abort", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
        const o = await s.opened;
        const ac = new AbortController();
        const chunks = [];
        const piping = o.readable.pipeTo(new WritableStream({ write(c) { chunks.push(T.dec(c)); } }), { signal: ac.signal });
        await o.writable.getWriter().write(T.enc("piped"));
        while (chunks.join("").length < 5) await new Promise((res) => setTimeout(res, 20));
        ac.abort();
        const e = await T.rejects(piping);
        await s.close();
        return { got: chunks.join(""), e };
      });
      assert.equal(r.got, "piped");
      assert.equal(r.e.name, "AbortError");
    });
  });
}

for (const worker of [true, false]) {
  test(`terminate() (${Browser}, ${worker ? "Worker" : "in-page"}): open sockets fail, later calls reject`, async () => {
    const page = await instancePage(env, { worker });
    const r = await page.evaluate(async ({ srv }) => {
      const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
      const o = await s.opened;
      const read = o.readable.getReader().read();
      S.terminate();
      return {
        read: await T.rejects(read),
        closed: await T.rejects(s.closed),
        next: await T.rejects(new S.TCPSocket(srv.echo.host, srv.echo.port).opened),
      };
    }, { srv: env.srv });
    for (const k of ["read", "closed", "next"]) assert.equal(r[k].name, "NetworkError", `${k}: ${JSON.stringify(r[k])}`);
    assert.match(r.read.message, /terminated/);
    await page.close();
  });
}

describe(`relay credentials (Wisp password extension, ${Browser})`, () => {
  test("no credential: the anonymous app may not reach loopback (NotAllowedError, accessDenied)", async () => {
    const page = await instancePage(env, { appId: undefined, secret: undefined });
    const r = await page.evaluate(async ({ srv }) => T.rejects(new S.TCPSocket(srv.echo.host, srv.echo.port).opened), { srv: env.srv });
    assert.equal(r.name, "NotAllowedError");
    assert.equal(r.accessDenied, true);
    await page.close();
  });

  test("a wrong secret: the relay refuses the session", async () => {
    const page = await instancePage(env, { secret: "wrong" });
    const r = await page.evaluate(async ({ srv }) => T.rejects(new S.TCPSocket(srv.echo.host, srv.echo.port).opened), { srv: env.srv });
    assert.notEqual(r.name, "resolved");
    assert.equal(r.isDOMException, true);
    await page.close();
  });
});
