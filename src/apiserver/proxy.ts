// The API server's proxy subresources (what `kubectl proxy` exposes):
//   /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}
//   /api/v1/namespaces/{ns}/pods/{[scheme:]name[:port]}/proxy/{path}
//   /api/v1/nodes/{[scheme:]name[:port]}/proxy/{path}
// as kube-apiserver's ResourceLocation: a service port named or numbered, a
// random ready endpoint of that port, 503 when there is none; a pod's own IP;
// a node's kubelet (https on the port its status names, 10250) unless another
// port is asked for. Only those addresses are ever dialled.
//
// Requests that ask for a protocol upgrade (websocket, SPDY) are passed
// through as Kubernetes' UpgradeAwareHandler does: the request goes to the
// backend as it came (path rewritten, credentials dropped), and from then on
// bytes flow both ways untouched, the backend's `101 Switching Protocols`
// included.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpRequest, STATUS_CODES } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import { errors, type StatusError } from '../api/errors.js';
import type { Registry } from './registry/generic.js';
import type { RequestInfo } from './request.js';

/**
 * Opens a TCP connection to ip:port from wherever pods are reachable (a node
 * namespace in netns mode). A dialer that returns a promise resolves it once the
 * connection stands, or rejects with the connect error (code ECONNREFUSED, …).
 */
export type Dialer = (ip: string, port: number) => Socket | Promise<Socket>;

export const directDialer: Dialer = (ip, port) => connect({ host: ip, port });

export interface ProxyTarget { scheme: 'http' | 'https'; ip: string; port: number }

/** Splits `[scheme:]name[:port]` as kube's net.SplitSchemeNamePort does. */
export function splitSchemeNamePort(id: string): { scheme: string; name: string; port: string } | undefined {
  const parts = id.split(':');
  let scheme = '';
  let name = '';
  let port = '';
  if (parts.length === 1) [name] = parts as [string];
  else if (parts.length === 2) [name, port] = parts as [string, string];
  else if (parts.length === 3) [scheme, name, port] = parts as [string, string, string];
  else return undefined;
  if (!name || (scheme !== '' && scheme !== 'http' && scheme !== 'https')) return undefined;
  return { scheme, name, port };
}

/** Picks the endpoint for a service proxy request (pure over the objects read). */
export function serviceLocation(svc: Service, slices: EndpointSlice[], portId: string, rand = Math.random): { ip: string; port: number } | 'no-port' | 'no-endpoints' {
  const ports = svc.spec?.ports ?? [];
  let portName: string | undefined;
  if (portId === '') {
    portName = ports.length ? (ports[0]!.name ?? '') : '';
  } else if (/^\d+$/.test(portId)) {
    // A numeric port names the service port with that number.
    const p = ports.find((x) => x.port === Number(portId));
    if (!p) return 'no-port';
    portName = p.name ?? '';
  } else {
    const p = ports.find((x) => (x.name ?? '') === portId);
    if (!p) return 'no-port';
    portName = portId;
  }
  const candidates: { ip: string; port: number }[] = [];
  for (const s of slices) {
    const ep = (s.ports ?? []).find((p) => (p.name ?? '') === portName);
    if (!ep?.port) continue;
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      for (const a of e.addresses.slice(0, 1)) candidates.push({ ip: a, port: ep.port });
    }
  }
  if (!candidates.length) return 'no-endpoints';
  return candidates[Math.floor(rand() * candidates.length)]!;
}

/**
 * Where a node proxy request goes (kube's node.ResourceLocation): the kubelet — the
 * node's InternalIP (else its first address), https, the port its status names —
 * when no port or the kubelet's port is asked for; otherwise that port, with the
 * scheme asked for (http by default).
 */
export function nodeLocation(node: Node, scheme: string, port: string): ProxyTarget | 'no-address' {
  const addrs = node.status?.addresses ?? [];
  const ip = (addrs.find((a) => a.type === 'InternalIP') ?? addrs.find((a) => /^[\d.:a-fA-F]+$/.test(a.address)))?.address;
  if (!ip) return 'no-address';
  const kubeletPort = node.status?.daemonEndpoints?.kubeletEndpoint?.Port || 10250;
  if (port === '' || Number(port) === kubeletPort) return { scheme: 'https', ip, port: kubeletPort };
  return { scheme: scheme === 'https' ? 'https' : 'http', ip, port: Number(port) };
}

/** Go's net.Dial wording for a failed connection, so messages read as kube-apiserver's do. */
export function dialErrorText(e: NodeJS.ErrnoException, ip: string, port: number): string {
  const host = ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  const why: Record<string, string> = {
    ECONNREFUSED: 'connect: connection refused', EHOSTUNREACH: 'connect: no route to host',
    ENETUNREACH: 'connect: network is unreachable', ETIMEDOUT: 'i/o timeout', ECONNRESET: 'read: connection reset by peer',
  };
  return e.code && why[e.code] ? `dial tcp ${host}: ${why[e.code]}` : e.message;
}

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'authorization']);

/** How long a backend may take to accept a connection (kube's proxy dialer: 30 s). */
const DIAL_TIMEOUT_MS = 30_000;

/**
 * A connection to the target through the dialer, resolved once it stands, with
 * TLS on top for https (the kubelet's certificate is not verified, as
 * kube-apiserver without --kubelet-certificate-authority does).
 */
function open(target: ProxyTarget, dial: Dialer): Promise<Socket> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const connecting = connectTo(target, dial);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' }));
    }, DIAL_TIMEOUT_MS);
  });
  connecting.then((s) => { if (timedOut) s.destroy(); }, () => undefined);
  return Promise.race([connecting, timeout]).finally(() => clearTimeout(timer));
}

async function connectTo(target: ProxyTarget, dial: Dialer): Promise<Socket> {
  const raw = await dial(target.ip, target.port);
  const event = target.scheme === 'https' ? 'secureConnect' : 'connect';
  const s = target.scheme === 'https' ? tlsConnect({ socket: raw, rejectUnauthorized: false }) : raw;
  if (s !== raw) raw.on('error', (e) => s.destroy(e));
  if (target.scheme !== 'https' && !raw.connecting) return s;
  await new Promise<void>((resolve, reject) => {
    // Kept after a failure: a dead connection may report more than one error.
    const fail = (e: Error) => reject(e);
    s.on('error', fail);
    s.once(event, () => { s.off('error', fail); resolve(); });
  });
  return s;
}

function unreachable(e: NodeJS.ErrnoException, target: ProxyTarget): StatusError {
  return errors.serviceUnavailable(`error trying to reach service: ${dialErrorText(e, target.ip, target.port)}`);
}

/** Forwards one HTTP request to the target over a dialled socket and streams the answer back. */
export function forward(req: IncomingMessage, res: ServerResponse, target: ProxyTarget, path: string, dial: Dialer): Promise<void> {
  return new Promise((resolve) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !hopByHop.has(k.toLowerCase())) headers[k] = v;
    headers['host'] = `${target.ip}:${target.port}`;
    headers['x-forwarded-uri'] = req.url ?? '';
    const out = httpRequest({
      method: req.method, path, headers,
      createConnection: (_o, done) => { open(target, dial).then((s) => done(null, s), (e: Error) => done(e, undefined as never)); return undefined; },
    }, (up) => {
      const h: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !hopByHop.has(k.toLowerCase())) h[k] = v;
      res.writeHead(up.statusCode ?? 502, h);
      up.pipe(res);
      up.on('end', resolve);
      up.on('error', () => { res.destroy(); resolve(); });
    });
    out.setTimeout(30_000, () => out.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    out.on('error', (e: NodeJS.ErrnoException) => {
      if (!res.headersSent) {
        const st = unreachable(e, target).status;
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(st));
      } else res.destroy();
      resolve();
    });
    req.pipe(out);
  });
}

/** Writes a whole HTTP response on a raw socket (an upgrade that is refused) and closes it. */
export function writeResponseToSocket(socket: Duplex, code: number, contentType: string, body: string): void {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Error'}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Writes a Status as a whole HTTP response on a raw socket (an upgrade that could not be proxied) and closes it. */
export function writeStatusToSocket(socket: Duplex, e: StatusError): void {
  writeResponseToSocket(socket, e.code, 'application/json', JSON.stringify(e.status));
}

/**
 * Passes an upgrade request through to the target (UpgradeAwareHandler): the
 * request head is rewritten for the backend, then both directions are piped
 * as they are. Resolves once the backend connection is up (or failed, in which
 * case the client got a Status).
 */
export function forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ProxyTarget, path: string, dial: Dialer,
  /** The API server's own headers for the backend (its credentials for a kubelet). */
  extraHeaders: Readonly<Record<string, string>> = {}): Promise<void> {
  return new Promise((resolve) => {
    const lines = [`${req.method ?? 'GET'} ${path} HTTP/1.1`, `Host: ${target.ip}:${target.port}`];
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const k = raw[i]!.toLowerCase();
      // Credentials for the API server are not the backend's business; Host is the backend's.
      if (k === 'host' || k === 'authorization' || k === 'proxy-authorization') continue;
      lines.push(`${raw[i]}: ${raw[i + 1]}`);
    }
    lines.push(`X-Forwarded-Uri: ${req.url ?? ''}`);
    for (const [k, v] of Object.entries(extraHeaders)) lines.push(`${k}: ${v}`);
    open(target, dial).then((backend) => {
      if (socket.destroyed) { backend.destroy(); resolve(); return; }
      backend.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) backend.write(head);
      socket.pipe(backend);
      backend.pipe(socket);
      backend.on('error', () => socket.destroy());
      socket.on('error', () => backend.destroy());
      socket.on('close', () => backend.destroy());
      backend.on('close', () => socket.destroy());
      resolve();
    }, (e: NodeJS.ErrnoException) => {
      writeStatusToSocket(socket, unreachable(e, target));
      resolve();
    });
  });
}

type Resolved = { target: ProxyTarget; path: string } | 'redirected';

export type ProxyHandler = (req: IncomingMessage, res: ServerResponse, info: RequestInfo) => Promise<void>;
export type ProxyUpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, info: RequestInfo) => Promise<void>;

export interface ProxyDeps { services: Registry; slices: Registry; pods: Registry; nodes?: Registry; dialer: () => Dialer }

/** The proxy subresources (`services/proxy`, …): one handler for plain requests and one for upgrades each. */
export function makeProxyHandlers(deps: ProxyDeps): { requests: Record<string, ProxyHandler>; upgrades: Record<string, ProxyUpgradeHandler> } {
  const requests: Record<string, ProxyHandler> = {};
  const upgrades: Record<string, ProxyUpgradeHandler> = {};
  for (const [key, locate] of Object.entries(proxyLocations(deps))) {
    requests[key] = async (req, res, info) => {
      const r = await locate(req, info, res);
      if (r !== 'redirected') await forward(req, res, r.target, r.path, deps.dialer());
    };
    upgrades[key] = async (req, socket, head, info) => {
      const r = await locate(req, info);
      if (r !== 'redirected') await forwardUpgrade(req, socket, head, r.target, r.path, deps.dialer());
    };
  }
  return { requests, upgrades };
}

function proxyLocations(deps: Omit<ProxyDeps, 'dialer'>):
  Record<string, (req: IncomingMessage, info: RequestInfo, res?: ServerResponse) => Promise<Resolved>> {
  const tail = (req: IncomingMessage, info: RequestInfo): string => {
    const u = new URL(req.url ?? '/', 'http://x');
    return '/' + info.rest.map(encodeURIComponent).join('/') + (u.pathname.endsWith('/') && info.rest.length ? '/' : '') + u.search;
  };
  const bareRedirect = (req: IncomingMessage, info: RequestInfo, res?: ServerResponse): boolean => {
    const u = new URL(req.url ?? '/', 'http://x');
    // `…/proxy` without a trailing slash is redirected to `…/proxy/`, as kube-apiserver does for GET.
    if (res && info.rest.length === 0 && !u.pathname.endsWith('/') && req.method === 'GET') {
      res.writeHead(301, { Location: u.pathname + '/' + u.search });
      res.end();
      return true;
    }
    return false;
  };
  const out: Record<string, (req: IncomingMessage, info: RequestInfo, res?: ServerResponse) => Promise<Resolved>> = {
    'services/proxy': async (req, info, res) => {
      const id = splitSchemeNamePort(info.name ?? '');
      if (!id) throw errors.badRequest(`invalid service request "${info.name}"`);
      if (bareRedirect(req, info, res)) return 'redirected';
      const svc = await deps.services.get(info.namespace, id.name) as unknown as Service;
      const { items } = await deps.slices.list(info.namespace, { filter: (o) => o.metadata.labels?.['kubernetes.io/service-name'] === id.name });
      const loc = serviceLocation(svc, items as unknown as EndpointSlice[], id.port);
      if (loc === 'no-port') throw errors.serviceUnavailable(`no service port "${id.port}" found for service "${id.name}"`);
      if (loc === 'no-endpoints') throw errors.serviceUnavailable(`no endpoints available for service "${id.name}"`);
      return { target: { scheme: id.scheme === 'https' ? 'https' : 'http', ...loc }, path: tail(req, info) };
    },
    'pods/proxy': async (req, info, res) => {
      const id = splitSchemeNamePort(info.name ?? '');
      if (!id) throw errors.badRequest(`invalid pod request "${info.name}"`);
      if (bareRedirect(req, info, res)) return 'redirected';
      const pod = await deps.pods.get(info.namespace, id.name) as unknown as Pod;
      const ip = pod.status?.podIP;
      if (!ip) throw errors.badRequest(`address not allowed`);
      let port = 80;
      if (id.port) {
        if (/^\d+$/.test(id.port)) port = Number(id.port);
        else {
          const cp = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []).find((p) => p.name === id.port);
          if (!cp) throw errors.serviceUnavailable(`no port "${id.port}" on pod "${id.name}"`);
          port = cp.containerPort;
        }
      }
      return { target: { scheme: id.scheme === 'https' ? 'https' : 'http', ip, port }, path: tail(req, info) };
    },
  };
  const nodes = deps.nodes;
  if (nodes) {
    out['nodes/proxy'] = async (req, info, res) => {
      const id = splitSchemeNamePort(info.name ?? '');
      if (!id) throw errors.badRequest(`invalid node request "${info.name}"`);
      if (bareRedirect(req, info, res)) return 'redirected';
      const node = await nodes.get(undefined, id.name) as unknown as Node;
      const loc = nodeLocation(node, id.scheme, id.port);
      if (loc === 'no-address') throw errors.internal(`no preferred addresses found; known addresses: []`);
      return { target: loc, path: tail(req, info) };
    };
  }
  return out;
}
