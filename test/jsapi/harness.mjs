// Shared setup of the JS API tests: the real loopback servers
// (servers/main.go), a real relay process (bin/relay) with a test policy,
// a page server on another origin than the relay, and one real browser,
// chosen by $SOCKSHIM_BROWSER: Debian's Chromium driven by playwright-core
// (the default), or Debian's firefox-esr over WebDriver BiDi (firefox.mjs,
// the same Page calls). Never a downloaded browser.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { launchFirefox } from "./firefox.mjs";

/** The browser these tests run in: "chromium" or "firefox" ($SOCKSHIM_BROWSER). */
export const browserName = process.env.SOCKSHIM_BROWSER || "chromium";
if (!["chromium", "firefox"].includes(browserName)) throw new Error(`SOCKSHIM_BROWSER=${browserName}: want chromium or firefox`);
/** "Chromium" or "Firefox", for test names. */
export const Browser = browserName === "firefox" ? "Firefox" : "Chromium";

/** launchBrowser starts headless $SOCKSHIM_BROWSER; the caller closes it. */
export function launchBrowser() {
  if (browserName === "firefox") return launchFirefox();
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--allow-loopback-in-peer-connection"],
  });
}

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");

// The test policy: "jsapi" needs its secret and may reach loopback and
// listen there; "anon" is what a page without a credential gets, and it
// may not reach loopback. Both admit the page server's origin.
export const APP_ID = "jsapi";
export const SECRET = "jsapi-test-secret";

// extraApps: more apps for one test file's relay (setup's opts.apps).
function policy(extraApps = []) {
  const origins = ["http://localhost:*", "http://127.0.0.1:*"];
  return {
    // Same-host WebRTC, as relay -dev: loopback candidates only.
    webrtc: { loopback: true, udp4Only: true, interfaces: ["lo"] },
    apps: [
      {
        id: APP_ID, secret: SECRET, origins, allowNoOrigin: false,
        capabilities: ["internetClient", "internetClientServer", "privateNetworkClientServer"],
        loopbackExempt: true,
        listen: { addresses: ["127.0.0.1"], ports: "1024-65535" },
      },
      // Pages on localhost without a credential: no loopback.
      { id: "anon", origins: ["http://localhost:*"], capabilities: ["internetClient"] },
      // Pages on 127.0.0.1 without a credential (the README example): loopback and listeners.
      {
        id: "open", origins: ["http://127.0.0.1:*"],
        capabilities: ["internetClient", "internetClientServer", "privateNetworkClientServer"],
        loopbackExempt: true, listen: { addresses: ["127.0.0.1"], ports: "1024-65535" },
      },
      ...extraApps,
    ],
  };
}

async function startProcess(cmd, args, opts = {}) {
  const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], ...opts });
  let stderr = "";
  p.stderr.on("data", (d) => { stderr += d; });
  const rl = createInterface({ input: p.stdout });
  const [line] = await Promise.race([
    once(rl, "line"),
    once(p, "exit").then(([code]) => { throw new Error(`${cmd} exited ${code}: ${stderr}`); }),
  ]);
  return { p, line, stderr: () => stderr };
}

// setup starts the servers, the relay and Chromium; opts.apps adds apps
// (with a secret of their own) to the relay's policy.
export async function setup(opts = {}) {
  const relayBin = process.env.SOCKSHIM_RELAY || join(root, "bin", "relay");
  const serversBin = process.env.SOCKSHIM_TEST_SERVERS || join(root, "bin", "jsapi-servers");
  for (const b of [relayBin, serversBin]) {
    if (!existsSync(b)) throw new Error(`${b} is missing: run make test-jsapi (it builds it)`);
  }
  // Everything started so far, stopped in reverse by close() or when a
  // later step fails.
  const stops = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    stops.length = 0;
  };
  const stopProcess = (p, before = () => {}) => async () => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, "exit");
    before();
    p.kill("SIGTERM");
    await exited;
  };
  try {
    const servers = await startProcess(serversBin, []);
    stops.push(stopProcess(servers.p, () => servers.p.stdin.end()));
    const addrs = JSON.parse(servers.line);
    const split = (a) => { const i = a.lastIndexOf(":"); return { host: a.slice(0, i), port: Number(a.slice(i + 1)) }; };
    const srv = {};
    for (const [k, v] of Object.entries(addrs)) srv[k] = k === "caPEM" ? v : split(v);

    const dir = mkdtempSync(join(tmpdir(), "sockshim-jsapi-"));
    stops.push(async () => rmSync(dir, { recursive: true, force: true }));
    const cfg = join(dir, "relay.json");
    writeFileSync(cfg, JSON.stringify(policy(opts.apps)));
    // The relay's roots are the test servers' CA (Go reads SSL_CERT_FILE), so
    // secureTransport "relay" (TLS done by the relay) reaches srv.tls; the
    // browser is never given them.
    const caFile = join(dir, "ca.pem");
    writeFileSync(caFile, srv.caPEM);
    const relay = await startProcess(relayBin, ["-config", cfg, "-listen", "127.0.0.1:0", "-v"],
      { env: { ...process.env, SSL_CERT_FILE: caFile, SSL_CERT_DIR: dir } });
    stops.push(stopProcess(relay.p));
    const relayOrigin = relay.line.match(/listening on (http:\/\/\S+)/)[1];

    // The app's own pages, on another origin (localhost vs 127.0.0.1).
    const dynamic = new Map(); // path -> HTML, set by tests
    const pages = createServer((req, res) => {
      const url = new URL(req.url, "http://x");
      if (dynamic.has(url.pathname)) {
        res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
        res.end(dynamic.get(url.pathname));
        return;
      }
      const file = url.pathname === "/" ? "blank.html" : url.pathname.slice(1);
      if (!/^[\w.-]+\.html$/.test(file) || !existsSync(join(here, "pages", file))) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(readFileSync(join(here, "pages", file)));
    });
    pages.listen(0, "127.0.0.1");
    await once(pages, "listening");
    stops.push(async () => { pages.closeAllConnections(); pages.close(); });
    const pageOrigin = `http://localhost:${pages.address().port}`;

    const browser = await launchBrowser();
    stops.push(() => browser.close());
    return {
      srv, relayOrigin, pageOrigin, browser, browserName,
      moduleURL: `${relayOrigin}/web/sockshim.js`,
      relayURL: `${relayOrigin.replace(/^http/, "ws")}/wisp/`,
      relayLog: relay.stderr,
      /** servePage makes the page server answer path with html. */
      servePage(path, html) { dynamic.set(path, html); },
      // page opens path on the app's origin: localhost (default) or, with
      // other set, 127.0.0.1; both differ from the relay's origin.
      async page(path = "/", other = false) {
        const page = await browser.newPage();
        const logs = [];
        page.on("console", (m) => logs.push(m.text()));
        page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
        await page.goto((other ? pageOrigin.replace("localhost", "127.0.0.1") : pageOrigin) + path);
        page.logs = logs;
        return page;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

// instancePage opens a page on the app's origin with a sockshim instance
// loaded as globalThis.S (opts: load options; the relay and credential
// default to the test relay and the "jsapi" app).
export async function instancePage(env, opts = {}, path = "/") {
  const page = await env.page(path);
  await page.addScriptTag({ path: join(here, "pagehelpers.js") });
  const err = await page.evaluate(async ({ moduleURL, opts }) => {
    try {
      const { load } = await import(moduleURL);
      globalThis.load = load;
      globalThis.S = await load(opts);
      return null;
    } catch (e) {
      return String(e);
    }
  }, { moduleURL: env.moduleURL, opts: { relay: env.relayURL, appId: APP_ID, secret: SECRET, ...opts } });
  if (err) throw new Error(`load: ${err}\n${page.logs.join("\n")}`);
  return page;
}
