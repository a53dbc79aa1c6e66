// TypeScript declarations of sockshim.js: the WICG Direct Sockets API
// (https://wicg.github.io/direct-sockets/) in every browser, through a
// sockshim relay. Checked by tsc in `make test` (test/jsapi/types).

/** Options of {@link load}; every one is optional, and any other key is a TypeError. */
export interface LoadOptions {
  /** The relay's Wisp endpoint (ws:, wss:, http: or https:). Default: this page's origin + "/wisp/". */
  relay?: string;
  /** The app's id in the relay's config (the Wisp password extension's user). */
  appId?: string;
  /** The app's credential. */
  secret?: string;
  /** URL of main.wasm. Default: next to sockshim.js. */
  wasmURL?: string;
  /** Run the wasm and its WebSocket in a dedicated Worker. Default true where Workers exist. */
  worker?: boolean;
}

/**
 * A socket error: a DOMException whose name says what kind of failure
 * ("NetworkError", "NotAllowedError", "NotSupportedError", "TimeoutError",
 * "AbortError", "InvalidStateError", "SyntaxError").
 */
export interface SocketError extends DOMException {
  /** The WinRT SocketErrorStatus name, e.g. "ConnectionRefused", "CertificateUntrustedRoot"; "Unknown" when none applies. */
  readonly status: SocketErrorStatus;
  /** The app's network capabilities at the relay do not allow the operation. */
  readonly accessDenied: boolean;
}

/** https://learn.microsoft.com/uwp/api/windows.networking.sockets.socketerrorstatus */
export type SocketErrorStatus =
  | "Unknown" | "OperationAborted" | "HttpInvalidServerResponse" | "ConnectionTimedOut"
  | "AddressFamilyNotSupported" | "SocketTypeNotSupported" | "HostNotFound"
  | "NoDataRecordOfRequestedType" | "NonAuthoritativeHostNotFound" | "ClassTypeNotFound"
  | "AddressAlreadyInUse" | "CannotAssignRequestedAddress" | "ConnectionRefused"
  | "NetworkIsUnreachable" | "UnreachableHost" | "NetworkIsDown"
  | "NetworkDroppedConnectionOnReset" | "SoftwareCausedConnectionAbort" | "ConnectionResetByPeer"
  | "HostIsDown" | "NoAddressesFound" | "TooManyOpenFiles" | "MessageTooLong"
  | "CertificateExpired" | "CertificateUntrustedRoot" | "CertificateCommonNameIsIncorrect"
  | "CertificateWrongUsage" | "CertificateRevoked" | "CertificateNoRevocationCheck"
  | "CertificateRevocationServerOffline" | "CertificateIsInvalid"
  | (string & {});

export interface TCPSocketOptions {
  /** Nagle's algorithm off. The relay always sets TCP_NODELAY: false fails with NotSupportedError. */
  noDelay?: boolean;
  /** TCP keep-alive delay in ms (at least 1000). Through a relay: NotSupportedError (the relay keeps its own). */
  keepAliveDelay?: number;
  /** Bytes written and not yet taken by the relay before writer.ready waits. Default 1 MiB. */
  sendBufferSize?: number;
  /** Bytes the readable queues unread before the socket stops reading the relay. Default 1 MiB. */
  receiveBufferSize?: number;
  /**
   * "on": TLS at once; "starttls": plain until {@link TCPSocket.startTls}. Both run TLS in the
   * wasm (Go crypto/tls), end to end: the relay sees only ciphertext. Default "off".
   *
   * "relay" (sockshim's, Go's ProtectionLevelRelayTls) is NOT end to end: the relay opens the
   * connection and does the TLS handshake itself, sending the remote address as the server
   * name and checking the certificate against it with the relay's own roots; the tunnel
   * carries plaintext, which the relay sees and could alter. Use it only with a relay you
   * run, to save the tab's handshake. info().protectionLevel is then "RelayTls" and there is
   * no serverCertificate. A certificate the relay refuses or a server without TLS rejects
   * opened with status "CertificateIsInvalid". opened rejects with NotSupportedError with
   * caPEM, with a serverName other than the remote address, with sendBufferSize, hopLimit
   * or serializeConnectionAttempts, and through a relay that cannot do it (plain Wisp
   * servers); startTls() is an InvalidStateError.
   */
  secureTransport?: "off" | "on" | "starttls" | "relay";
  /** The name the server certificate is checked against; default the remote address. Not with "relay". */
  serverName?: string;
  /** PEM certificates to trust as roots, for private CAs (TLS in the wasm only: not with "relay"). */
  caPEM?: string;
  /** Aborting closes the socket: opened, pending reads and writes reject with AbortError. */
  signal?: AbortSignal;
  /**
   * sockshim: the IP TTL (IPv6: hop limit) of the real connection's packets, 1-255
   * (WinRT's OutboundUnicastHopLimit); default the relay's system default.
   * sendBufferSize is also the real socket's SO_SNDBUF (OutboundBufferSizeInBytes).
   * A relay without sockshim's TCP control extension rejects either with NotSupportedError.
   */
  hopLimit?: number;
  /**
   * sockshim: try a host name's addresses one at a time (WinRT's SerializeConnectionAttempts);
   * default false, attempts overlap (Happy Eyeballs, RFC 8305).
   */
  serializeConnectionAttempts?: boolean;
}

/** WinRT's RoundTripTimeStatistics, in microseconds: sum is the smoothed RTT, variance its variation. */
export interface RoundTripTimeStatistics { min: number; max: number; sum: number; variance: number }

/** WinRT's BandwidthStatistics, in bits per second. */
export interface BandwidthStatistics {
  outboundBitsPerSecond: number;
  inboundBitsPerSecond: number;
  outboundBitsPerSecondInstability: number;
  inboundBitsPerSecondInstability: number;
  outboundBandwidthPeaked: boolean;
  inboundBandwidthPeaked: boolean;
}

export interface TCPSocketOpenInfo {
  readable: ReadableStream<Uint8Array>;
  /** Takes Uint8Array chunks (at run time any BufferSource); typed Uint8Array so readable.pipeTo(writable) checks. */
  writable: WritableStream<Uint8Array>;
  /** The relay's view of the connection. */
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

/** What info() reports; statistics are since the socket opened. */
export interface SocketInfo {
  /** "websocket", or "datachannel" for a UDPSocket on a WebRTC data channel. */
  transport: "websocket" | "datachannel";
  /** Why a lowLatency UDPSocket stays on the WebSocket (e.g. no RTCPeerConnection in a Worker). */
  transportReason?: string;
  /** The Wisp endpoint. */
  relay: string;
  /** Whether the instance runs in a Worker. */
  worker: boolean;
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
}

export interface TCPSocketInfo extends SocketInfo {
  /** WinRT SocketProtectionLevel: "PlainSocket", "Tls12", "Ssl" (TLS 1.3), ... */
  protectionLevel: string;
  /** Subject of the server certificate, with TLS. */
  serverCertificate?: string;
  bytesSent: number;
  bytesReceived: number;
  /** Bytes written and not yet taken by the relay. */
  bytesQueued: number;
  /** Milliseconds since the socket opened. */
  openMs: number;
  /**
   * WinRT's BandwidthStatistics as measured in this tab: what the socket moved
   * through the tunnel, in bits per second, over the interval since the
   * previous info() call (since open, the first time).
   */
  bandwidthStatistics: { inboundBitsPerSecond: number; outboundBitsPerSecond: number; intervalMs: number };
  /** The real TCP connection (relay to server), from the relay's TCP_INFO; absent when the relay cannot say (statisticsError). */
  roundTripTimeStatistics?: RoundTripTimeStatistics;
  /** The real TCP connection's bandwidth, from the relay's TCP_INFO (Go: StreamSocket.RefreshInformation says how). */
  connectionBandwidthStatistics?: BandwidthStatistics;
  /** This tab to the relay and back (the session's PING/PONG), shared by the instance's sockets; in steps of the browser's clock resolution (Firefox: 1 ms unless cross-origin isolated), so a fast round trip can read 0. */
  tunnelRoundTripTimeStatistics?: RoundTripTimeStatistics;
  /** Why the connection's statistics are missing (e.g. a plain Wisp relay). */
  statisticsError?: string;
}

export interface UDPSocketInfo extends SocketInfo {
  datagramsSent: number;
  datagramsReceived: number;
}

export interface TCPSocket {
  readonly opened: Promise<TCPSocketOpenInfo>;
  /** Resolves once both directions ended or close() was called; rejects with the error that ended the socket. */
  readonly closed: Promise<void>;
  /** Closes both directions. On a socket already closed (by close(), or both directions ended) it returns `closed`, as the Direct Sockets spec has it; on one that never opened it rejects with InvalidStateError. */
  close(): Promise<void>;
  /** Upgrades a "starttls" socket after every byte written so far; the same streams then carry TLS. */
  startTls(): Promise<TCPSocketOpenInfo>;
  info(): Promise<TCPSocketInfo>;
  /**
   * Hands the socket to the relay's socket broker (after every byte written so far); the socket is
   * closed when this resolves, its readable ending after what it already holds. A later page of the
   * same app reclaims it with allSockets(). A TLS socket cannot be transferred (NotSupportedError).
   */
  transferOwnership(socketId: string, options?: TransferOptions): Promise<void>;
}

/** transferOwnership's options (WinRT's TransferOwnership arguments). */
export interface TransferOptions {
  /** Handed back by allSockets() (WinRT's SocketActivityContext); a string is UTF-8; at most 4096 bytes. */
  context?: string | BufferSource;
  /** ms, at least 1000 (whole seconds at the relay): raises "KeepAliveTimerExpired" and keeps the socket held (each tick renews its lease, up to the app's broker.maxLeaseSeconds). */
  keepAliveTime?: number;
  /** Names the task that handles the socket's activity (WinRT's EnableTransferOwnership(taskId)). */
  taskId?: string;
}

/** Why a held socket wants its app (WinRT's SocketActivityTriggerReason). */
export type SocketActivityReason = "Unknown" | "SocketActivity" | "ConnectionAccepted" | "KeepAliveTimerExpired" | "SocketClosed";

/** One socket the broker holds for the app (WinRT's SocketActivityInformation). */
export interface SocketActivity {
  /** The socketId it was transferred under; a held listener's connections are "<id>/<n>". */
  readonly id: string;
  readonly kind: "TCPSocket" | "TCPServerSocket" | "UDPSocket";
  readonly reason: SocketActivityReason;
  readonly taskId: string;
  readonly context: Uint8Array;
  /** Bytes the broker holds unread for it. */
  readonly buffered: number;
  /** Attaches it to this instance, open: what the broker held is read first, in order. Rejects (SyntaxError) if it was reclaimed already or its lease ended. */
  reclaim(): Promise<TCPSocket | TCPServerSocket | UDPSocket>;
}

export interface TCPSocketConstructor {
  new (remoteAddress: string, remotePort: number, options?: TCPSocketOptions): TCPSocket;
  readonly prototype: TCPSocket;
}

export interface UDPSocketOptions {
  /** Connected mode: the peer. */
  remoteAddress?: string;
  remotePort?: number;
  /** Bound mode: an IP address of the relay ("127.0.0.1", "0.0.0.0", "::"), and a port (0: any). */
  localAddress?: string;
  localPort?: number;
  sendBufferSize?: number;
  /** Bytes of received datagrams the relay-side socket holds unread. */
  receiveBufferSize?: number;
  /**
   * sockshim: ask for a WebRTC data channel (unordered, no retransmits). In a
   * Worker there is no RTCPeerConnection: the socket stays on the WebSocket,
   * logs why, and info().transportReason says so.
   */
  lowLatency?: boolean;
  signal?: AbortSignal;
}

export interface UDPMessage {
  data: BufferSource;
  /** Required on a bound socket, absent on a connected one. */
  remoteAddress?: string;
  remotePort?: number;
}

export interface UDPReceivedMessage {
  data: Uint8Array;
  remoteAddress: string;
  remotePort: number;
}

export interface UDPSocketOpenInfo {
  readable: ReadableStream<UDPReceivedMessage>;
  writable: WritableStream<UDPMessage>;
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
}

export interface UDPSocket {
  readonly opened: Promise<UDPSocketOpenInfo>;
  readonly closed: Promise<void>;
  close(): Promise<void>;
  info(): Promise<UDPSocketInfo>;
  /** Hands the socket to the broker; the relay keeps receiving on its port (past 1 MiB or 4096 datagrams it drops: UDP has no flow control). */
  transferOwnership(socketId: string, options?: TransferOptions): Promise<void>;
}

export interface UDPSocketConstructor {
  new (options: UDPSocketOptions): UDPSocket;
  readonly prototype: UDPSocket;
}

export interface TCPServerSocketOptions {
  /** 0 or absent: any port the relay allows. */
  localPort?: number;
  backlog?: number;
  signal?: AbortSignal;
}

export interface TCPServerSocketOpenInfo {
  /** Each accepted connection, already open. */
  readable: ReadableStream<TCPSocket>;
  /** Where others connect (the relay's configured public host, or the bound address). */
  localAddress: string;
  localPort: number;
}

export interface TCPServerSocket {
  readonly opened: Promise<TCPServerSocketOpenInfo>;
  readonly closed: Promise<void>;
  /** Stops listening and ends the readable (a for-await loop over it finishes); accepted sockets stay open. */
  close(): Promise<void>;
  info(): Promise<SocketInfo & { localAddress: string; localPort: number }>;
  /** Hands the listener to the broker: the relay goes on accepting on its port and holds each connection ("<socketId>/<n>"). */
  transferOwnership(socketId: string, options?: TransferOptions): Promise<void>;
}

export interface TCPServerSocketConstructor {
  /** A listener held by the relay; localAddress is one of the relay's IP addresses. */
  new (localAddress: string, options?: TCPServerSocketOptions): TCPServerSocket;
  readonly prototype: TCPServerSocket;
}

/** One loaded instance: its classes use its relay and its wasm. */
export interface Sockshim {
  readonly TCPSocket: TCPSocketConstructor;
  readonly UDPSocket: UDPSocketConstructor;
  readonly TCPServerSocket: TCPServerSocketConstructor;
  /** The Wisp endpoint. */
  readonly relay: string;
  /** Whether the wasm runs in a dedicated Worker. */
  readonly worker: boolean;
  readonly version: string;
  /** GETs url with Go's net/http in the wasm, over real TCP through the relay (not fetch: no CORS, any port); the body is its first 4 KiB. */
  httpGet(url: string): Promise<HTTPResponse>;
  /** Calls f for each diagnostic the instance logs (also console.info); returns a function that stops it. */
  onLog(f: (message: string) => void): () => void;
  /** What the relay's socket broker holds for this app (transferred by this or an earlier page); listing renews every lease. */
  allSockets(): Promise<SocketActivity[]>;
  /**
   * Registers the app's Web Push subscription with the broker (null removes it): on activity the relay
   * pushes JSON {socketId, kind, reason, taskId} to it. Rejects with NotAllowedError unless the relay's
   * config lists the subscription's push service for the app (broker.push.endpoints).
   */
  setPushSubscription(subscription: PushSubscription | PushSubscriptionJSON | null): Promise<void>;
  /** Ends the instance: its Worker stops (in-page: its sockets close); open sockets fail with NetworkError, later calls reject. If the wasm exits or the Worker fails, the same happens by itself. */
  terminate(): void;
}

/** What httpGet resolves to. */
export interface HTTPResponse {
  readonly status: number;
  readonly statusText: string;
  readonly proto: string;
  readonly contentType: string;
  readonly body: string;
}

/** Loads an instance: the wasm, in a Worker unless worker is false. */
export function load(options?: LoadOptions): Promise<Sockshim>;
