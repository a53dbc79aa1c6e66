// Helpers the tests run inside the page (added with page.addScriptTag).
globalThis.T = {
  enc: (s) => new TextEncoder().encode(s),
  dec: (b) => new TextDecoder().decode(b),
  // err describes a rejection so the test can assert on it.
  err(e) {
    return { name: e?.name, message: e?.message, status: e?.status, accessDenied: e?.accessDenied, isDOMException: e instanceof DOMException };
  },
  async rejects(p) {
    try {
      await p;
    } catch (e) {
      return T.err(e);
    }
    return { name: "resolved" };
  },
  // readText reads from a reader until it has n bytes, or EOF.
  async readText(reader, n = Infinity) {
    let s = "";
    while (s.length < n) {
      const { value, done } = await reader.read();
      if (done) break;
      s += T.dec(value);
    }
    return s;
  },
  async withTimeout(p, ms) {
    let t;
    const timeout = new Promise((resolve) => { t = setTimeout(() => resolve("timeout"), ms); });
    try {
      return await Promise.race([p.then(() => "settled", () => "settled"), timeout]);
    } finally {
      clearTimeout(t);
    }
  },
};
