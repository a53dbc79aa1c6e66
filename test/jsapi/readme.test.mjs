// The README's JavaScript example, extracted and run verbatim as a module
// script on a page of another origin than the relay (an import map points
// "sockshim" at the relay's /web/sockshim.js, served with CORS).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setup, root, Browser } from "./harness.mjs";

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

function example() {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const m = readme.match(/<!-- jsapi-example[^>]*-->\s*```js\n([\s\S]*?)```/);
  assert.ok(m, "README.md has no jsapi-example block");
  return m[1];
}

test(`the README's JS example runs verbatim from another origin (${Browser})`, async () => {
  const code = example();
  env.servePage("/readme.html", `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>README example</title>
<script type="importmap">${JSON.stringify({ imports: { sockshim: env.moduleURL } })}</script>
<script type="module">
${code}</script></head><body></body></html>`);
  // 127.0.0.1 pages get the relay's anonymous app with loopback and listeners.
  const page = await env.browser.newPage();
  const logs = [];
  const hello = new Promise((resolve) => page.on("console", (m) => {
    logs.push(m.text());
    if (m.text() === "hello") resolve();
  }));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  const url = `${env.pageOrigin.replace("localhost", "127.0.0.1")}/readme.html`;
  assert.notEqual(new URL(url).origin, env.relayOrigin);
  await page.goto(url);
  const outcome = await Promise.race([hello.then(() => "hello"), new Promise((r) => setTimeout(() => r("timeout"), 30000))]);
  assert.equal(outcome, "hello", `console:\n${logs.join("\n")}`);
  // The example's socket and listener closed: nothing failed afterwards.
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(logs.filter((l) => l.startsWith("pageerror")), []);
  await page.close();
});

test("web/ is served with CORS only to origins the relay's apps admit", async () => {
  const get = (origin) => fetch(env.moduleURL, { headers: origin ? { Origin: origin } : {} });
  const ok = await get(env.pageOrigin);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("access-control-allow-origin"), env.pageOrigin);
  assert.match(ok.headers.get("content-type"), /javascript/);
  const other = await get("https://evil.example");
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  const wasm = await fetch(`${env.relayOrigin}/web/main.wasm`, { headers: { Origin: env.pageOrigin } });
  assert.equal(wasm.headers.get("content-type"), "application/wasm");
  assert.equal(wasm.headers.get("access-control-allow-origin"), env.pageOrigin);
});
