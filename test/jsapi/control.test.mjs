// The socket options and statistics of a TCPSocket in Chromium, through a
// real relay process to a real loopback server, in both modes (Worker and
// in-page): sendBufferSize, hopLimit and serializeConnectionAttempts reach
// the relay's real socket (the server reports the TTL it received), and
// info() reports the relay's TCP_INFO and the tab's round trips;
// secureTransport "relay" has the relay do the TLS.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { setup, instancePage, browserName } from "./harness.mjs";

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

for (const worker of [true, false]) {
  describe(`TCPSocket options and statistics (${worker ? "Worker" : "in-page"})`, () => {
    let page;
    before(async () => { page = await instancePage(env, { worker }); });
    const run = (fn, args = {}) => page.evaluate(fn, { srv: env.srv, ...args });

    test("hopLimit is the TTL the server receives; without it, the system's", async () => {
      const r = await run(async ({ srv }) => {
        const out = [];
        for (const o of [{ hopLimit: 9, sendBufferSize: 64 << 10, serializeConnectionAttempts: true }, {}]) {
          const s = new S.TCPSocket(srv.ttl.host, srv.ttl.port, o);
          const { readable } = await s.opened;
          const reader = readable.getReader();
          let line = "";
          while (!line.includes("\n")) {
            const { value, done } = await reader.read();
            if (done) break;
            line += T.dec(value);
          }
          out.push(line);
          reader.releaseLock();
          await s.close();
        }
        return out;
      });
      assert.equal(r[0].trim(), "ttl 9");
      assert.match(r[1], /^ttl \d+/);
      assert.notEqual(r[1].trim(), "ttl 9");
    });

    test("bad options are TypeErrors", async () => {
      const r = await run(async ({ srv }) => {
        const out = [];
        for (const o of [{ hopLimit: 0 }, { hopLimit: 256 }, { hopLimit: 1.5 }, { serializeConnectionAttempts: "yes" }]) {
          try {
            new S.TCPSocket(srv.echo.host, srv.echo.port, o);
            out.push("accepted");
          } catch (e) {
            out.push(e.name);
          }
        }
        return out;
      });
      assert.deepEqual(r, ["TypeError", "TypeError", "TypeError", "TypeError"]);
    });

    test('secureTransport "relay": the relay does the TLS (not end to end), the tab sees plaintext', async () => {
      const r = await run(async ({ srv }) => {
        const out = {};
        // By IP (checked against the certificate's IP addresses) and by name
        // (the relay resolves localhost and sends it as SNI).
        for (const host of [srv.tls.host, "localhost"]) {
          const s = new S.TCPSocket(host, srv.tls.port, { secureTransport: "relay" });
          const o = await s.opened;
          const w = o.writable.getWriter();
          const rd = o.readable.getReader();
          const msg = `relay tls to ${host}`;
          await w.write(T.enc(msg));
          const got = await T.readText(rd, msg.length);
          const info = await s.info();
          out[host] = { got, remote: `${o.remoteAddress}:${o.remotePort}`, level: info.protectionLevel, cert: info.serverCertificate ?? null, startTls: (await T.rejects(s.startTls())).name };
          await s.close();
        }
        const fails = {};
        const cases = {
          noTLS: [srv.echo, {}], // TCP opens, the handshake does not: CLOSE 0xD5
          refused: [srv.refused, {}],
          caPEM: [srv.tls, { caPEM: srv.caPEM }],
          serverName: [srv.tls, { serverName: "localhost" }],
          hopLimit: [srv.tls, { hopLimit: 9 }],
          sendBufferSize: [srv.tls, { sendBufferSize: 64 << 10 }],
        };
        for (const [k, [a, o]] of Object.entries(cases)) {
          const s = new S.TCPSocket(a.host, a.port, { secureTransport: "relay", ...o });
          fails[k] = { open: await T.rejects(s.opened), closed: await T.rejects(s.closed) };
        }
        // The same name as the remote address is no other server name.
        const same = new S.TCPSocket(srv.tls.host, srv.tls.port, { secureTransport: "relay", serverName: srv.tls.host });
        out.sameName = (await T.rejects(same.opened)).name;
        await same.close();
        let bad;
        try {
          new S.TCPSocket(srv.tls.host, srv.tls.port, { secureTransport: "Relay" });
          bad = "accepted";
        } catch (e) {
          bad = e.name;
        }
        return { out, fails, bad };
      });
      for (const host of [env.srv.tls.host, "localhost"]) {
        const o = r.out[host];
        assert.equal(o.got, `relay tls to ${host}`);
        assert.equal(o.remote, `${env.srv.tls.host}:${env.srv.tls.port}`);
        assert.equal(o.level, "RelayTls");
        assert.equal(o.cert, null, "the relay does not forward the certificate");
        assert.equal(o.startTls, "InvalidStateError");
      }
      assert.equal(r.out.sameName, "resolved");
      assert.equal(r.fails.noTLS.open.name, "NetworkError");
      assert.equal(r.fails.noTLS.open.status, "CertificateIsInvalid");
      assert.equal(r.fails.refused.open.status, "ConnectionRefused");
      for (const k of ["caPEM", "serverName", "hopLimit", "sendBufferSize"]) {
        assert.equal(r.fails[k].open.name, "NotSupportedError", `${k}: ${JSON.stringify(r.fails[k])}`);
        assert.equal(r.fails[k].closed.name, "NotSupportedError");
      }
      assert.equal(r.bad, "TypeError");
      // The tab was given no caPEM: with "on" the same server fails as
      // CertificateUntrustedRoot (tcp.test.mjs), so these handshakes were the
      // relay's, with its roots.
    });

    test("info(): the relay's TCP_INFO of the real connection and the tab's round trips", async () => {
      const r = await run(async ({ srv }) => {
        const s = new S.TCPSocket(srv.echo.host, srv.echo.port);
        const o = await s.opened;
        const w = o.writable.getWriter();
        const rd = o.readable.getReader();
        const chunk = new Uint8Array(64 << 10);
        let got = 0;
        const reading = (async () => {
          while (got < 4 << 20) {
            const { value, done } = await rd.read();
            if (done) break;
            got += value.length;
          }
        })();
        for (let i = 0; i < 64; i++) await w.write(chunk);
        await reading;
        const info = await s.info();
        await s.close();
        const after = await T.rejects(s.info());
        return { info, got, after };
      });
      assert.equal(r.got, 4 << 20);
      const { roundTripTimeStatistics: rtt, tunnelRoundTripTimeStatistics: tun, connectionBandwidthStatistics: bw } = r.info;
      assert.equal(r.info.statisticsError, undefined);
      assert.ok(rtt && rtt.sum > 0 && rtt.min > 0 && rtt.min <= rtt.max && rtt.sum <= rtt.max, JSON.stringify(rtt));
      // The tab's clock: Firefox coarsens it to 1 ms, so a loopback round
      // trip can read 0 there; Chromium's 100 µs steps see it.
      if (browserName === "firefox") {
        assert.ok(tun && tun.min >= 0 && tun.sum >= 0 && tun.min <= tun.max, JSON.stringify(tun));
      } else {
        assert.ok(tun && tun.sum > 0 && tun.min > 0 && tun.min <= tun.max, JSON.stringify(tun));
      }
      assert.ok(bw && bw.inboundBitsPerSecond > 0 && bw.outboundBitsPerSecond > 0, JSON.stringify(bw));
      assert.equal(typeof bw.outboundBandwidthPeaked, "boolean");
      assert.equal(r.after.name, "InvalidStateError");
    });
  });
}
