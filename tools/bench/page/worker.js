// A dedicated Worker that runs one Go wasm program (the same module the page
// runs), for the bench's "Go wasm in a Worker" column. Messages: from the
// page {argv, env}; to the page {fd, text} for output and {exit: code}.
"use strict";
importScripts("/wasm_exec.js");

const dec = new TextDecoder();
globalThis.fs.writeSync = (fd, buf) => {
	postMessage({ fd, text: dec.decode(buf) });
	return buf.length;
};
// benchMark: the CPU snapshots the bench driver takes, as on the page.
globalThis.benchMark = (label) => fetch("/mark?label=" + encodeURIComponent(label), { method: "POST" }).then(() => undefined);

onmessage = async (ev) => {
	const { module, argv, env } = ev.data;
	const go = new Go();
	go.argv = argv;
	go.env = env;
	let code = null;
	go.exit = (c) => { code = c; };
	try {
		const inst = await WebAssembly.instantiate(module, go.importObject);
		await go.run(inst);
	} catch (e) {
		postMessage({ fd: 2, text: "worker: " + ((e && e.stack) || e) + "\n" });
		if (!code) code = 1;
	}
	postMessage({ exit: code === null ? 1 : code });
};
