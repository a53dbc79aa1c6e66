// The JS API (web/sockshim.js) in Chromium against the edge relay in
// workerd: test/jsapi's way of driving Debian's Chromium (playwright-core
// from test/jsapi/node_modules, its page helpers), run by edge_test.go's
// JSAPI subtest with the Worker, a page server and an echo server it
// started. Prints one JSON line of results per mode; edge_test.go asserts.
//
//   node jsapi.mjs <page origin> <relay ws URL> <echo host> <echo port> <TLS echo port>
//
// The TLS echo (on 127.0.0.1, a certificate for localhost) is signed by a
// CA the Worker trusts, for secureTransport "relay" (connect() with
// secureTransport "on" in the Worker); the browser does not trust it. That
// CA's PEM is $SOCKSHIM_CA_PEM (for caPEM, which relay TLS refuses).
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const jsapi = join(here, "..", "jsapi");
const { chromium } = createRequire(join(jsapi, "package.json"))("playwright-core");
const [pageOrigin, relay, echoHost, echoPort, tlsPort] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  for (const worker of [true, false]) {
    const page = await browser.newPage();
    const logs = [];
    page.on("console", (m) => logs.push(m.text()));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(`${pageOrigin}/blank.html`);
    await page.addScriptTag({ path: join(jsapi, "pagehelpers.js") });
    const r = await page.evaluate(async ({ moduleURL, relay, worker, echoHost, echoPort, tlsPort, caPEM }) => {
      const out = { worker };
      const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
      // Every step has a deadline: a hang fails the step, it never stalls the run.
      const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms))]);
      try {
        const { load } = await import(moduleURL);
        const S = await within(load({ relay, worker }), 30000, "load");
        out.relay = S.relay;

        // TCP: 4 MiB of random bytes through the echo, compared by SHA-256.
        const total = 4 << 20;
        const sent = new Uint8Array(total);
        for (let i = 0; i < total; i += 65536) crypto.getRandomValues(sent.subarray(i, i + 65536));
        const s = new S.TCPSocket(echoHost, echoPort);
        const o = await within(s.opened, 30000, "TCPSocket.opened");
        out.remote = `${o.remoteAddress}:${o.remotePort}`;
        const got = new Uint8Array(total);
        const reading = (async () => {
          const rd = o.readable.getReader();
          let n = 0;
          while (n < total) {
            const { value, done } = await rd.read();
            if (done) break;
            got.set(value, n);
            n += value.byteLength;
          }
          return n;
        })();
        const w = o.writable.getWriter();
        for (let i = 0; i < total; i += 65536) await w.write(sent.subarray(i, i + 65536));
        out.received = await within(reading, 120000, "reading the echo");
        out.sentSHA = hex(await crypto.subtle.digest("SHA-256", sent));
        out.gotSHA = hex(await crypto.subtle.digest("SHA-256", got));
        await s.close();

        // secureTransport "relay": the Worker does the TLS (not end to end);
        // a server without TLS fails the relay's handshake; caPEM cannot apply.
        {
          const rs = new S.TCPSocket("localhost", tlsPort, { secureTransport: "relay" });
          const ro = await within(rs.opened, 30000, "relay TLS opened");
          const msg = "relay tls at the edge";
          await ro.writable.getWriter().write(T.enc(msg));
          const got = await within(T.readText(ro.readable.getReader(), msg.length), 30000, "relay TLS echo");
          const info = await within(rs.info(), 30000, "relay TLS info");
          await rs.close();
          const noTLS = new S.TCPSocket("localhost", echoPort, { secureTransport: "relay" });
          const withCA = new S.TCPSocket("localhost", tlsPort, { secureTransport: "relay", caPEM });
          out.relayTLS = {
            got, level: info.protectionLevel, cert: info.serverCertificate ?? null,
            noTLS: await within(T.rejects(noTLS.opened), 30000, "relay TLS without TLS"),
            caPEM: await within(T.rejects(withCA.opened), 30000, "relay TLS with caPEM"),
          };
        }

        // What the edge relay cannot do rejects at once, naming it.
        const u = new S.UDPSocket({ remoteAddress: echoHost, remotePort: echoPort });
        out.udp = await within(T.rejects(u.opened), 20000, "UDPSocket.opened");
        const bound = new S.UDPSocket({ localAddress: "127.0.0.1" });
        out.boundUDP = await within(T.rejects(bound.opened), 20000, "bound UDPSocket.opened");
        const l = new S.TCPServerSocket("127.0.0.1");
        out.server = await within(T.rejects(l.opened), 20000, "TCPServerSocket.opened");
      } catch (e) {
        out.error = String(e?.stack ?? e);
      }
      return out;
    }, { moduleURL: `${pageOrigin}/web/sockshim.js`, relay, worker, echoHost, echoPort: Number(echoPort), tlsPort: Number(tlsPort), caPEM: process.env.SOCKSHIM_CA_PEM });
    if (r.error) r.logs = logs;
    console.log(JSON.stringify(r));
    await page.close();
  }
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
