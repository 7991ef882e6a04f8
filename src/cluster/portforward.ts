// `kubectl port-forward` (pods/portforward) served by the embedded cluster.
// kube-apiserver passes the upgrade through to kubelet, whose streaming
// server speaks SPDY/3.1 with the `portforward.k8s.io` protocol; here the API
// server plays both parts and the node agent of this process that runs the pod
// makes the connections (node/portforward.ts).
//
// Two ways in, one protocol: kubectl 1.31+ first asks for a WebSocket with the
// subprotocol `SPDY/3.1+portforward.k8s.io` and sends the SPDY bytes in
// binary messages (client-go's tunneling dialer); older clients, or a failed
// WebSocket, send `Upgrade: SPDY/3.1` with `X-Stream-Protocol-Version:
// portforward.k8s.io` and speak SPDY on the socket itself.
//
// Per forwarded connection the client opens two streams, `streamtype: error`
// and `streamtype: data`, with the same `requestID` and `port` headers
// (kubelet's httpStreamHandler): once both are there the pod port is dialled
// and the data stream piped to it; a dial failure is written to the error
// stream in kubelet's words, which kubectl prints.
//
// A WebSocket that does not ask for the SPDY tunnel is kubelet's own WebSocket
// protocol (v4.channel.k8s.io, ports in the query), which the official client
// libraries speak: cluster/portforward-ws.ts.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { errors, StatusError } from '../api/errors.js';
import type { ApiServer } from '../apiserver/server.js';
import { RstStatus, SpdyServerSession, type SpdyStream } from '../apiserver/spdy.js';
import { findPortForwardPod, type PortForwardPod } from '../node/portforward.js';
import { parseApiserverPorts } from '../node/wsportforward.js';
import { wsPortForwardUpgrader } from './portforward-ws.js';

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
/** client-go's WebsocketsSPDYTunnelingPrefix + the protocol. */
export const WS_TUNNEL_PROTOCOL = `SPDY/3.1+${PORT_FORWARD_PROTOCOL}`;
const WS_ALIAS = 'svcnet-spdy-tunnel';
/** kubelet's streamCreationTimeout: both streams of a pair must come within it. */
const STREAM_PAIR_TIMEOUT_MS = 30_000;
/** containerd: once one direction ends, the other gets this long to finish. */
const HALF_CLOSE_GRACE_MS = 1000;

/**
 * Serves pods/portforward on `api`. close() ends the sessions still open (an
 * upgraded connection is no longer the HTTP server's: closing it would wait
 * for them forever), as kubelet going away does; kubectl reports the lost
 * connection.
 */
export function servePortForward(api: ApiServer): { close(): void } {
  const upgrader = portForwardUpgrader();
  // kube-apiserver's UpgradeAwareHandler with UpgradeRequired.
  api.subresourceHandlers.set('pods/portforward', () => { throw errors.badRequest('Upgrade request required'); });
  api.upgradeHandlers.set('pods/portforward', async (req, socket, head, info) => {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    const pod = await api.registry('', 'pods').get(info.namespace, info.name!) as Pod;
    if (!pod.spec?.nodeName) throw errors.badRequest(`pod ${info.name!} does not have a host assigned`);
    upgrader.upgrade(req, socket, head, findPortForwardPod(info.namespace!, info.name!), kubeletPortParams(req));
  });
  return { close: () => upgrader.close() };
}

/**
 * kube-apiserver's PortForwardLocation: PodPortForwardOptions' `ports` (comma-separated
 * lists allowed) become kubelet's `port` parameters; a bad one is a 400 before any upgrade.
 */
export function kubeletPortParams(req: IncomingMessage): string[] {
  const parsed = parseApiserverPorts(new URL(req.url ?? '/', 'http://x').searchParams.getAll('ports'));
  if ('error' in parsed) throw errors.badRequest(parsed.error);
  return parsed.ports.map(String);
}

/**
 * kubelet's half of a port-forward upgrade, once the pod is found: protocol
 * negotiation (WebSocket tunnel or SPDY), then the session. The API server
 * runs it for the agents of its own process; a standalone agent's kubelet
 * endpoint (cluster/kubelet-server.ts) runs the same. upgrade() throws a
 * StatusError for a refusal; close() ends the sessions still open.
 */
export function portForwardUpgrader(): {
  /** `portParams`: kubelet's `port` query values; by default those of the request (kubelet's endpoint). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: PortForwardPod, portParams?: readonly string[]): void;
  /** Ends the sessions still open; `why` goes to their clients. */
  close(why?: string): void;
} {
  const sessions = new Set<SpdyServerSession>();
  const track = (s: SpdyServerSession): void => {
    sessions.add(s);
    s.onClosed(() => sessions.delete(s));
  };
  // `SPDY/3.1+portforward.k8s.io` is no RFC 7230 token ('/' is a separator), and `ws`
  // refuses such a Sec-WebSocket-Protocol: it is offered to `ws` under a token alias,
  // and the alias put back in the 101 response.
  const wss = new WebSocketServer({
    noServer: true, perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has(WS_ALIAS) ? WS_ALIAS : false),
  });
  wss.on('headers', (headers) => {
    for (let i = 0; i < headers.length; i++) {
      if (/^sec-websocket-protocol:/i.test(headers[i]!)) headers[i] = `Sec-WebSocket-Protocol: ${WS_TUNNEL_PROTOCOL}`;
    }
  });
  const legacy = wsPortForwardUpgrader();
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, target: PortForwardPod, portParams?: readonly string[]): void => {
    const kind = String(req.headers['upgrade'] ?? '').toLowerCase();
    if (kind === 'websocket') {
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      if (!offered.includes(WS_TUNNEL_PROTOCOL)) {
        // Not the tunnel: kubelet's WebSocket protocol (kube-apiserver passes it through to kubelet).
        legacy.upgrade(req, socket, head, target, portParams ?? new URL(req.url ?? '/', 'http://x').searchParams.getAll('port'));
        return;
      }
      req.headers['sec-websocket-protocol'] = WS_ALIAS;
      wss.handleUpgrade(req, socket, head, (ws) => {
        const tunnel = createWebSocketStream(ws, { allowHalfOpen: false });
        tunnel.on('error', () => tunnel.destroy());
        track(servePortForwardSession(tunnel, target));
      });
      return;
    }
    if (!kind.startsWith('spdy/3.1')) throw errors.badRequest('Upgrade request required');
    const offered = protocolsOf(req);
    if (!offered.includes(PORT_FORWARD_PROTOCOL)) {
      // httpstream.Handshake's 403.
      throw new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403,
        message: `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${PORT_FORWARD_PROTOCOL}]` });
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n\r\n`);
    (socket as Socket).setNoDelay?.(true);
    track(servePortForwardSession(socket, target, head));
  };
  return { upgrade, close: (why = 'the API server is shutting down') => { for (const s of [...sessions]) s.close(why); legacy.close(why); } };
}

function protocolsOf(req: IncomingMessage): string[] {
  // The header may come more than once (rawHeaders keeps every copy) and hold a list.
  const out: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === 'x-stream-protocol-version') out.push(...req.rawHeaders[i + 1]!.split(',').map((s) => s.trim()).filter(Boolean));
  }
  return out;
}

interface Pair { data?: SpdyStream; error?: SpdyStream; timer?: NodeJS.Timeout }

let sessionCount = 0;

/** One port-forward connection: pairs the client's streams and forwards each pair. */
export function servePortForwardSession(transport: Duplex, target: PortForwardPod, head?: Buffer): SpdyServerSession {
  const connId = ++sessionCount;
  const pairs = new Map<string, Pair>();
  const session = new SpdyServerSession(transport, {
    onStream(s) {
      s.on('error', () => undefined);
      const type = s.header('streamtype');
      if (type !== 'error' && type !== 'data') { s.reset(RstStatus.ProtocolError); return; }
      // Clients before requestID paired a data stream with the error stream two ids before it.
      const id = s.header('requestid') ?? String(type === 'error' ? s.id : s.id - 2);
      let p = pairs.get(id);
      if (!p) {
        p = {};
        pairs.set(id, p);
        const pair = p;
        pair.timer = setTimeout(() => {
          pairs.delete(id);
          pair.error?.end(`(conn=${connId}, request=${id}) timed out waiting for streams`);
          pair.data?.reset();
        }, STREAM_PAIR_TIMEOUT_MS);
      }
      if (p[type]) { s.reset(RstStatus.ProtocolError); return; }
      p[type] = s;
      if (type === 'error') s.resume(); // the client sends nothing on it but its FIN
      if (p.data && p.error) {
        clearTimeout(p.timer);
        pairs.delete(id);
        void forward(p.data, p.error, target);
      }
    },
    onClose() {
      for (const p of pairs.values()) clearTimeout(p.timer);
      pairs.clear();
    },
  }, head);
  return session;
}

async function forward(data: SpdyStream, error: SpdyStream, target: PortForwardPod): Promise<void> {
  const portText = data.header('port') ?? '';
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  const fail = (why: string): void => {
    // kubelet: "error forwarding port %d to pod %s, uid %v: %v", the pod named by its sandbox (uid empty for CRI runtimes).
    if (!error.destroyed) error.end(`error forwarding port ${portText} to pod ${target.sandboxId}, uid : ${why}`);
    if (!data.destroyed) data.end();
  };
  if (!(port > 0 && port < 65536)) { fail(`invalid port "${portText}"`); return; }
  if (!target.ready) { fail(`failed to find sandbox "${target.sandboxId}": not ready`); return; }
  let conn: Socket;
  try {
    conn = await target.dial(port);
  } catch (e) {
    fail((e as Error).message);
    return;
  }
  if (data.destroyed) { conn.destroy(); if (!error.destroyed) error.end(); return; }
  let done = false;
  let grace: NodeJS.Timeout | undefined;
  const finish = (): void => {
    if (done) return;
    done = true;
    clearTimeout(grace);
    conn.destroy();
    if (!data.destroyed) data.end();
    if (!error.destroyed) error.end();
  };
  const halfDone = (): void => { grace ??= setTimeout(finish, HALF_CLOSE_GRACE_MS); };
  conn.on('error', finish);
  conn.on('close', finish);
  conn.on('end', halfDone);
  data.on('end', halfDone);
  data.on('close', finish);
  data.pipe(conn);
  conn.pipe(data);
}
