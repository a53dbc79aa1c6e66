// A small typed app on the installed package ("sockshim" is web/, linked by
// npm as a file: dependency): tsc must accept it with strict checks, and
// reject the misuses below (each marked @ts-expect-error).
import { load, type Sockshim, type SocketError, type TCPSocketInfo } from "sockshim";

export async function echo(text: string): Promise<string> {
  const sockshim: Sockshim = await load({ relay: "wss://relay.example/wisp/", appId: "app", secret: "s" });
  const socket = new sockshim.TCPSocket("echo.example", 7, { noDelay: true, secureTransport: "starttls" });
  const { readable, writable, remotePort } = await socket.opened;
  const port: number = remotePort;
  const writer = writable.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await socket.startTls();
  const reader = readable.getReader({ mode: "byob" });
  const { value } = await reader.read(new Uint8Array(1024));
  const info: TCPSocketInfo = await socket.info();
  console.log(port, info.bytesSent, info.protectionLevel, info.transport);
  await socket.close();
  return new TextDecoder().decode(value);
}

export async function datagrams(s: Sockshim): Promise<void> {
  const u = new s.UDPSocket({ localAddress: "0.0.0.0", lowLatency: true });
  const { readable, writable } = await u.opened;
  await writable.getWriter().write({ data: new Uint8Array([1]), remoteAddress: "192.0.2.1", remotePort: 53 });
  for await (const m of readable) {
    const from: string = m.remoteAddress;
    const bytes: Uint8Array = m.data;
    console.log(from, bytes.byteLength);
  }
  const info = await u.info();
  console.log(info.transport === "datachannel", info.transportReason, info.datagramsReceived);
}

export async function server(s: Sockshim): Promise<void> {
  const srv = new s.TCPServerSocket("127.0.0.1", { localPort: 0 });
  const { readable, localPort } = await srv.opened;
  console.log(localPort);
  for await (const conn of readable) {
    const o = await conn.opened;
    await o.readable.pipeTo(o.writable);
  }
}

export function errors(e: unknown): string {
  const se = e as SocketError;
  const denied: boolean = se.accessDenied;
  return `${se.name} ${se.status} ${denied}`;
}

export async function misuse(s: Sockshim): Promise<void> {
  // @ts-expect-error unknown load option
  await load({ relays: "x" });
  // @ts-expect-error secureTransport is "off" | "on" | "starttls"
  new s.TCPSocket("h", 1, { secureTransport: "tls" });
  // @ts-expect-error the port is a number
  new s.TCPSocket("h", "80");
  // @ts-expect-error UDPSocket needs options
  new s.UDPSocket();
}

// The real connection's options and statistics (StreamSocketControl, RefreshInformation).
export async function statistics(s: Sockshim): Promise<number> {
  const socket = new s.TCPSocket("example.com", 443, { sendBufferSize: 65536, hopLimit: 32, serializeConnectionAttempts: true });
  await socket.opened;
  const info = await socket.info();
  const rtt = info.roundTripTimeStatistics;
  const tunnel = info.tunnelRoundTripTimeStatistics;
  const peaked: boolean | undefined = info.connectionBandwidthStatistics?.outboundBandwidthPeaked;
  console.log(peaked, info.statisticsError);
  // @ts-expect-error hopLimit is a number
  new s.TCPSocket("h", 1, { hopLimit: "32" });
  return (rtt?.sum ?? 0) + (tunnel?.sum ?? 0);
}

// The socket broker: hand a socket over, reclaim it from a later page.
export async function broker(s: Sockshim): Promise<void> {
  const socket = new s.TCPSocket("chat.example", 6667);
  await socket.opened;
  await socket.transferOwnership("chat", { context: "room 7", keepAliveTime: 60_000, taskId: "chat-task" });
  for (const held of await s.allSockets()) {
    const why: "Unknown" | "SocketActivity" | "ConnectionAccepted" | "KeepAliveTimerExpired" | "SocketClosed" = held.reason;
    const ctx: Uint8Array = held.context;
    console.log(held.id, held.kind, why, ctx.byteLength, held.buffered);
    const back = await held.reclaim();
    await back.close();
  }
  const reg = await navigator.serviceWorker.ready;
  await s.setPushSubscription(await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: "BPub" }));
  await s.setPushSubscription(null);
  // @ts-expect-error keepAliveTime is a number of ms
  await socket.transferOwnership("chat", { keepAliveTime: "1m" });
}
