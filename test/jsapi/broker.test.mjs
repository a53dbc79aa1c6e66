// The socket broker from the JS API in Chromium, through a real relay
// process: a page transfers a TCPSocket, a TCPServerSocket and a bound
// UDPSocket and closes; while no page is there the TCP peer sends, a
// client connects to the held listener and datagrams arrive; a new page of
// the same app lists them with allSockets(), reclaims each and reads what
// was held, in order; another app sees nothing. And Web Push activation:
// a page registers a subscription whose endpoint is this file's own push
// service on 127.0.0.1 (no browser push service is contacted), data
// arrives for a held socket, and the test decrypts the push (RFC 8291)
// with the subscription's private key and checks its VAPID signature.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect } from "node:net";
import { createServer as createHTTPServer } from "node:http";
import { createSocket } from "node:dgram";
import { createDecipheriv, createECDH, createHash, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, verify } from "node:crypto";
import { once } from "node:events";
import { setup, instancePage } from "./harness.mjs";

const b64url = (b) => Buffer.from(b).toString("base64url");

// The app server's VAPID key pair, in the form the relay's config takes
// (base64url: the 65-byte uncompressed public point, the 32-byte scalar).
const vapid = (() => {
  const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
  const pub = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]);
  return { publicKey: b64url(pub), privateKey: jwk.d, jwk };
})();

// The test's push service: records each POST by path.
const pushes = [];
let pushArrived = () => {};
const pushService = createHTTPServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    pushes.push({ path: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks) });
    pushArrived();
    res.writeHead(201).end();
  });
});

// nextPush waits for a push to path.
async function nextPush(path, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = pushes.findIndex((p) => p.path === path);
    if (i >= 0) return pushes.splice(i, 1)[0];
    if (Date.now() > deadline) throw new Error(`no push to ${path} within ${ms} ms (got ${pushes.map((p) => p.path)})`);
    await new Promise((r) => { pushArrived = r; setTimeout(r, 200); });
  }
}

// decryptPush undoes RFC 8291 (aes128gcm, RFC 8188: one record) with the
// subscription's ECDH key and auth secret, and parses the JSON inside.
function decryptPush(ua, auth, body) {
  assert.ok(body.length > 21 + 16, `push body of ${body.length} bytes`);
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  const asPub = body.subarray(21, 21 + idlen);
  const ct = body.subarray(21 + idlen);
  assert.ok(ct.length <= rs, "one record");
  const info = Buffer.concat([Buffer.from("WebPush: info\0"), ua.getPublicKey(), asPub]);
  const ikm = Buffer.from(hkdfSync("sha256", ua.computeSecret(asPub), auth, info, 32));
  const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
  const d = createDecipheriv("aes-128-gcm", cek, nonce);
  d.setAuthTag(ct.subarray(ct.length - 16));
  const pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  let end = pt.length - 1;
  while (end >= 0 && pt[end] === 0) end--;
  assert.equal(pt[end], 2, "the last record's 0x02 delimiter");
  return JSON.parse(pt.subarray(0, end).toString());
}

// checkVAPID verifies "Authorization: vapid t=<JWT>, k=<key>" (RFC 8292):
// k is the app's public key, the JWT is ES256-signed by it for the push
// service's origin.
function checkVAPID(header, origin) {
  const m = /^vapid t=([\w-]+)\.([\w-]+)\.([\w-]+), k=([\w-]+)$/.exec(header ?? "");
  assert.ok(m, `Authorization ${header}`);
  assert.equal(m[4], vapid.publicKey);
  const key = createPublicKey({ key: { kty: "EC", crv: "P-256", x: vapid.jwk.x, y: vapid.jwk.y }, format: "jwk" });
  assert.ok(verify("sha256", Buffer.from(`${m[1]}.${m[2]}`), { key, dsaEncoding: "ieee-p1363" }, Buffer.from(m[3], "base64url")),
    "the VAPID JWT verifies with the app's public key");
  const claims = JSON.parse(Buffer.from(m[2], "base64url"));
  assert.equal(claims.aud, origin);
  assert.match(claims.sub, /^mailto:ops@app\.example$/);
}

const PUSH_APP = "push";
const PUSH_SECRET = "push-test-secret";

let env, pushOrigin;
before(async () => {
  pushService.listen(0, "127.0.0.1");
  await once(pushService, "listening");
  pushOrigin = `http://127.0.0.1:${pushService.address().port}`;
  env = await setup({
    apps: [{
      id: PUSH_APP, secret: PUSH_SECRET, origins: ["http://localhost:*"], allowNoOrigin: false,
      capabilities: ["internetClient", "privateNetworkClientServer"], loopbackExempt: true,
      broker: {
        push: {
          vapidPublicKey: vapid.publicKey, vapidPrivateKey: vapid.privateKey,
          subscriber: "ops@app.example", endpoints: [`${pushOrigin}/push/`],
        },
      },
    }],
  });
});
after(async () => {
  await env?.close();
  pushService.close();
});

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

    test("setPushSubscription accepted: data for a held socket sends a push the subscription's keys decrypt", async (t) => {
      const mode = worker ? "w" : "p";
      const id = `${mode}-push`;
      const path = `/push/${mode}`;
      const ua = createECDH("prime256v1");
      ua.generateKeys();
      const auth = randomBytes(16);
      let peerConn;
      const tcpPeer = createServer((c) => { peerConn = c; c.on("error", () => {}); });
      tcpPeer.listen(0, "127.0.0.1");
      await once(tcpPeer, "listening");
      t.after(() => { tcpPeer.close(); peerConn?.destroy(); });

      const page = await instancePage(env, { worker, appId: PUSH_APP, secret: PUSH_SECRET });
      t.after(() => page.close());
      const sub = { endpoint: pushOrigin + path, keys: { p256dh: b64url(ua.getPublicKey()), auth: b64url(auth) } };
      const r = await page.evaluate(async ({ sub, tcp, id }) => {
        // Only the push services the app's config lists.
        const outside = await T.rejects(S.setPushSubscription({ ...sub, endpoint: "https://push.example/send/abc" }));
        await S.setPushSubscription(sub);
        const s = new S.TCPSocket("127.0.0.1", tcp);
        await s.opened;
        await s.transferOwnership(id, { taskId: "push-task" });
        return { outside };
      }, { sub, tcp: tcpPeer.address().port, id });
      assert.equal(r.outside.name, "NotAllowedError", JSON.stringify(r.outside));
      assert.equal(pushes.filter((p) => p.path === path).length, 0, "no push before any activity");

      // Data arrives while the relay holds the socket.
      peerConn.write("wake up");
      const push = await nextPush(path);
      assert.equal(push.method, "POST");
      assert.equal(push.headers["content-encoding"], "aes128gcm");
      assert.ok(Number(push.headers.ttl) > 0, `TTL ${push.headers.ttl}`);
      checkVAPID(push.headers.authorization, pushOrigin);
      assert.deepEqual(decryptPush(ua, auth, push.body), { socketId: id, kind: "StreamSocket", reason: "SocketActivity", taskId: "push-task" });

      // What the woken app does: list, reclaim, read what woke it.
      const got = await page.evaluate(async ({ id }) => {
        const held = (await S.allSockets()).find((h) => h.id === id);
        const s = await held.reclaim();
        const o = await s.opened;
        const text = await T.readText(o.readable.getReader(), 7);
        await s.close();
        await S.setPushSubscription(null);
        return { reason: held.reason, text };
      }, { id });
      assert.deepEqual(got, { reason: "SocketActivity", text: "wake up" });
      assert.equal(pushes.filter((p) => p.path === path).length, 0, "one push for one activity");
    });
  });
}
