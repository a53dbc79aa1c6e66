// The socket broker from the JS API in Chromium, through a real relay
// process: a page transfers a TCPSocket, a TCPServerSocket and a bound
// UDPSocket and closes; while no page is there the TCP peer sends, a
// client connects to the held listener and datagrams arrive; a new page of
// the same app lists them with allSockets(), reclaims each and reads what
// was held, in order; another app sees nothing.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect } from "node:net";
import { createSocket } from "node:dgram";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { setup, instancePage } from "./harness.mjs";

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

function readAll(sock) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    sock.on("data", (d) => chunks.push(d));
    sock.on("end", () => resolve(Buffer.concat(chunks).toString()));
    sock.on("error", reject);
  });
}

for (const worker of [true, false]) {
  describe(`socket broker (${worker ? "Worker" : "in-page"})`, () => {
    test("transfer, close the page, reclaim from a new page of the app", async (t) => {
      // Both modes use one relay and app: their socket ids differ.
      const id = (s) => `${worker ? "w" : "p"}-${s}`;
      // The TCP peer: a greeting at once, 256 KiB more when told to.
      const held = randomBytes(256 << 10);
      let peerConn, helloSeen;
      const gotHello = new Promise((resolve) => { helloSeen = resolve; });
      const tcpPeer = createServer((c) => {
        peerConn = c;
        c.write("greeting\n");
        c.once("data", () => helloSeen());
        c.on("error", () => {});
      });
      tcpPeer.listen(0, "127.0.0.1");
      await once(tcpPeer, "listening");
      const opened = [];
      t.after(() => {
        tcpPeer.close();
        for (const c of [peerConn, ...opened]) c?.destroy();
      });
      const udpPeer = createSocket("udp4");
      udpPeer.bind(0, "127.0.0.1");
      await once(udpPeer, "listening");
      t.after(() => udpPeer.close());
      const relayUDP = once(udpPeer, "message");

      const a = await instancePage(env, { worker });
      const first = await a.evaluate(async ({ tcp, udp, p }) => {
        const id = (s) => `${p}-${s}`;
        const s = new S.TCPSocket("127.0.0.1", tcp);
        const o = await s.opened;
        await o.writable.getWriter().write(T.enc("hello"));
        const reader = o.readable.getReader();
        const greeting = await T.readText(reader, 9);
        const l = new S.TCPServerSocket("127.0.0.1");
        const lo = await l.opened;
        const u = new S.UDPSocket({ localAddress: "127.0.0.1" });
        const uo = await u.opened;
        await uo.writable.getWriter().write({ data: T.enc("hi"), remoteAddress: "127.0.0.1", remotePort: udp });
        await s.transferOwnership(id("chat"), { context: "room 7", taskId: "chat-task" });
        const afterRead = await reader.read(); // the readable ends
        const closed = await T.withTimeout(s.closed, 5000);
        const badId = await T.rejects(l.transferOwnership(""));
        const badOpt = await T.rejects(l.transferOwnership(id("web"), { keepAliveTime: 10 }));
        await l.transferOwnership(id("web"), { taskId: "web-task", context: new Uint8Array([1, 2, 3]) });
        await u.transferOwnership(id("udp"), { keepAliveTime: 60000 });
        const again = await T.rejects(u.transferOwnership(id("udp2")));
        return { greeting, afterDone: afterRead.done, closed, badId: badId.name, badOpt: badOpt.name, again: again.name, port: lo.localPort, udpPort: uo.localPort };
      }, { tcp: tcpPeer.address().port, udp: udpPeer.address().port, p: worker ? "w" : "p" });
      assert.equal(first.greeting, "greeting\n");
      assert.equal(first.afterDone, true, "the transferred socket's readable ends");
      assert.equal(first.closed, "settled");
      assert.equal(first.badId, "TypeError");
      assert.equal(first.badOpt, "TypeError");
      assert.equal(first.again, "InvalidStateError");
      await gotHello;
      const [, rinfo] = await relayUDP;
      assert.equal(rinfo.port, first.udpPort);
      await a.close(); // the app goes away

      // While nobody is there.
      peerConn.end(held);
      const away = connect(first.port, "127.0.0.1");
      opened.push(away);
      await once(away, "connect");
      const awayReply = readAll(away);
      away.end("GET / while away");
      for (const m of ["one", "two", "three"]) udpPeer.send(m, first.udpPort, "127.0.0.1");

      const b = await instancePage(env, { worker });
      const listed = await b.evaluate(async ({ want, p }) => {
        const mine = async () => (await S.allSockets()).filter((h) => h.id.startsWith(p + "-"));
        for (let i = 0; i < 300; i++) {
          const all = await mine();
          const by = Object.fromEntries(all.map((h) => [h.id.slice(2), h]));
          if (by.chat?.buffered === want && by["web/1"]?.reason === "SocketClosed" && by.udp?.buffered === 11) {
            return all.map((h) => ({ id: h.id.slice(2), kind: h.kind, reason: h.reason, taskId: h.taskId, context: Array.from(h.context), buffered: h.buffered }));
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        return JSON.stringify(await mine());
      }, { want: held.length, p: worker ? "w" : "p" });
      assert.ok(Array.isArray(listed), `allSockets never showed everything held: ${listed}`);
      const by = Object.fromEntries(listed.map((h) => [h.id, h]));
      assert.deepEqual(Object.keys(by).sort(), ["chat", "udp", "web", "web/1"]);
      // The peer sent and closed while held: SocketClosed, its data kept.
      assert.deepEqual(by.chat, { id: "chat", kind: "TCPSocket", reason: "SocketClosed", taskId: "chat-task", context: [...Buffer.from("room 7")], buffered: held.length });
      assert.equal(by.web.kind, "TCPServerSocket");
      assert.equal(by.web.reason, "ConnectionAccepted");
      assert.deepEqual(by.web.context, [1, 2, 3]);
      assert.equal(by["web/1"].kind, "TCPSocket");
      assert.equal(by["web/1"].taskId, "web-task");
      assert.equal(by.udp.kind, "UDPSocket");
      assert.equal(by.udp.reason, "SocketActivity");

      // Another app (no credential, another origin: "open") sees none of it.
      const other = await env.page("/", true);
      const otherList = await other.evaluate(async ({ moduleURL, relay }) => {
        const { load } = await import(moduleURL);
        const s = await load({ relay });
        return (await s.allSockets()).length;
      }, { moduleURL: env.moduleURL, relay: env.relayURL });
      assert.equal(otherList, 0);
      await other.close();

      const r = await b.evaluate(async ({ p }) => {
        const all = Object.fromEntries((await S.allSockets()).filter((h) => h.id.startsWith(p + "-")).map((h) => [h.id.slice(2), h]));
        const chat = await all.chat.reclaim();
        const o = await chat.opened;
        const parts = [];
        for await (const c of o.readable) parts.push(c);
        const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
        let off = 0;
        for (const p of parts) { bytes.set(p, off); off += p.byteLength; }
        const sha = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (x) => x.toString(16).padStart(2, "0")).join("");
        await chat.close();
        const twice = await T.rejects(all.chat.reclaim());

        const req = await all["web/1"].reclaim();
        const ro = await req.opened;
        const text = await T.readText(ro.readable.getReader());
        const w = ro.writable.getWriter();
        await w.write(T.enc("200 from the new page"));
        await w.close();

        const l = await all.web.reclaim();
        const lo = await l.opened;
        globalThis.reclaimedListener = lo.readable.getReader();

        const u = await all.udp.reclaim();
        const uo = await u.opened;
        const ur = uo.readable.getReader();
        const dgrams = [];
        for (let i = 0; i < 3; i++) dgrams.push(T.dec((await ur.read()).value.data));
        await u.close();
        return { sha, n: bytes.byteLength, twice: twice.name, text, port: lo.localPort, dgrams, isServer: l instanceof S.TCPServerSocket, isUDP: u instanceof S.UDPSocket };
      }, { p: worker ? "w" : "p" });
      assert.equal(r.n, held.length);
      assert.equal(r.sha, createHash("sha256").update(held).digest("hex"));
      assert.equal(r.twice, "SyntaxError");
      assert.equal(r.text, "GET / while away");
      assert.equal(await awayReply, "200 from the new page");
      assert.equal(r.port, first.port);
      assert.deepEqual(r.dgrams, ["one", "two", "three"]);
      assert.ok(r.isServer && r.isUDP);

      // The reclaimed listener accepts again on its port.
      const again = connect(first.port, "127.0.0.1");
      opened.push(again);
      await once(again, "connect");
      const acceptedText = b.evaluate(async () => {
        const { value: s } = await globalThis.reclaimedListener.read();
        const o = await s.opened;
        const t = await T.readText(o.readable.getReader(), 5);
        await s.close();
        return t;
      });
      again.end("again");
      assert.equal(await acceptedText, "again");
      await b.close();
    });

    test("setPushSubscription reaches the relay, which refuses an app without broker.push", async () => {
      const page = await instancePage(env, { worker });
      const r = await page.evaluate(async () => {
        const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
        const p256dh = new Uint8Array(65).fill(4);
        const auth = new Uint8Array(16).fill(7);
        const json = { endpoint: "https://push.example/send/abc", keys: { p256dh: b64url(p256dh), auth: b64url(auth) } };
        return {
          refused: await T.rejects(S.setPushSubscription(json)),
          shortKey: await T.rejects(S.setPushSubscription({ ...json, keys: { ...json.keys, auth: b64url(auth.slice(1)) } })),
          notASub: await T.rejects(S.setPushSubscription("https://push.example/")),
        };
      });
      await page.close();
      // The relay's answer (ReasonBlocked), not a local check: the payload was well-formed.
      assert.equal(r.refused.name, "NotAllowedError", JSON.stringify(r.refused));
      assert.equal(r.refused.accessDenied, true);
      assert.equal(r.shortKey.name, "TypeError");
      assert.equal(r.notASub.name, "TypeError");
    });
  });
}
