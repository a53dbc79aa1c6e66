// The page of the bench's Chromium rows. The driver (tools/bench,
// over a bare DevTools pipe) calls these with Runtime.evaluate:
//
//	bench.runGo({prog, argv, env, worker})  a Go wasm program, in the page or
//	                                        in a dedicated Worker -> {code, stdout, stderr}
//	bench.wispBulk({...})                   the wisp-js client, bulk echo -> {bytes, ms}
//	bench.wispRTT({...})                    the wisp-js client, 64 B ping-pong -> {rtts}
//
// benchMark(label) posts to /mark, where the driver snapshots the renderer's
// per-thread CPU time; every row marks "<label>:start" after its streams are
// open and "<label>:end" when the last echoed byte is verified.
import { client as wisp } from "/wisp-client.mjs";

globalThis.benchMark = (label) => fetch("/mark?label=" + encodeURIComponent(label), { method: "POST" }).then(() => undefined);

const modules = new Map();
const compile = (prog) => {
	if (!modules.has(prog)) modules.set(prog, WebAssembly.compileStreaming(fetch(prog)));
	return modules.get(prog);
};

const dec = new TextDecoder();
// Output of the Go program running in the page (one at a time).
let capture = null;
globalThis.fs.writeSync = (fd, buf) => {
	if (capture) capture[fd === 1 ? "stdout" : "stderr"] += dec.decode(buf);
	return buf.length;
};

async function runGo({ prog, argv, env, worker }) {
	const module = await compile(prog);
	if (worker) {
		return new Promise((resolve) => {
			const w = new Worker("/worker.js");
			const out = { code: null, stdout: "", stderr: "" };
			w.onmessage = (ev) => {
				const m = ev.data;
				if ("exit" in m) {
					out.code = m.exit;
					w.terminate();
					resolve(out);
				} else {
					out[m.fd === 1 ? "stdout" : "stderr"] += m.text;
				}
			};
			w.onerror = (e) => {
				out.code = 1;
				out.stderr += "worker error: " + e.message + "\n";
				w.terminate();
				resolve(out);
			};
			w.postMessage({ module, argv, env });
		});
	}
	const go = new Go();
	go.argv = argv;
	go.env = env;
	const out = { code: null, stdout: "", stderr: "" };
	capture = out;
	go.exit = (c) => { out.code = c; };
	try {
		const inst = await WebAssembly.instantiate(module, go.importObject);
		await go.run(inst);
	} catch (e) {
		out.stderr += "page: " + ((e && e.stack) || e) + "\n";
		if (!out.code) out.code = 1;
	}
	capture = null;
	if (out.code === null) out.code = 1;
	return out;
}

// The payloads: cut from one random pattern at a prime stride, as
// internal/echoload does, so a lost, repeated or
// reordered payload fails the byte-for-byte comparison.
const patternLen = 1 << 20;
let pattern = null;
const payloadAt = (k, size) => {
	if (!pattern) {
		pattern = new Uint8Array(patternLen + (256 << 10));
		let x = 0x9e3779b9;
		for (let i = 0; i < pattern.length; i++) {
			x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
			pattern[i] = x & 0xff;
		}
	}
	const off = (k * 7919) % patternLen;
	return pattern.subarray(off, off + size);
};

function wispConnect(url) {
	return new Promise((resolve, reject) => {
		const conn = new wisp.ClientConnection(url);
		const timer = setTimeout(() => reject(new Error("wisp-js: no connection within 15 s")), 15000);
		conn.onopen = () => { clearTimeout(timer); resolve(conn); };
		conn.onerror = () => { clearTimeout(timer); reject(new Error("wisp-js: connection failed")); };
	});
}

// wispBulk is echoload.Bulk for the wisp-js client: streams streams on one
// connection, each keeping up to window payloads of size bytes in flight
// (written, not yet echoed back and verified) for ms milliseconds, then
// draining; every byte is compared.
async function wispBulk({ url, host, port, streams, size, window, ms, label }) {
	const conn = await wispConnect(url);
	let stop = false, total = 0, failed = null, open = streams;
	let finish;
	const done = new Promise((r) => { finish = r; });
	const fail = (e) => { if (!failed) { failed = e; finish(); } };
	const states = [];
	for (let i = 0; i < streams; i++) {
		const base = i * 1000003;
		const s = conn.create_stream(host, port);
		const st = { s, sent: 0, recv: 0, off: 0, inflight: 0, drained: false };
		const pump = () => {
			while (!stop && st.inflight < window) {
				s.send(payloadAt(base + st.sent, size));
				st.sent++;
				st.inflight++;
			}
			if (stop && st.inflight === 0 && !st.drained) {
				st.drained = true;
				if (--open === 0) finish();
			}
		};
		st.pump = pump;
		s.onmessage = (data) => {
			let i = 0;
			while (i < data.length) {
				if (st.inflight === 0) return fail(new Error("stream " + s.stream_id + ": bytes nobody sent"));
				const want = payloadAt(base + st.recv, size);
				const n = Math.min(data.length - i, size - st.off);
				for (let j = 0; j < n; j++) {
					if (data[i + j] !== want[st.off + j]) return fail(new Error("stream " + s.stream_id + ": payload " + st.recv + " came back different"));
				}
				i += n;
				st.off += n;
				if (st.off === size) {
					st.off = 0;
					st.recv++;
					st.inflight--;
					total += size;
				}
			}
			pump();
		};
		s.onclose = (reason) => { if (!st.drained) fail(new Error("stream " + s.stream_id + " closed, reason " + reason)); };
		states.push(st);
	}
	await benchMark(label + ":start");
	const t0 = performance.now();
	for (const st of states) st.pump();
	setTimeout(() => {
		stop = true;
		for (const st of states) st.pump();
	}, ms);
	await done;
	const elapsed = performance.now() - t0;
	await benchMark(label + ":end");
	for (const st of states) st.s.close();
	conn.close();
	if (failed) throw failed;
	return { bytes: total, ms: elapsed };
}

// wispRTT is echoload.RoundTrips for the wisp-js client: size bytes out,
// the echo back, warm times unmeasured, then for ms milliseconds.
async function wispRTT({ url, host, port, size, warm, ms, label }) {
	const conn = await wispConnect(url);
	const s = conn.create_stream(host, port);
	let got = 0, wake = null;
	s.onmessage = (data) => {
		got += data.length;
		if (got >= size && wake) { const w = wake; wake = null; w(); }
	};
	const out = new Uint8Array(size);
	const once = (i) => new Promise((resolve) => {
		got = 0;
		wake = resolve;
		out[0] = i & 0xff;
		s.send(out);
	});
	for (let i = 0; i < warm; i++) await once(i);
	await benchMark(label + ":start");
	const rtts = [];
	const end = performance.now() + ms;
	for (let i = 0; performance.now() < end; i++) {
		const t0 = performance.now();
		await once(i);
		rtts.push((performance.now() - t0) * 1000);
	}
	await benchMark(label + ":end");
	s.close();
	conn.close();
	rtts.sort((a, b) => a - b);
	return { n: rtts.length, p50: rtts[Math.floor(rtts.length / 2)], p99: rtts[Math.floor(rtts.length * 99 / 100)] };
}

// jsapiBulk is wispBulk for sockshim's JS API (web/sockshim.js, the Direct
// Sockets API): one TCPSocket per stream, window payloads in flight, every
// byte compared; writes wait on writer.ready (the API's backpressure).
async function jsapiBulk({ relay, host, port, streams, size, window, ms, label, worker }) {
	const { load } = await import("/web/sockshim.js");
	const sockshim = await load({ relay, worker });
	let stop = false, total = 0;
	const socks = [];
	for (let i = 0; i < streams; i++) {
		const s = new sockshim.TCPSocket(host, port);
		socks.push({ s, o: await s.opened, base: i * 1000003 });
	}
	await benchMark(label + ":start");
	const t0 = performance.now();
	setTimeout(() => { stop = true; }, ms);
	await Promise.all(socks.map(async ({ o, base }) => {
		const w = o.writable.getWriter();
		const r = o.readable.getReader();
		let sent = 0, recv = 0, off = 0, wake = null;
		const writing = (async () => {
			while (!stop) {
				if (sent - recv >= window) {
					await new Promise((res) => { wake = res; });
					continue;
				}
				await w.ready;
				w.write(payloadAt(base + sent, size));
				sent++;
			}
			// Everything sent is back, and the reader may be waiting for more.
			if (recv === sent) r.cancel();
		})();
		for (;;) {
			if (stop && recv === sent) break;
			const { value, done } = await r.read();
			if (done) {
				if (stop && recv === sent) break;
				throw new Error("JS API: the echo ended the stream");
			}
			let i = 0;
			while (i < value.length) {
				if (recv >= sent) throw new Error("JS API: bytes nobody sent");
				const want = payloadAt(base + recv, size);
				const n = Math.min(value.length - i, size - off);
				for (let j = 0; j < n; j++) {
					if (value[i + j] !== want[off + j]) throw new Error("JS API: payload " + recv + " came back different");
				}
				i += n;
				off += n;
				if (off === size) {
					off = 0;
					recv++;
					total += size;
					if (wake) { const f = wake; wake = null; f(); }
				}
			}
		}
		await writing;
	}));
	const elapsed = performance.now() - t0;
	await benchMark(label + ":end");
	for (const { s } of socks) await s.close();
	sockshim.terminate();
	return { bytes: total, ms: elapsed };
}

// jsapiRTT is wispRTT for the JS API.
async function jsapiRTT({ relay, host, port, size, warm, ms, label, worker }) {
	const { load } = await import("/web/sockshim.js");
	const sockshim = await load({ relay, worker });
	const s = new sockshim.TCPSocket(host, port);
	const o = await s.opened;
	const w = o.writable.getWriter();
	const r = o.readable.getReader();
	const out = new Uint8Array(size);
	const once = async (i) => {
		out[0] = i & 0xff;
		w.write(out);
		let got = 0;
		while (got < size) got += (await r.read()).value.byteLength;
	};
	for (let i = 0; i < warm; i++) await once(i);
	await benchMark(label + ":start");
	const rtts = [];
	const end = performance.now() + ms;
	for (let i = 0; performance.now() < end; i++) {
		const t0 = performance.now();
		await once(i);
		rtts.push((performance.now() - t0) * 1000);
	}
	await benchMark(label + ":end");
	await s.close();
	sockshim.terminate();
	rtts.sort((a, b) => a - b);
	return { n: rtts.length, p50: rtts[Math.floor(rtts.length / 2)], p99: rtts[Math.floor(rtts.length * 99 / 100)] };
}

globalThis.bench = { runGo, wispBulk, wispRTT, jsapiBulk, jsapiRTT, crossOriginIsolated: globalThis.crossOriginIsolated };
