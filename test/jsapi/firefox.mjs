// Headless Firefox (Debian's firefox-esr) over WebDriver BiDi, with the few
// calls of playwright-core's Browser and Page that the JS API tests use:
// newPage, goto, on("console" | "pageerror"), addScriptTag, evaluate,
// $$eval, waitForFunction, textContent, click, fill, screenshot, close. playwright-core drives only its own
// patched Firefox builds, which this machine never downloads; BiDi needs
// nothing but the browser. Values cross as JSON (evaluate's argument and
// result), which is all the tests pass.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { createInterface } from "node:readline";

// What a headless test profile needs: internal/bidi's testprefs.json, the
// Go runner's TestPrefs (its doc says why each WebRTC pref is there), so both
// runners see the same Firefox.
const prefs = JSON.parse(readFileSync(new URL("../../internal/bidi/testprefs.json", import.meta.url), "utf8"));

export async function launchFirefox({ executablePath = process.env.FIREFOX || "/usr/bin/firefox-esr" } = {}) {
  if (typeof WebSocket === "undefined") throw new Error("Node needs --experimental-websocket (NODE_OPTIONS) for the BiDi connection");
  const profile = mkdtempSync(join(tmpdir(), "sockshim-firefox-"));
  writeFileSync(join(profile, "user.js"), Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join(""));
  const proc = spawn(executablePath, ["--headless", "--no-remote", "--profile", profile, "--remote-debugging-port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  let ws;
  // stop ends the browser and removes its profile; every path out of
  // launchFirefox that fails, and close(), go through it.
  const stop = async () => {
    ws?.close();
    const killed = setTimeout(() => proc.kill("SIGKILL"), 5000);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await exited;
    clearTimeout(killed);
    rmSync(profile, { recursive: true, force: true });
  };
  let next = 0;
  const pending = new Map();
  const pages = new Map();
  const call = (method, params) => new Promise((resolve, reject) => {
    const id = ++next;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });
  try {
    let output = "";
    const url = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`Firefox did not start its BiDi server within 90 s:\n${output}`)), 90000);
      createInterface({ input: proc.stderr }).on("line", (l) => {
        output += l + "\n";
        const m = l.match(/WebDriver BiDi listening on (ws:\/\/\S+)/);
        if (m) { clearTimeout(t); resolve(m[1]); }
      });
      exited.then((code) => { clearTimeout(t); reject(new Error(`Firefox exited ${code}:\n${output}`)); });
    });
    ws = new WebSocket(`${url}/session`);
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error(`cannot connect to ${url}`)); });
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === "event") {
        if (m.method === "log.entryAdded") pages.get(m.params.source?.context)?.log(m.params);
        return;
      }
      const c = pending.get(m.id);
      if (!c) return;
      pending.delete(m.id);
      if (m.type === "error") c.reject(new Error(`${m.error}: ${m.message}`));
      else c.resolve(m.result);
    };
    ws.onclose = () => { for (const c of pending.values()) c.reject(new Error("lost the connection to Firefox")); pending.clear(); };
    await call("session.new", { capabilities: {} });
    await call("session.subscribe", { events: ["log.entryAdded"] });
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    name: "firefox",
    async newPage({ viewport } = {}) {
      const { context } = await call("browsingContext.create", { type: "tab" });
      if (viewport) await call("browsingContext.setViewport", { context, viewport });
      const page = new Page(call, context, () => pages.delete(context));
      pages.set(context, page);
      return page;
    },
    async close() {
      await Promise.race([call("browser.close", {}).catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
      await stop();
    },
  };
}

class Page {
  constructor(call, context, forget) {
    this.call = call;
    this.context = context;
    this.forget = forget;
    this.handlers = { console: [], pageerror: [] };
  }

  on(event, f) { this.handlers[event]?.push(f); }

  log(e) {
    if (e.type === "console") {
      const text = e.text ?? (e.args || []).map((a) => a.value).join(" ");
      for (const f of this.handlers.console) f({ text: () => text, type: () => e.method });
    } else if (e.type === "javascript") {
      for (const f of this.handlers.pageerror) f(new Error(e.text));
    }
  }

  async goto(url) {
    await this.call("browsingContext.navigate", { context: this.context, url, wait: "complete" });
  }

  // evaluate runs fn(arg) in the page, awaiting a promise; arg and the
  // result travel as JSON.
  async evaluate(fn, arg) {
    const decl = `async (a) => { const v = await (${fn.toString()})(a === undefined ? undefined : JSON.parse(a)); return v === undefined ? undefined : JSON.stringify(v); }`;
    const r = await this.call("script.callFunction", {
      functionDeclaration: decl,
      arguments: [arg === undefined ? { type: "undefined" } : { type: "string", value: JSON.stringify(arg) }],
      target: { context: this.context },
      awaitPromise: true,
    });
    if (r.type === "exception") throw new Error(r.exceptionDetails?.text || "exception in the page");
    return r.result?.type === "string" ? JSON.parse(r.result.value) : undefined;
  }

  async addScriptTag({ path, content }) {
    const src = content ?? readFileSync(path, "utf8");
    const r = await this.call("script.evaluate", { expression: src, target: { context: this.context }, awaitPromise: false });
    if (r.type === "exception") throw new Error(r.exceptionDetails?.text || "exception in the script");
  }

  async waitForFunction(fn, arg, { timeout = 30000 } = {}) {
    const end = Date.now() + timeout;
    for (;;) {
      if (await this.evaluate(fn, arg)) return;
      if (Date.now() > end) throw new Error(`waitForFunction: timed out after ${timeout} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // click and fill act on the first element matching selector, as a
  // person would: focus, set the value, fire input and change; click().
  async click(selector) {
    const ok = await this.evaluate((s) => { const e = document.querySelector(s); if (!e) return false; e.click(); return true; }, selector);
    if (!ok) throw new Error(`click: no element matches ${selector}`);
  }

  async fill(selector, value) {
    const ok = await this.evaluate(({ s, v }) => {
      const e = document.querySelector(s);
      if (!e) return false;
      e.focus();
      e.value = v;
      e.dispatchEvent(new Event("input", { bubbles: true }));
      e.dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    }, { s: selector, v: value });
    if (!ok) throw new Error(`fill: no element matches ${selector}`);
  }

  async screenshot({ path, fullPage = false } = {}) {
    const { data } = await this.call("browsingContext.captureScreenshot", { context: this.context, origin: fullPage ? "document" : "viewport" });
    const png = Buffer.from(data, "base64");
    if (path) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, png);
    }
    return png;
  }

  // $$eval runs fn(every element matching selector, arg) in the page.
  $$eval(selector, fn, arg) {
    return this.evaluate(new Function("x", `return (${fn.toString()})(Array.from(document.querySelectorAll(x.s)), x.a);`), { s: selector, a: arg });
  }

  textContent(selector) {
    return this.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
  }

  async close() {
    await this.call("browsingContext.close", { context: this.context }).catch(() => {});
    this.forget();
  }
}
