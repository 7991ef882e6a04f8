// One TCP service address (ClusterIP:port, NodeIP:nodePort, …) of the userspace proxy:
// accepts, picks an endpoint, connects (retrying the other endpoints when one refuses or
// times out), then relays both directions with backpressure and half-close
// (allowHalfOpen: a FIN from one side is passed on, the other direction keeps flowing).
// A reset on one side resets the other.
//
// The relay reads into buffers it owns (`onread`, see buffers.ts) rather than through
// the stream machinery's 'data' events, which allocate a buffer per read: bulk transfers
// go through one large reused buffer per direction with one write per read and no copy.
import net from 'node:net';
import { errorText, type Logger } from '../../client/log.js';
import type { BackendEndpoint, RoundRobinBalancer } from './balancer.js';
import { RelayBufferPool } from './buffers.js';

export interface RelayHooks {
  log: Logger;
  /** A client was accepted (counts connections). */
  onAccept?(): void;
  /** An attempt to reach `ep` failed; another endpoint is tried if one is left. */
  onConnectFailure?(ep: BackendEndpoint, err: Error): void;
}

export interface TcpListenerOptions {
  ip: string;
  port: number;
  /** The ServicePort it serves (`ns/name:port`), for logs. */
  servicePort: string;
  balancer: RoundRobinBalancer;
  connectTimeoutMs: number;
  hooks: RelayHooks;
  /** Read buffers; listeners of one proxy share one pool. */
  buffers?: RelayBufferPool;
  /** Read accepted connections through 'data' events instead of `onread` (tests: the fallback path). */
  streamClientReads?: boolean;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`, so affinity keys are the same whichever stack accepted. */
export function normalizeAddress(a: string | undefined): string {
  if (!a) return '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function reset(s: net.Socket): void {
  if (s.destroyed) return;
  // An RST tells the peer the other side failed, as the kernel path would.
  if (typeof s.resetAndDestroy === 'function' && s.readyState !== 'opening') s.resetAndDestroy();
  else s.destroy();
}

/**
 * The other side sent its FIN: pass it on. When `s` has nothing left to read or write
 * either, closing it sends the same FIN without a separate shutdown() first.
 */
function passFin(s: net.Socket): void {
  if (s.readableEnded && s.writableLength === 0) s.destroy();
  else s.end();
}

function ignore(): void { /* errors are handled by the relay's reset logic */ }

type OnRead = { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean };

// ------------------------------------------------------------------ onread for accepted sockets
//
// `onread` is an option of `new net.Socket()` / `net.connect()`, but net.Server builds
// the sockets it accepts itself and has no such option. An accepted socket can take it
// before it starts reading (pauseOnConnect), by setting what the Socket constructor
// would have set: three symbol-keyed fields and the handle's user buffer. The symbols
// are private to node:net, so they are found once by building a socket with known
// onread values and looking for them; if anything is not as expected, accepted sockets
// fall back to 'data' events (correct, just slower).

interface OnreadFields { kBuffer: symbol; kBufferCb: symbol; kBufferGen: symbol }
let onreadFields: OnreadFields | null | undefined;

function findOnreadFields(): OnreadFields | null {
  const gen = (): Buffer => Buffer.alloc(1);
  const cb = (): boolean => true;
  const probe = new net.Socket({ onread: { buffer: gen, callback: cb } } as net.SocketConstructorOpts);
  const rec = probe as unknown as Record<symbol, unknown>;
  let kBuffer: symbol | undefined;
  let kBufferCb: symbol | undefined;
  let kBufferGen: symbol | undefined;
  for (const sym of Object.getOwnPropertySymbols(probe)) {
    const v = rec[sym];
    if (v === cb) kBufferCb = sym;
    else if (v === gen) kBufferGen = sym;
    else if (v === true && sym.description === 'kBuffer') kBuffer = sym;
  }
  probe.destroy();
  return kBuffer && kBufferCb && kBufferGen ? { kBuffer, kBufferCb, kBufferGen } : null;
}

/** Makes a paused, accepted socket read through `onread`. False (nothing changed) when this Node cannot. */
function adoptOnread(s: net.Socket, onread: OnRead): boolean {
  if (onreadFields === undefined) onreadFields = findOnreadFields();
  const f = onreadFields;
  const handle = (s as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void; reading?: boolean } })._handle;
  if (!f || !handle || typeof handle.useUserBuffer !== 'function' || handle.reading) return false;
  const first = onread.buffer();
  const rec = s as unknown as Record<symbol, unknown>;
  rec[f.kBuffer] = first;
  rec[f.kBufferGen] = onread.buffer;
  rec[f.kBufferCb] = onread.callback;
  handle.useUserBuffer(first);
  return true;
}

// ------------------------------------------------------------------ relay

/**
 * One direction of a relay: what is read from `from` is written to `to`. At most one
 * write is pending: while the kernel has not taken it, `from` is not read
 * (backpressure), and a FIN from `from` ends `to`.
 */
class Flow {
  from: net.Socket | undefined;
  private buf: Buffer;
  private lastRead = 0;
  private stalled = false;

  constructor(private readonly pool: RelayBufferPool, private readonly to: net.Socket) {
    this.buf = pool.shared;
  }

  /** For net.connect's `onread` option. */
  readonly onread: OnRead = {
    // Called right after each read's callback: where the next read goes.
    buffer: () => (this.buf = this.pool.next(this.buf, this.lastRead, this.to.writableLength > 0)),
    callback: (n, b) => this.relay(n, b),
  };

  private relay(n: number, b: Buffer): boolean {
    let chunk: Buffer;
    if (b === this.pool.shared) {
      // The shared buffer is every connection's next read: what is written from it is a copy.
      chunk = Buffer.allocUnsafe(n);
      b.copy(chunk, 0, 0, n);
    } else {
      chunk = n === b.length ? b : b.subarray(0, n);
    }
    this.lastRead = n;
    this.to.write(chunk, this.written);
    // Not all taken by the kernel: the rest is written from `chunk` later, so nothing
    // more is read (into the same buffer) until it is.
    if (this.to.writableLength === 0) return true;
    this.stalled = true;
    this.pool.stalls++;
    return false; // readStop
  }

  private readonly written = (): void => {
    if (this.stalled && this.to.writableLength === 0) {
      this.stalled = false;
      this.from?.resume();
    }
  };

  /** 'data' events (accepted sockets when onread cannot be adopted): the same backpressure. */
  stream(from: net.Socket): void {
    from.on('data', (chunk: Buffer) => {
      this.to.write(chunk, this.written);
      if (this.to.writableLength > 0) {
        this.stalled = true;
        this.pool.stalls++;
        from.pause();
      }
    });
  }

  /** Both sockets closed: no write can still be reading the buffer. */
  release(): void {
    if (this.buf !== this.pool.shared) this.pool.release(this.buf);
    this.buf = this.pool.shared;
  }
}

const noneTried: ReadonlySet<string> = new Set();

class TcpRelay {
  upstream: net.Socket | undefined;
  /** When the pending connect gives up (ms since the epoch), while connecting. */
  deadline = 0;
  private clientIP: string | undefined;
  private tried: Set<string> | undefined;
  private ep: BackendEndpoint | undefined;
  private clientGone = false;
  private closedSides = 0;
  private readonly toClient: Flow;
  /** Set once connected: the relay is spliced. */
  private toUpstream: Flow | undefined;

  constructor(private readonly l: TcpServiceListener, readonly client: net.Socket, private readonly pool: RelayBufferPool) {
    this.toClient = new Flow(pool, client);
    // One listener per event and socket for the relay's whole life (no once() wrappers).
    client.on('error', this.onClientError);
    client.on('close', this.onClientClose);
  }

  private readonly onClientError = (): void => {
    // Before the splice the client's close ends the attempt; after it, a reset is passed on.
    if (this.toUpstream) reset(this.upstream!);
  };

  private readonly onClientClose = (): void => {
    this.clientGone = true;
    if (!this.toUpstream && this.upstream) {
      this.l.connecting.delete(this);
      this.upstream.destroy();
    }
    this.sideClosed();
  };

  private readonly onUpstreamClose = (): void => { this.sideClosed(); };

  private sideClosed(): void {
    // The client, plus the upstream if one was connected.
    if (++this.closedSides < (this.toUpstream ? 2 : 1)) return;
    this.toClient.release();
    this.toUpstream?.release();
    this.l.relayClosed(this);
  }

  /** Picks an endpoint and connects; on failure, the next one. */
  attempt(): void {
    if (this.clientGone) return;
    const o = this.l.opts;
    const b = o.balancer;
    if (b.needsClientIP && this.clientIP === undefined) this.clientIP = normalizeAddress(this.client.remoteAddress);
    const ep = b.pick(this.clientIP ?? '', this.tried ?? noneTried);
    if (!ep) {
      // Nothing left to try: the closest thing to REJECT a userspace proxy has.
      o.hooks.log.debug('userspace proxy: no endpoint reachable', { servicePort: o.servicePort, tried: [...(this.tried ?? [])] });
      reset(this.client);
      return;
    }
    this.ep = ep;
    const up = net.connect({ host: ep.ip, port: ep.port, allowHalfOpen: true, noDelay: true, onread: this.toClient.onread } as net.NetConnectOpts);
    this.upstream = up;
    this.toClient.from = up;
    up.on('error', this.onUpstreamError);
    up.on('connect', this.onConnect);
    this.l.connectStarted(this);
  }

  /** The listener's deadline sweep: this connect took too long. */
  connectTimedOut(): void {
    const err = Object.assign(new Error(`connect to ${this.ep?.key} timed out`), { code: 'ETIMEDOUT' });
    this.connectFailed(err);
  }

  private readonly onUpstreamError = (err: Error): void => {
    if (this.toUpstream) reset(this.client);
    else this.connectFailed(err);
  };

  private connectFailed(err: Error): void {
    const up = this.upstream!;
    const ep = this.ep!;
    this.l.connecting.delete(this);
    up.off('connect', this.onConnect);
    up.off('error', this.onUpstreamError);
    up.on('error', ignore);
    up.destroy();
    this.upstream = undefined;
    const o = this.l.opts;
    o.hooks.onConnectFailure?.(ep, err);
    o.balancer.failed(this.clientIP ?? '', ep.key);
    (this.tried ??= new Set()).add(ep.key);
    this.attempt();
  }

  private readonly onConnect = (): void => {
    const up = this.upstream!;
    const client = this.client;
    this.l.connecting.delete(this);
    if (this.clientGone) {
      up.destroy();
      return;
    }
    const toUpstream = new Flow(this.pool, up);
    this.toUpstream = toUpstream;
    toUpstream.from = client;
    up.on('close', this.onUpstreamClose);
    // Half-close: a FIN is passed on, the other direction keeps flowing.
    client.on('end', () => passFin(up));
    up.on('end', () => passFin(client));
    if (this.l.opts.streamClientReads || !adoptOnread(client, toUpstream.onread)) toUpstream.stream(client);
    client.resume();
  };
}

export class TcpServiceListener {
  private server: net.Server | undefined;
  private readonly relays = new Set<TcpRelay>();
  private closed = false;
  private readonly pool: RelayBufferPool;

  constructor(readonly opts: TcpListenerOptions) {
    this.pool = opts.buffers ?? new RelayBufferPool();
  }

  get address(): string { return `${this.opts.ip}:${this.opts.port}`; }

  /** Open relays (accepted and not yet closed on both sides). */
  get activeConnections(): number { return this.relays.size; }

  /**
   * Binds the address, or serves `inherited`: a listening socket of the proxy this one
   * replaces (node:net's raw TCP handle, received over an IPC channel), which keeps its
   * accept queue, so that no connection is refused or reset in the handover.
   */
  listen(inherited?: object): Promise<void> {
    // noDelay: relayed writes are already whole reads; Nagle would only delay the small ones.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (c) => this.accept(c));
    this.server = server;
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const onListening = () => {
        server.off('error', reject);
        server.on('error', (e) => this.opts.hooks.log.warn('userspace TCP listener error', { address: this.address, error: errorText(e) }));
        resolve();
      };
      // server.listen(handle) takes node:net's own handle type (what IPC delivers).
      if (inherited) server.listen(inherited as net.ListenOptions, onListening);
      else server.listen({ host: this.opts.ip, port: this.opts.port, exclusive: true }, onListening);
    });
  }

  /** The listening socket's raw handle (node:net's private `_handle`), to hand over; undefined when not listening. */
  get handle(): object | undefined {
    const s = this.server as (net.Server & { _handle?: object | null }) | undefined;
    return s?.listening && !this.closed ? s._handle ?? undefined : undefined;
  }

  /** Stops accepting; relays already open keep going (a reconfigure must not cut them). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    const s = this.server;
    if (!s || !s.listening) return Promise.resolve();
    // server.close's callback waits for every connection to end; the port itself is free
    // once libuv has closed the handle, one loop turn later.
    s.close(() => undefined);
    return new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Ends every relay now (proxy shutdown). */
  destroyConnections(): void {
    this.connecting.clear();
    for (const r of [...this.relays]) {
      r.client.destroy();
      r.upstream?.destroy();
    }
    this.relays.clear();
    this.idle();
  }

  private idleWaiters: (() => void)[] = [];

  /** Resolves once no relay is open (at once when none is): a graceful stop's drain. */
  whenIdle(): Promise<void> {
    if (this.relays.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private idle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** @internal */
  relayClosed(r: TcpRelay): void {
    this.relays.delete(r);
    if (this.relays.size === 0 && this.idleWaiters.length) this.idle();
  }

  /**
   * Relays waiting for their upstream connect, checked by one sweep timer (while any is
   * pending) rather than a timer per connection. @internal
   */
  readonly connecting = new Set<TcpRelay>();
  private sweepTimer: NodeJS.Timeout | undefined;

  /** @internal */
  connectStarted(r: TcpRelay): void {
    r.deadline = Date.now() + this.opts.connectTimeoutMs;
    this.connecting.add(r);
    if (this.sweepTimer) return;
    // A deadline is met within a tenth of the timeout (at most 100 ms).
    const every = Math.max(5, Math.min(100, this.opts.connectTimeoutMs / 10));
    this.sweepTimer = setInterval(() => this.sweepConnects(), every);
    this.sweepTimer.unref();
  }

  private sweepConnects(): void {
    const now = Date.now();
    for (const r of this.connecting) if (r.deadline <= now) r.connectTimedOut();
    if (this.connecting.size === 0) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  private accept(client: net.Socket): void {
    this.opts.hooks.onAccept?.();
    const relay = new TcpRelay(this, client, this.pool);
    this.relays.add(relay);
    relay.attempt();
  }
}
