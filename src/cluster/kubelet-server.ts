// The kubelet endpoint of a standalone `svcnet agent` (kubelet's streaming
// server on its port 10250): what the API server proxies pods/log, pods/exec,
// pods/attach and pods/portforward to when the node's agent does not run in
// its own process (cluster/kubelet-proxy.ts). The paths are kubelet's:
//
//   GET  /containerLogs/NS/POD/CONTAINER?follow=&tailLines=&limitBytes=&previous=
//   GET|POST /exec/NS/POD[/UID]/CONTAINER?command=…&stdin=…   (upgrade)
//   GET|POST /attach/NS/POD[/UID]/CONTAINER?stdin=…          (upgrade)
//   GET|POST /portForward/NS/POD[/UID]                       (upgrade)
//
// and the protocols are the very ones the API server speaks to kubectl for
// its in-process agents (the session code of cluster/exec.ts, attach.ts,
// portforward.ts, logs.ts, run here against this process's agent), so the API
// server only checks the pod, then passes the bytes through both ways — as
// kube-apiserver's UpgradeAwareHandler does in front of kubelet.
//
// HTTPS with a self-signed certificate made at start (kubelet's default
// without --tls-cert-file; kube-apiserver does not verify it without
// --kubelet-certificate-authority). The caller must present the bearer token
// kubeletClientToken derives from the token of the agent's own kubeconfig:
// the API server derives the same from its admin token. kubelet would check
// the API server's client certificate instead; a derived token needs no
// certificate the API server has to issue itself, and a kubelet endpoint that
// learns it (the Node's address is whatever the Node object says) cannot use
// it against the API server.
import { createHmac, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { errors, isStatusError, StatusError } from '../api/errors.js';
import { writeStatusToSocket } from '../apiserver/proxy.js';
import { makeCertificate, toPem } from '../apiserver/tls.js';
import { parseExecQuery } from '../node/exec.js';
import { findPortForwardPod } from '../node/portforward.js';
import { attachSubresource } from './attach.js';
import { channelUpgrader, execSubresource } from './exec.js';
import { writeContainerLogs } from './logs.js';
import { portForwardUpgrader } from './portforward.js';

/** The bearer token the API server presents to kubelet endpoints, from the admin token both sides hold. */
export function kubeletClientToken(adminToken: string): string {
  return createHmac('sha256', adminToken).update('svcnet kubelet client').digest('hex');
}

export interface KubeletServerOptions {
  /** The node this process's agent runs. */
  nodeName: string;
  /** Where to listen: the host's loopback for `svcnet agent` (the API server reaches it from the host). */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The admin token of the agent's kubeconfig; none = every request but /healthz is refused (401). */
  adminToken?: string;
}

export interface KubeletServer {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** kubelet's route: what, and the path parameters. */
export type KubeletRoute =
  | { kind: 'healthz' }
  | { kind: 'containerLogs'; namespace: string; pod: string; container: string }
  | { kind: 'exec' | 'attach'; namespace: string; pod: string; uid?: string; container: string }
  | { kind: 'portForward'; namespace: string; pod: string; uid?: string };

/** The route of a request path, or undefined (404). */
export function parseKubeletPath(pathname: string): KubeletRoute | undefined {
  let parts: string[];
  try {
    parts = pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  if (parts.some((p) => p === '')) return undefined;
  const [kind, ...rest] = parts;
  if (kind === 'healthz' && rest.length === 0) return { kind: 'healthz' };
  if (kind === 'containerLogs' && rest.length === 3) return { kind, namespace: rest[0]!, pod: rest[1]!, container: rest[2]! };
  if (kind === 'exec' || kind === 'attach') {
    if (rest.length === 3) return { kind, namespace: rest[0]!, pod: rest[1]!, container: rest[2]! };
    if (rest.length === 4) return { kind, namespace: rest[0]!, pod: rest[1]!, uid: rest[2]!, container: rest[3]! };
  }
  if (kind === 'portForward' && (rest.length === 2 || rest.length === 3)) {
    return { kind, namespace: rest[0]!, pod: rest[1]!, ...(rest[2] ? { uid: rest[2] } : {}) };
  }
  return undefined;
}

function selfSignedCert(nodeName: string, host: string): { cert: string; key: string } {
  const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const now = Date.now();
  const sans = [/^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`, `DNS:${nodeName}`];
  const cert = makeCertificate({
    subjectCN: `${nodeName}@${Math.floor(now / 1000)}`, issuerCN: `${nodeName}-ca@${Math.floor(now / 1000)}`,
    publicKey: kp.publicKey, issuerKey: kp.privateKey, issuerPublicKey: kp.publicKey,
    notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 365 * 86_400_000),
    serial: randomBytes(16).fill(0x40, 0, 1), isCA: false, sans,
  });
  return { cert: toPem(cert), key: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** kubelet's errors are plain text with the status code. */
function sendText(res: ServerResponse, code: number, text: string): void {
  if (res.headersSent) { res.destroy(); return; }
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startKubeletServer(o: KubeletServerOptions): Promise<KubeletServer> {
  const want = o.adminToken ? Buffer.from(kubeletClientToken(o.adminToken)) : undefined;
  const authenticated = (req: IncomingMessage): boolean => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers['authorization'] ?? '');
    if (!want || !m) return false;
    const got = Buffer.from(m[1]!);
    return got.length === want.length && timingSafeEqual(got, want);
  };
  const exec = channelUpgrader(execSubresource);
  const attach = channelUpgrader(attachSubresource);
  const portForward = portForwardUpgrader();
  const upgraded = new Set<Duplex>();

  const server: Server = createServer(selfSignedCert(o.nodeName, o.host));

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'https://kubelet');
    const route = parseKubeletPath(u.pathname);
    if (route?.kind === 'healthz') { sendText(res, 200, 'ok'); return; }
    if (!authenticated(req)) { sendText(res, 401, 'Unauthorized'); return; }
    if (!route) { sendText(res, 404, '404 page not found'); return; }
    if (route.kind !== 'containerLogs') { sendText(res, 400, 'Upgrade request required'); return; }
    if ((req.method ?? 'GET') !== 'GET') { sendText(res, 405, 'Method Not Allowed'); return; }
    writeContainerLogs(req, res, route.namespace, route.pod, route.container, u.searchParams).catch((e: unknown) => {
      if (isStatusError(e)) sendText(res, e.code, e.status.message ?? e.message);
      else sendText(res, 500, String((e as Error).message ?? e));
    });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    const fail = (e: unknown): void => {
      writeStatusToSocket(socket, isStatusError(e) ? e : errors.internal(String((e as Error).message ?? e)));
    };
    const u = new URL(req.url ?? '/', 'https://kubelet');
    const route = parseKubeletPath(u.pathname);
    if (!authenticated(req)) { fail(new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 })); return; }
    const method = (req.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'POST') { fail(errors.methodNotAllowed('the server does not allow this method on the requested resource')); return; }
    const run = async (): Promise<void> => {
      if (!route || route.kind === 'healthz' || route.kind === 'containerLogs') throw errors.notFound({ group: '', resource: 'path' }, u.pathname);
      if (route.kind === 'portForward') {
        portForward.upgrade(req, socket, head, findPortForwardPod(route.namespace, route.pod));
        return;
      }
      const opts = parseExecQuery(u.searchParams);
      opts.container = route.container;
      const loc = { namespace: route.namespace, pod: route.pod, uid: route.uid, nodeName: o.nodeName, container: route.container };
      await (route.kind === 'exec' ? exec : attach)(req, socket, head, opts, loc);
    };
    run().catch(fail);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  return {
    address: o.host,
    port: addr.port,
    async close() {
      portForward.close('the node agent is shutting down');
      for (const s of upgraded) s.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
