// pods/log, pods/exec, pods/attach and pods/portforward for pods whose node
// agent runs in another process (`svcnet agent`): after kube-apiserver's own
// checks (the pod, the container, a node), the request goes to that node's
// kubelet endpoint (cluster/kubelet-server.ts) — an upgrade passed through
// byte for byte, a log streamed back — as kube-apiserver proxies to kubelet.
// Pods of agents in this process (`svcnet up`) keep the in-process path of
// cluster/logs.ts, exec.ts, attach.ts, portforward.ts unchanged.
//
// The endpoint is the Node's: port status.daemonEndpoints.kubeletEndpoint.Port,
// host the annotation svcnet.io/kubelet-address (the agent process listens in
// the host's network namespace; the Node's InternalIP is in the node's own),
// else the InternalIP as kube-apiserver would use.
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { errors, StatusError, type StatusReason } from '../api/errors.js';
import { dialErrorText, forwardUpgrade } from '../apiserver/proxy.js';
import type { RequestInfo } from '../apiserver/request.js';
import type { ApiServer } from '../apiserver/server.js';
import { parseExecQuery, runsNodeHere } from '../node/exec.js';
import { KUBELET_ADDRESS_ANNOTATION } from '../node/nodestatus.js';
import { servePodAttach } from './attach.js';
import { locate, servePodExec } from './exec.js';
import { kubeletClientToken } from './kubelet-server.js';
import { servePodLogs } from './logs.js';
import { kubeletPortParams, servePortForward } from './portforward.js';

export interface KubeletEndpoint { host: string; port: number }

/** Where the node's kubelet endpoint is (kube's GetConnectionInfo, with svcnet's address annotation first). */
export function kubeletEndpoint(node: Node): KubeletEndpoint | undefined {
  const addrs = node.status?.addresses ?? [];
  const host = node.metadata?.annotations?.[KUBELET_ADDRESS_ANNOTATION]
    ?? (addrs.find((a) => a.type === 'InternalIP') ?? addrs.find((a) => /^[\d.:a-fA-F]+$/.test(a.address)))?.address;
  if (!host) return undefined;
  return { host, port: node.status?.daemonEndpoints?.kubeletEndpoint?.Port || 10250 };
}

/** kube's NewGenericServerResponse: the reason that goes with a kubelet's status code. */
function reasonFor(code: number): StatusReason {
  const r: Record<number, StatusReason> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 503: 'ServiceUnavailable' };
  return r[code] ?? 'InternalError';
}

const METHOD_NOT_ALLOWED = 'the server does not allow this method on the requested resource';


/**
 * Registers the four streaming subresources on `api`: in-process for the agents of
 * this process, proxied to the node's kubelet endpoint for the others. `adminToken`
 * is the API server's (the kubelet endpoints accept the token derived from it).
 */
export function serveNodeSubresources(api: ApiServer, o: { adminToken?: string }): { close(): void } {
  servePodLogs(api);
  servePodExec(api);
  servePodAttach(api);
  const portForward = servePortForward(api);
  const headers: Record<string, string> = o.adminToken ? { Authorization: `Bearer ${kubeletClientToken(o.adminToken)}` } : {};

  const pods = api.registry('', 'pods');
  const nodes = api.registry('', 'nodes');
  const endpointOf = async (nodeName: string): Promise<KubeletEndpoint> => {
    const ep = kubeletEndpoint(await nodes.get(undefined, nodeName) as Node);
    if (!ep) throw errors.internal('no preferred addresses found; known addresses: []');
    return ep;
  };
  /** The node, when the pod's agent is not in this process. */
  const remoteNode = async (info: RequestInfo): Promise<string | undefined> => {
    const pod = await pods.get(info.namespace, info.name ?? '') as Pod;
    const node = pod.spec?.nodeName;
    return node && !runsNodeHere(node) ? node : undefined;
  };

  /** An upgrade passed through to the kubelet endpoint, with the API server's credentials. */
  const passThrough = async (req: IncomingMessage, socket: Duplex, head: Buffer, nodeName: string, path: string, query?: string): Promise<void> => {
    const ep = await endpointOf(nodeName);
    const conn = await dial(ep);
    const q = query ?? new URL(req.url ?? '/', 'http://x').search;
    await forwardUpgrade(req, socket, head, { scheme: 'https', ip: ep.host, port: ep.port }, path + q, () => conn, headers);
  };

  for (const sub of ['exec', 'attach'] as const) {
    const key = `pods/${sub}`;
    const inner = api.upgradeHandlers.get(key)!;
    api.upgradeHandlers.set(key, async (req, socket, head, info) => {
      const method = (req.method ?? 'GET').toUpperCase();
      if (method !== 'GET' && method !== 'POST') throw errors.methodNotAllowed(METHOD_NOT_ALLOWED);
      // kube-apiserver's checks (the in-process handler makes the same ones, with the same answers).
      const loc = await locate(api, info, parseExecQuery(new URL(req.url ?? '/', 'http://x').searchParams));
      if (runsNodeHere(loc.nodeName)) return inner(req, socket, head, info);
      const path = '/' + [sub, loc.namespace, loc.pod, ...(loc.uid ? [loc.uid] : []), loc.container].map(encodeURIComponent).join('/');
      await passThrough(req, socket, head, loc.nodeName, path);
    });
  }

  const innerPF = api.upgradeHandlers.get('pods/portforward')!;
  api.upgradeHandlers.set('pods/portforward', async (req, socket, head, info) => {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST') throw errors.methodNotAllowed(METHOD_NOT_ALLOWED);
    const node = await remoteNode(info);
    if (!node) return innerPF(req, socket, head, info);
    // kube-apiserver's PortForwardLocation: `ports` becomes kubelet's `port` (its WebSocket protocol reads them).
    const ports = kubeletPortParams(req);
    const query = ports.length ? `?${new URLSearchParams(ports.map((p) => ['port', p]))}` : '';
    await passThrough(req, socket, head, node, '/' + ['portForward', info.namespace!, info.name!].map(encodeURIComponent).join('/'), query);
  });

  const innerLogs = api.subresourceHandlers.get('pods/log')!;
  api.subresourceHandlers.set('pods/log', async (req, res, info) => {
    if ((req.method ?? 'GET') !== 'GET') throw errors.methodNotAllowed(METHOD_NOT_ALLOWED);
    if (!await remoteNode(info)) return innerLogs(req, res, info);
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const loc = await locate(api, info, { container: q.get('container') ?? undefined });
    const ep = await endpointOf(loc.nodeName);
    const path = '/' + ['containerLogs', loc.namespace, loc.pod, loc.container].map(encodeURIComponent).join('/') + (q.size ? `?${q}` : '');
    await streamLogs(req, res, ep, path, headers);
  });

  return portForward;
}

/** A TCP connection to the endpoint, or kube-apiserver's "error dialing backend". */
function dial(ep: KubeletEndpoint): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: ep.host, port: ep.port });
    s.once('connect', () => { s.off('error', fail); resolve(s); });
    const fail = (e: NodeJS.ErrnoException): void => { s.destroy(); reject(errors.internal(`error dialing backend: ${dialErrorText(e, ep.host, ep.port)}`)); };
    s.once('error', fail);
  });
}

/**
 * GET on the kubelet's containerLogs, its body streamed as the response (kube's
 * LocationStreamer); a refusal (kubelet writes plain text) becomes a Status with
 * its code, as kube's GenericHttpResponseChecker makes it. The upstream request
 * ends when the client goes away (a follow would run on otherwise).
 */
function streamLogs(req: IncomingMessage, res: ServerResponse, ep: KubeletEndpoint, path: string, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
    const up = httpsRequest({ host: ep.host, port: ep.port, path, method: 'GET', headers, rejectUnauthorized: false, agent: false }, (r) => {
      const code = r.statusCode ?? 502;
      if (code !== 200) {
        const chunks: Buffer[] = [];
        let size = 0;
        r.on('data', (d: Buffer) => { if (size < 50_000) { chunks.push(d); size += d.length; } });
        r.on('end', () => {
          const message = Buffer.concat(chunks).toString().slice(0, 50_000).trim() || `the kubelet answered ${code}`;
          reject(new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: reasonFor(code), code }));
        });
        r.on('error', (e) => reject(errors.internal(e.message)));
        return;
      }
      res.writeHead(200, { 'Content-Type': r.headers['content-type'] ?? 'text/plain', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
      res.flushHeaders();
      r.pipe(res);
      r.on('end', resolve);
      r.on('error', () => { res.destroy(); resolve(); });
    });
    res.on('close', () => up.destroy());
    up.on('error', (e: NodeJS.ErrnoException) => {
      if (res.headersSent) { res.destroy(); resolve(); return; }
      reject(errors.internal(`Get "https://${host}:${ep.port}${path}": ${dialErrorText(e, ep.host, ep.port)}`));
    });
    up.end();
  });
}
