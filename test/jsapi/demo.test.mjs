// The demo page (index.html, web/app.js) as `make run` serves it: a real
// relay -dev process, Debian's Chromium or Firefox ($SOCKSHIM_BROWSER); the test uses the page as a person
// would (types into the send box, clicks, fetches from the page's listener)
// and takes a screenshot: into test/jsapi/out/demo.png, or into the one the
// README shows (docs/demo.png) with SOCKSHIM_UPDATE_SCREENSHOT=1, so that
// `make test` leaves the checkout as it found it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { root, launchBrowser, browserName, Browser } from "./harness.mjs";

let relay, browser, origin;
before(async () => {
  relay = spawn(process.env.SOCKSHIM_RELAY || join(root, "bin", "relay"), ["-dev", "-listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  relay.stderr.on("data", (d) => { stderr += d; });
  const [line] = await Promise.race([
    once(createInterface({ input: relay.stdout }), "line"),
    once(relay, "exit").then(() => { throw new Error(`relay -dev exited: ${stderr}`); }),
  ]);
  origin = line.match(/listening on (http:\/\/\S+)/)[1];
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close().catch(() => {});
  relay?.kill("SIGTERM");
});

test(`the demo page (${Browser}): four demos, the live socket table, the send box; and a screenshot`, async () => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(origin + "/");
  await page.waitForFunction(() => document.body.dataset.demo && document.body.dataset.listenPort, null, { timeout: 90000 });
  assert.equal(await page.evaluate(() => document.body.dataset.demo), "ok", logs.join("\n"));
  assert.match(await page.textContent("#mode"), /dedicated Worker/);
  assert.match(await page.textContent("#out"), /echo: hello from a browser tab via sockshim/);
  assert.match(await page.textContent("#tls"), /hello over TLS/);
  assert.equal((await page.textContent("#datagram")).match(/echo: datagram/g).length, 6);

  // A real HTTP client on this machine reaches the page's listener.
  const port = await page.evaluate(() => document.body.dataset.listenPort);
  const body = await (await fetch(`http://127.0.0.1:${port}/from-the-test`)).text();
  assert.equal(body, "hello from a browser tab (connection #1)\n");
  // The client closed first; the page's close() after it is no error (the
  // card once showed "connection #1: close: the socket is closed").
  await page.waitForFunction(() => document.querySelector("#listener .err") || [...document.querySelectorAll("#sockets tbody tr")]
    .some((tr) => tr.textContent.includes("connection #1") && tr.querySelector(".state-closed")), null, { timeout: 30000 });
  assert.deepEqual(await page.$$eval("#listener .err", (els) => els.map((e) => e.textContent)), []);

  // The broker card: its listener was transferred and its object closed;
  // a request from this machine waits at the relay beside the page's own,
  // until a person clicks Reclaim; the reclaimed listener answers again.
  await page.waitForFunction(() => document.body.dataset.brokerPort, null, { timeout: 60000 });
  const brokerPort = await page.evaluate(() => document.body.dataset.brokerPort);
  const whileHeld = fetch(`http://127.0.0.1:${brokerPort}/from-the-test-while-held`).then((r) => r.text());
  await page.waitForFunction(() => /listener and 2 connections \([1-9]/.test(document.getElementById("brokerheld").textContent), null, { timeout: 30000 });
  await page.click("#reclaim");
  assert.equal(await whileHeld, "answered after the reclaim\n");
  await page.waitForFunction(() => document.body.dataset.broker, null, { timeout: 60000 });
  assert.equal(await page.evaluate(() => document.body.dataset.broker), "ok", await page.textContent("#broker"));
  const brokerText = await page.textContent("#broker");
  assert.match(brokerText, /demo-web\/1 TCPSocket (SocketActivity|ConnectionAccepted), \d+ bytes held, context "the broker card"/);
  assert.match(brokerText, /the request that waited: GET \/from-the-tab-while-held HTTP\/1\.1/);
  assert.match(brokerText, /the request that waited: GET \/from-the-test-while-held HTTP\/1\.1/);
  const again = await (await fetch(`http://127.0.0.1:${brokerPort}/after-the-reclaim`)).text();
  assert.equal(again, "hello from the reclaimed listener (connection 1 to the reclaimed listener)\n");

  // Type into the box and send.
  await page.fill("#sendtext", "typed by a person");
  await page.click("#send");
  await page.waitForFunction(() => document.getElementById("out").textContent.includes('echo: "typed by a person"'), null, { timeout: 30000 });

  // The table: every socket with its transport; the in-page UDPSocket on a
  // data channel (Chromium; Firefox on loopback cannot reach the relay by
  // ICE, and the row says so), the Worker's on the WebSocket with the reason.
  const firefox = browserName === "firefox";
  if (firefox) await page.waitForFunction(() => document.querySelector("#sockets").textContent.includes("did not open"), null, { timeout: 40000 });
  else await page.waitForFunction(() => document.querySelector("#sockets .badge.datachannel"), null, { timeout: 30000 });
  // Rows refresh from info() once a second: wait for the Worker's reason.
  await page.waitForFunction(() => document.querySelector("#sockets").textContent.includes("RTCPeerConnection"), null, { timeout: 30000 }).catch(() => {});
  const table = await page.textContent("#sockets");
  const want = ["echo", "https-style", "udp echo", "listener", "connection #1", "WebSocket", "RTCPeerConnection"];
  want.push(firefox ? "data channel to the relay did not open" : "WebRTC data channel");
  for (const s of want) {
    assert.ok(table.includes(s), `table lacks ${s}: ${table}`);
  }
  // The charts have data: throughput and round trip of the echo socket.
  await page.waitForFunction(() => {
    const tr = document.querySelector("#sockets tbody tr");
    return tr && / \S+ ms$/.test(tr.children[6].textContent) && /\/s$/.test(tr.children[5].textContent);
  }, null, { timeout: 30000 });
  // The round trip's split from info(): tab to relay, relay to server.
  await page.waitForFunction(() => / ms · relay ⇄ server [\d.]+ ms/.test(document.querySelector("#sockets tbody tr").children[6].lastChild.title), null, { timeout: 30000 });
  // Bulk through the echo; the screenshot is taken while it runs.
  await page.click("#bulk");
  await page.waitForFunction(() => /^\s*[\d.]+ MiB\/s/.test(document.querySelector("#sockets tbody tr").children[5].textContent), null, { timeout: 30000 });
  // The README shows Chromium's; Firefox's goes next to it in out/.
  const shot = process.env.SOCKSHIM_UPDATE_SCREENSHOT === "1" && browserName === "chromium" ? join(root, "docs", "demo.png") : join(root, "test", "jsapi", "out", `demo-${browserName}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  await page.waitForFunction(() => document.getElementById("out").textContent.includes("bulk: 32.0 MiB"), null, { timeout: 60000 });
  // Firefox reports its failed ICE (expected on loopback, above) as a page error.
  const expected = (l) => firefox && /^pageerror: WebRTC: ICE failed/.test(l);
  assert.deepEqual(logs.filter((l) => l.startsWith("pageerror") && !expected(l)), []);
  await page.close();
});
