// healthCheckNodePort servers (kube-proxy's pkg/proxy/healthcheck/service_health.go): for
// every LoadBalancer Service with externalTrafficPolicy: Local, an HTTP server on the
// service's healthCheckNodePort answers 200 when this node has local ready endpoints
// (and the proxy is healthy), 503 otherwise, so the load balancer only sends traffic to
// nodes that will not drop it.
//
// In netns mode those ports must be open inside the node's network namespace, which a
// process in the host namespace cannot do with a plain listen(): sockets belong to the
// namespace they were created in. So the servers get their sockets from a
// `ListenerFactory`: `hostListeners` listens here; `NetnsListenerFactory` (netns.ts)
// has a helper process inside the namespace create the listening socket and pass it
// back over IPC, after which this process serves it.
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { errorText, silentLogger, type Logger } from '../../client/log.js';
import type { ProxySnapshot } from '../snapshot.js';
import { bindWhenFree, fastBindRetryMs } from '../bindwait.js';

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface HttpListener {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface ListenerFactory {
  /** Serves `handler` on host:port where the node's traffic arrives (its network namespace). */
  listenHttp(host: string, port: number, handler: HttpHandler): Promise<HttpListener>;
  /** Releases what the factory holds (helper processes). */
  close?(): Promise<void>;
}

/** Serves `handler` on an already listening server handle (one received from a helper, or our own). */
export function serveHttp(handler: HttpHandler, listen: (server: http.Server) => Promise<void>): Promise<{ server: http.Server; close(): Promise<void> }> {
  const server = http.createServer(handler);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return listen(server).then(() => ({
    server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  }));
}

/** Listens in this process's own network namespace. */
export const hostListeners: ListenerFactory = Object.freeze({
  async listenHttp(host: string, port: number, handler: HttpHandler): Promise<HttpListener> {
    const s = await serveHttp(handler, (server) => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    }));
    const addr = s.server.address() as AddressInfo;
    return { host: addr.address, port: addr.port, close: s.close };
  },
});

export interface ServiceHealthInfo {
  /** `namespace/name` */
  service: string;
  port: number;
  localEndpoints: number;
  listening: boolean;
}

export interface ServiceHealthServersOptions {
  listeners?: ListenerFactory;
  /** Default 0.0.0.0 (every address of the node), as kube-proxy without --nodeport-addresses. */
  bindAddress?: string;
  /** kube-proxy's healthzServer.Health().Healthy. */
  proxyHealthy: () => boolean;
  /** A port in use (the proxy this one replaces still serves it) is retried every 20 ms until then (ms since the epoch), then every second. Default: the next sync retries it. */
  bindRetryUntil?: number;
  log?: Logger;
}

interface Entry {
  namespace: string;
  name: string;
  port: number;
  localEndpoints: number;
  listener?: HttpListener;
  opening?: Promise<void>;
  /** Ends a wait for the port (the entry is removed, or the servers close). */
  stop: AbortController;
}

/** Ready endpoints on this node per Service with a healthCheckNodePort (kube-proxy's LocalReadyEndpoints). */
export function healthCheckTargets(snapshot: ProxySnapshot): Map<string, { namespace: string; name: string; port: number; localEndpoints: number }> {
  const out = new Map<string, { namespace: string; name: string; port: number; localEndpoints: number }>();
  for (const sp of snapshot.servicePorts) {
    if (sp.healthCheckNodePort === 0) continue;
    const k = `${sp.namespace}/${sp.service}`;
    const e = out.get(k) ?? { namespace: sp.namespace, name: sp.service, port: sp.healthCheckNodePort, localEndpoints: 0 };
    e.localEndpoints += sp.endpoints.filter((ep) => ep.isLocal && ep.ready).length;
    out.set(k, e);
  }
  return out;
}

export class ServiceHealthServers {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly o: ServiceHealthServersOptions) {
    this.log = o.log ?? silentLogger;
  }

  /** Opens, updates and closes servers to match the snapshot. A port that cannot be opened is logged and retried next sync. */
  async sync(snapshot: ProxySnapshot): Promise<void> {
    if (this.closed) return;
    const want = healthCheckTargets(snapshot);
    for (const [k, e] of [...this.entries]) {
      const w = want.get(k);
      if (!w || w.port !== e.port) {
        this.entries.delete(k);
        e.stop.abort();
        await e.opening;
        await e.listener?.close();
      }
    }
    const tried: Promise<void>[] = [];
    for (const [k, w] of want) {
      let e = this.entries.get(k);
      if (!e) {
        e = { ...w, stop: new AbortController() };
        this.entries.set(k, e);
      }
      e.localEndpoints = w.localEndpoints;
      if (!e.listener && !e.opening) tried.push(this.open(k, e));
    }
    // Not the waits for a port in use: they end when the replaced proxy lets go.
    await Promise.all(tried);
  }

  /** Opens `e`'s port; resolves after the first attempt (`e.opening` goes on while the port is in use). */
  private open(k: string, e: Entry): Promise<void> {
    let tried!: () => void;
    const first = new Promise<void>((r) => { tried = r; });
    e.opening = (async () => {
      try {
        const listen = () => (this.o.listeners ?? hostListeners).listenHttp(this.o.bindAddress ?? '0.0.0.0', e.port, (req, res) => this.handle(k, res));
        const l = this.o.bindRetryUntil === undefined ? await listen() : await bindWhenFree(listen, {
          fastUntil: this.o.bindRetryUntil, intervalMs: 2 * fastBindRetryMs, signal: e.stop.signal,
          onWait: () => {
            this.log.info('health check node port in use (the proxy this one replaces?); taking it over as soon as it is free', { service: k, port: e.port });
            tried();
          },
        });
        if (this.entries.get(k) !== e || this.closed) await l.close();
        else e.listener = l;
      } catch (err) {
        if (!this.closed) this.log.warn('cannot open health check node port', { service: k, port: e.port, error: errorText(err) });
      } finally {
        e.opening = undefined;
        tried();
      }
    })();
    return first;
  }

  private handle(k: string, res: http.ServerResponse): void {
    const e = this.entries.get(k);
    if (!e) {
      res.destroy();
      return;
    }
    const healthy = this.o.proxyHealthy();
    const count = e.localEndpoints;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Load-Balancing-Endpoint-Weight', String(count));
    res.statusCode = count !== 0 && healthy ? 200 : 503;
    res.end(JSON.stringify({ service: { namespace: e.namespace, name: e.name }, localEndpoints: count, serviceProxyHealthy: healthy }, null, '\t'));
  }

  info(): ServiceHealthInfo[] {
    return [...this.entries].map(([service, e]) => ({ service, port: e.port, localEndpoints: e.localEndpoints, listening: !!e.listener }))
      .sort((a, b) => (a.service < b.service ? -1 : 1));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.entries.values()) e.stop.abort();
    for (const e of this.entries.values()) {
      await e.opening;
      await e.listener?.close();
    }
    this.entries.clear();
  }
}
