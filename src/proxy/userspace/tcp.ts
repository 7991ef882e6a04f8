// One TCP service address (ClusterIP:port, NodeIP:nodePort, …) of the userspace proxy:
// accepts, picks an endpoint, connects (retrying the other endpoints when one refuses or
// times out), then relays both directions with backpressure (stream piping) and
// half-close (allowHalfOpen: a FIN from one side is passed on, the other direction
// keeps flowing). A reset on one side resets the other.
import net from 'node:net';
import { errorText, type Logger } from '../../client/log.js';
import type { BackendEndpoint, RoundRobinBalancer } from './balancer.js';

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
}

interface Relay { client: net.Socket; upstream?: net.Socket }

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
 * Copies `from` into `to` with backpressure (pause the reader while the writer's buffer
 * is full), and passes a FIN on: when `from` ends, `to` is ended, while the other
 * direction keeps flowing (allowHalfOpen). A lighter pipe() for the relay's hot path.
 */
function forward(from: net.Socket, to: net.Socket): void {
  const resume = (): void => { from.resume(); };
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', resume);
    }
  });
  from.once('end', () => { to.end(); });
}

export class TcpServiceListener {
  private server: net.Server | undefined;
  private readonly relays = new Set<Relay>();
  private closed = false;

  constructor(private readonly o: TcpListenerOptions) {}

  get address(): string { return `${this.o.ip}:${this.o.port}`; }

  /** Open relays (accepted and not yet closed on both sides). */
  get activeConnections(): number { return this.relays.size; }

  listen(): Promise<void> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (c) => this.accept(c));
    this.server = server;
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.o.ip, port: this.o.port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (e) => this.o.hooks.log.warn('userspace TCP listener error', { address: this.address, error: errorText(e) }));
        resolve();
      });
    });
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
    for (const r of [...this.relays]) {
      r.client.destroy();
      r.upstream?.destroy();
    }
    this.relays.clear();
  }

  private accept(client: net.Socket): void {
    this.o.hooks.onAccept?.();
    const relay: Relay = { client };
    this.relays.add(relay);
    const clientIP = normalizeAddress(client.remoteAddress);
    const tried = new Set<string>();
    let clientGone = false;
    client.on('error', () => undefined);
    const onEarlyClose = (): void => {
      clientGone = true;
      relay.upstream?.destroy();
      this.relays.delete(relay);
    };
    client.once('close', onEarlyClose);

    const attempt = (): void => {
      if (clientGone) return;
      const ep = this.o.balancer.pick(clientIP, tried);
      if (!ep) {
        // Nothing left to try: the closest thing to REJECT a userspace proxy has.
        this.o.hooks.log.debug('userspace proxy: no endpoint reachable', { servicePort: this.o.servicePort, tried: [...tried] });
        reset(client);
        this.relays.delete(relay);
        return;
      }
      tried.add(ep.key);
      const up = net.connect({ host: ep.ip, port: ep.port, allowHalfOpen: true });
      relay.upstream = up;
      // The socket's own idle timer (cheaper than a timer per connection) bounds the connect.
      up.setTimeout(this.o.connectTimeoutMs);
      const onTimeout = (): void => {
        up.destroy(Object.assign(new Error(`connect to ${ep.key} timed out`), { code: 'ETIMEDOUT' }));
      };
      up.once('timeout', onTimeout);
      const onFail = (err: Error): void => {
        up.off('timeout', onTimeout);
        up.destroy();
        this.o.hooks.onConnectFailure?.(ep, err);
        this.o.balancer.failed(clientIP, ep.key);
        attempt();
      };
      up.once('error', onFail);
      up.once('connect', () => {
        up.setTimeout(0);
        up.off('timeout', onTimeout);
        up.off('error', onFail);
        if (clientGone) {
          up.destroy();
          this.relays.delete(relay);
          return;
        }
        client.off('close', onEarlyClose);
        this.splice(relay, client, up);
      });
    };
    attempt();
  }

  private splice(relay: Relay, client: net.Socket, up: net.Socket): void {
    up.setNoDelay(true);
    client.setNoDelay(true);
    let closedSides = client.destroyed ? 1 : 0;
    const onClose = () => {
      if (++closedSides >= 2) this.relays.delete(relay);
    };
    client.once('close', onClose);
    up.once('close', onClose);
    client.on('error', () => reset(up));
    up.on('error', () => reset(client));
    forward(client, up);
    forward(up, client);
    client.resume();
  }
}
