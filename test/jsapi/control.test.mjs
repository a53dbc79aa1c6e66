// The socket options and statistics of a TCPSocket in Chromium, through a
// real relay process to a real loopback server, in both modes (Worker and
// in-page): sendBufferSize, hopLimit and serializeConnectionAttempts reach
// the relay's real socket (the server reports the TTL it received), and
// info() reports the relay's TCP_INFO and the tab's round trips.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { setup, instancePage } from "./harness.mjs";

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
      assert.ok(tun && tun.sum > 0 && tun.min > 0 && tun.min <= tun.max, JSON.stringify(tun));
      assert.ok(bw && bw.inboundBitsPerSecond > 0 && bw.outboundBitsPerSecond > 0, JSON.stringify(bw));
      assert.equal(typeof bw.outboundBandwidthPeaked, "boolean");
      assert.equal(r.after.name, "InvalidStateError");
    });
  });
}
