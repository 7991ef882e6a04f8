// One UDP service address of the userspace proxy. UDP has no connections, so the proxy
// keeps a session per client address (what conntrack does in the kernel modes): the
// first datagram picks an endpoint and opens a connected upstream socket; replies go
// back to the client from the service address; a session idle for `idleTimeoutMs` is
// forgotten. An endpoint that answers with ICMP port-unreachable (ECONNREFUSED on the
// connected socket) is dropped from the session, which moves to another endpoint.
import dgram from 'node:dgram';
import { errorText } from '../../client/log.js';
import type { BackendEndpoint, RoundRobinBalancer } from './balancer.js';
import type { RelayHooks } from './tcp.js';

export interface UdpListenerOptions {
  ip: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  servicePort: string;
  balancer: RoundRobinBalancer;
  idleTimeoutMs: number;
  hooks: RelayHooks;
}

interface Session {
  clientIP: string;
  clientPort: number;
  endpoint: BackendEndpoint;
  upstream: dgram.Socket;
  connected: boolean;
  /** Datagrams received before the upstream socket connected. */
  queue: Buffer[];
  lastActive: number;
  tried: Set<string>;
}

/** send() throws on a socket closed meanwhile (session ended, listener closed): a lost datagram, as UDP allows. */
function safeSend(sock: dgram.Socket, msg: Buffer, port?: number, address?: string): void {
  try {
    if (port === undefined) sock.send(msg);
    else sock.send(msg, port, address);
  } catch { /* dropped */ }
}

/** Datagrams buffered per session while its upstream socket connects. */
const maxQueued = 64;

export class UdpServiceListener {
  private socket: dgram.Socket | undefined;
  private readonly sessions = new Map<string, Session>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: UdpListenerOptions) {}

  get address(): string { return `${this.o.ip}:${this.o.port}`; }

  get activeSessions(): number { return this.sessions.size; }

  listen(): Promise<void> {
    // SO_REUSEADDR: the proxy that replaces this one binds the same address while this one
    // still holds it, and Linux hands new datagrams to the socket bound last, so no datagram
    // finds the port closed (ICMP port-unreachable) during a restart.
    const sock = dgram.createSocket({ type: this.o.family === 'IPv6' ? 'udp6' : 'udp4', reuseAddr: true });
    this.socket = sock;
    sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    return new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: this.o.ip, port: this.o.port, exclusive: true }, () => {
        sock.off('error', reject);
        sock.on('error', (e) => this.o.hooks.log.warn('userspace UDP listener error', { address: this.address, error: errorText(e) }));
        const every = Math.max(50, Math.min(this.o.idleTimeoutMs / 2, 5_000));
        this.sweepTimer = setInterval(() => this.sweep(), every);
        this.sweepTimer.unref();
        resolve();
      });
    });
  }

  /** Endpoints changed: sessions to endpoints that are gone are dropped (kube-proxy clears their conntrack entries). */
  endpointsChanged(): void {
    const keys = new Set(this.o.balancer.list().map((e) => e.key));
    for (const [k, s] of this.sessions) {
      if (!keys.has(s.endpoint.key)) this.endSession(k, s);
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const [k, s] of this.sessions) this.endSession(k, s);
    const sock = this.socket;
    if (!sock) return Promise.resolve();
    return new Promise<void>((resolve) => {
      try {
        sock.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    const key = `${rinfo.address}|${rinfo.port}`;
    let s = this.sessions.get(key);
    if (!s) {
      const created = this.openSession(key, rinfo.address, rinfo.port, new Set());
      if (!created) return; // no endpoint: the datagram is dropped
      s = created;
      this.o.hooks.onAccept?.();
    }
    s.lastActive = Date.now();
    if (s.connected) safeSend(s.upstream, msg);
    else if (s.queue.length < maxQueued) s.queue.push(msg);
  }

  private openSession(key: string, clientIP: string, clientPort: number, tried: Set<string>, queue: Buffer[] = []): Session | undefined {
    const ep = this.o.balancer.pick(clientIP, tried);
    if (!ep) return undefined;
    tried.add(ep.key);
    const upstream = dgram.createSocket({ type: ep.ip.includes(':') ? 'udp6' : 'udp4' });
    const s: Session = { clientIP, clientPort, endpoint: ep, upstream, connected: false, queue, lastActive: Date.now(), tried };
    this.sessions.set(key, s);
    upstream.on('message', (reply) => {
      s.lastActive = Date.now();
      if (this.socket && !this.closed) safeSend(this.socket, reply, clientPort, clientIP);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      // ECONNREFUSED: the endpoint's host said port unreachable. Move the session elsewhere.
      this.o.hooks.onConnectFailure?.(ep, err);
      this.o.balancer.failed(clientIP, ep.key);
      if (this.sessions.get(key) !== s) return;
      this.endSession(key, s);
      if (err.code === 'ECONNREFUSED' && !this.closed) this.openSession(key, clientIP, clientPort, tried);
    });
    upstream.connect(ep.port, ep.ip, () => {
      s.connected = true;
      for (const m of s.queue.splice(0)) safeSend(upstream, m);
    });
    return s;
  }

  private endSession(key: string, s: Session): void {
    if (this.sessions.get(key) === s) this.sessions.delete(key);
    try {
      s.upstream.close();
    } catch { /* already closed */ }
  }

  private sweep(): void {
    const cutoff = Date.now() - this.o.idleTimeoutMs;
    for (const [k, s] of this.sessions) if (s.lastActive < cutoff) this.endSession(k, s);
  }
}
