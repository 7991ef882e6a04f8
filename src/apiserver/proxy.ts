// The API server's proxy subresources (what `kubectl proxy` exposes):
//   /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}
//   /api/v1/namespaces/{ns}/pods/{[scheme:]name[:port]}/proxy/{path}
// as kube-apiserver's ResourceLocation: a service port named or numbered, a
// random ready endpoint of that port, 503 when there is none. Only the
// service's own endpoints (or the pod's own IP) are ever dialled.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import { errors } from '../api/errors.js';
import type { Registry } from './registry/generic.js';
import type { RequestInfo } from './request.js';

/** Opens a TCP connection to ip:port from wherever pods are reachable (a node namespace in netns mode). */
export type Dialer = (ip: string, port: number) => Socket;

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

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'authorization']);

/** Forwards one HTTP request to the target over a dialled socket and streams the answer back. */
export function forward(req: IncomingMessage, res: ServerResponse, target: ProxyTarget, path: string, dial: Dialer): Promise<void> {
  return new Promise((resolve) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !hopByHop.has(k.toLowerCase())) headers[k] = v;
    headers['host'] = `${target.ip}:${target.port}`;
    headers['x-forwarded-uri'] = req.url ?? '';
    const out = httpRequest({
      method: req.method, path, headers,
      createConnection: () => dial(target.ip, target.port),
    }, (up) => {
      const h: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !hopByHop.has(k.toLowerCase())) h[k] = v;
      res.writeHead(up.statusCode ?? 502, h);
      up.pipe(res);
      up.on('end', resolve);
      up.on('error', () => { res.destroy(); resolve(); });
    });
    out.setTimeout(30_000, () => out.destroy(new Error('timeout')));
    out.on('error', (e) => {
      if (!res.headersSent) {
        const st = errors.serviceUnavailable(`error trying to reach service: ${e.message}`).status;
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(st));
      } else res.destroy();
      resolve();
    });
    req.pipe(out);
  });
}

export function makeProxyHandlers(deps: {
  services: Registry; slices: Registry; pods: Registry; dialer: () => Dialer;
}): Record<string, (req: IncomingMessage, res: ServerResponse, info: RequestInfo) => Promise<void>> {
  const tail = (req: IncomingMessage, info: RequestInfo): string => {
    const u = new URL(req.url ?? '/', 'http://x');
    return '/' + info.rest.map(encodeURIComponent).join('/') + (u.pathname.endsWith('/') && info.rest.length ? '/' : '') + u.search;
  };
  const bareRedirect = (req: IncomingMessage, res: ServerResponse, info: RequestInfo): boolean => {
    const u = new URL(req.url ?? '/', 'http://x');
    // `…/proxy` without a trailing slash is redirected to `…/proxy/`, as kube-apiserver does for GET.
    if (info.rest.length === 0 && !u.pathname.endsWith('/') && req.method === 'GET') {
      res.writeHead(301, { Location: u.pathname + '/' + u.search });
      res.end();
      return true;
    }
    return false;
  };
  return {
    'services/proxy': async (req, res, info) => {
      const id = splitSchemeNamePort(info.name ?? '');
      if (!id) throw errors.badRequest(`invalid service request "${info.name}"`);
      if (bareRedirect(req, res, info)) return;
      const svc = await deps.services.get(info.namespace, id.name) as unknown as Service;
      const { items } = await deps.slices.list(info.namespace, { filter: (o) => o.metadata.labels?.['kubernetes.io/service-name'] === id.name });
      const loc = serviceLocation(svc, items as unknown as EndpointSlice[], id.port);
      if (loc === 'no-port') throw errors.serviceUnavailable(`no service port "${id.port}" found for service "${id.name}"`);
      if (loc === 'no-endpoints') throw errors.serviceUnavailable(`no endpoints available for service "${id.name}"`);
      await forward(req, res, { scheme: id.scheme === 'https' ? 'https' : 'http', ...loc }, tail(req, info), deps.dialer());
    },
    'pods/proxy': async (req, res, info) => {
      const id = splitSchemeNamePort(info.name ?? '');
      if (!id) throw errors.badRequest(`invalid pod request "${info.name}"`);
      if (bareRedirect(req, res, info)) return;
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
      await forward(req, res, { scheme: 'http', ip, port }, tail(req, info), deps.dialer());
    },
  };
}
