// The demo: a StreamSocket from this tab, through the relay that served the
// page, to a real TCP echo service on the relay's loopback.
import { load } from "./sockshim.js";

const out = document.getElementById("out");
const log = (line, cls = "") => {
  const div = document.createElement("div");
  div.textContent = line;
  if (cls) div.className = cls;
  out.appendChild(div);
};

async function demo() {
  const cfg = await (await fetch("/demo.json")).json();
  if (!cfg.echo) {
    log("No demo echo service: start the relay with -dev (make run).", "err");
    return;
  }
  const [host, port] = [cfg.echo.slice(0, cfg.echo.lastIndexOf(":")), cfg.echo.slice(cfg.echo.lastIndexOf(":") + 1)];
  const sockshim = await load();
  log(`StreamSocket.Connect(${host}, ${port}) through ${location.origin}/wisp/ ...`);
  const s = await sockshim.connectStream(host, port);
  log(`connected: relay ${s.localAddress} -> ${s.remoteAddress}`);
  const msg = "hello from a browser tab via sockshim";
  await s.write(msg);
  let got = "";
  const dec = new TextDecoder();
  while (got.length < msg.length) {
    const chunk = await s.read();
    if (chunk === null) break;
    got += dec.decode(chunk);
  }
  log(`echo: ${got}`, got === msg ? "ok" : "err");
  await s.close();
  document.body.dataset.demo = got === msg ? "ok" : "mismatch";
}

demo().catch((e) => {
  log(`error: ${e.message}${e.status ? ` (status ${e.status})` : ""}`, "err");
  document.body.dataset.demo = "error";
});
