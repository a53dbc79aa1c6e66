//go:build !js

package main

// pageHTML is the page that runs the wasm program. The runner replaces
// __CONFIG__ with a JSON object {"argv": [...], "env": {...}, "base": "/<token>"}.
//
// Output path: wasm_exec.js sends every write of the Go program to fd 1 and 2
// through globalThis.fs.writeSync. The page replaces it, copies the bytes, and
// posts them in order (one fetch at a time) to <base>/out as frames of
// [fd uint8][len uint32 big-endian][bytes]. Calls of the console API by page
// code go through the same queue, so their order relative to the program's own
// output is kept. When the program exits, the page drains the queue and posts
// the exit code to <base>/exit.
const pageHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>wasmbrowser</title>
<link rel="icon" href="data:,">
</head><body>
<script src="__BASE__/wasm_exec.js"></script>
<script>
"use strict";
(() => {
	const cfg = __CONFIG__;
	const enc = new TextEncoder();
	const queue = [];
	let flushing = null;
	let broken = false;

	const flush = async () => {
		while (queue.length > 0 && !broken) {
			const batch = queue.splice(0);
			let n = 0;
			for (const [, b] of batch) n += 5 + b.length;
			const out = new Uint8Array(n);
			const dv = new DataView(out.buffer);
			let off = 0;
			for (const [fd, b] of batch) {
				out[off] = fd;
				dv.setUint32(off + 1, b.length);
				out.set(b, off + 5);
				off += 5 + b.length;
			}
			try {
				const r = await fetch(cfg.base + "/out", { method: "POST", body: out });
				if (!r.ok) broken = true;
			} catch (e) {
				broken = true;
			}
		}
		flushing = null;
	};
	const push = (fd, bytes) => {
		if (bytes.length === 0) return;
		queue.push([fd, bytes]);
		if (flushing === null) flushing = flush();
	};
	const drain = async () => {
		while (flushing !== null) await flushing;
	};

	// fd 1 and 2 of the Go program, byte for byte.
	globalThis.fs.writeSync = function (fd, buf) {
		push(fd === 1 ? 1 : 2, buf.slice());
		return buf.length;
	};

	// Console API calls of page code (for example syscall/js calls of
	// console.log): log, info, debug go to stdout; the rest to stderr.
	const fmtArg = (a) => {
		if (typeof a === "string") return a;
		if (a instanceof Error) return a.stack || String(a);
		if (a === undefined || a === null || typeof a !== "object") return String(a);
		try { return JSON.stringify(a); } catch (e) { return String(a); }
	};
	for (const [name, fd] of [["log", 1], ["info", 1], ["debug", 1], ["warn", 2], ["error", 2], ["trace", 2]]) {
		const orig = console[name].bind(console);
		console[name] = (...args) => {
			push(fd, enc.encode(args.map(fmtArg).join(" ") + "\n"));
			orig(...args);
		};
	}

	const finish = async (code) => {
		await drain();
		try {
			await fetch(cfg.base + "/exit", { method: "POST", body: String(code) });
		} catch (e) {}
	};

	const go = new Go();
	globalThis.go = go;
	go.argv = cfg.argv;
	go.env = cfg.env;
	let exitCode = null;
	go.exit = (code) => { exitCode = code; };

	(async () => {
		try {
			const { instance } = await WebAssembly.instantiateStreaming(fetch(cfg.base + "/prog.wasm"), go.importObject);
			await go.run(instance);
		} catch (e) {
			push(2, enc.encode("wasmbrowser: JavaScript error: " + ((e && e.stack) || e) + "\n"));
			if (exitCode === null || exitCode === 0) exitCode = 1;
		}
		await finish(exitCode === null ? 1 : exitCode);
	})();
})();
</script>
</body></html>
`
