// pods/portforward over kubelet's WebSocket protocol (framing in
// node/wsportforward.ts): what @kubernetes/client-node's PortForward and
// python's kubernetes.stream.portforward speak — a WebSocket whose
// subprotocol is v4.channel.k8s.io (or its base64 twin, or none), the ports in
// the query, two channels per port. kube-apiserver passes such an upgrade
// through to kubelet (only `SPDY/3.1+portforward.k8s.io` is tunnelled), and
// kubelet's handleWebSocketStreams forwards each port once: one pod
// connection per port per WebSocket, the WebSocket closed once every port is
// done. Served beside the SPDY protocol by cluster/portforward.ts's upgrader,
// so the API server and a standalone agent's kubelet endpoint both have it.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { errors, StatusError } from '../api/errors.js';
import type { PortForwardPod } from '../node/portforward.js';
import {
  choosePortForwardProtocol, dataChannel, decodeChannelMessage, encodeChannelMessage, errorChannel, parseKubeletPorts, portPrefix, protocolRefusal,
} from '../node/wsportforward.js';

/** containerd: once one direction ends, the other gets this long to finish. */
const HALF_CLOSE_GRACE_MS = 1000;
/** Messages sent and not yet flushed before the pod connection is paused. */
const MAX_IN_FLIGHT = 64;

/** The offered subprotocols (the header may be a list). */
export function offeredProtocols(req: IncomingMessage): string[] {
  return String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * kubelet's WebSocket port-forward upgrades. upgrade() takes kubelet's `port`
 * query values (kube-apiserver's translation of `ports`) and throws a
 * StatusError for a refusal; close() ends the sessions still open.
 */
export function wsPortForwardUpgrader(): {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: PortForwardPod, portParams: readonly string[]): void;
  close(why?: string): void;
} {
  const sessions = new Set<WebSocket>();
  const wss = new WebSocketServer({
    noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024,
    handleProtocols: (offered) => choosePortForwardProtocol([...offered]) ?? false,
  });
  return {
    upgrade(req, socket, head, target, portParams) {
      const parsed = parseKubeletPorts(portParams);
      if ('error' in parsed) throw errors.badRequest(parsed.error);
      const offered = offeredProtocols(req);
      const protocol = choosePortForwardProtocol(offered);
      if (protocol === undefined) {
        throw new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403, message: protocolRefusal(offered) });
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        sessions.add(ws);
        ws.once('close', () => sessions.delete(ws));
        serveWsPortForwardSession(ws, ws.protocol, parsed.ports, target);
      });
    },
    close(why = 'the API server is shutting down') {
      for (const ws of sessions) ws.close(1001, why.slice(0, 120));
    },
  };
}

/** One WebSocket: every port forwarded once, then the WebSocket closed (kubelet's websocketStreamHandler.run). */
export function serveWsPortForwardSession(ws: WebSocket, protocol: string, ports: readonly number[], target: PortForwardPod): void {
  // What the client sends on each data channel, until (and while) the pod connection takes it.
  const inbound = ports.map(() => new PassThrough({ highWaterMark: 256 * 1024 }));
  let closed = false;
  let inFlight = 0;
  const conns = new Set<Socket>();
  const send = (channel: number, data: Buffer | string, done?: () => void): void => {
    if (closed || ws.readyState !== WebSocket.OPEN) { done?.(); return; }
    inFlight++;
    ws.send(encodeChannelMessage(protocol, channel, data), () => {
      inFlight--;
      if (inFlight < MAX_IN_FLIGHT / 4) for (const c of conns) if (c.isPaused()) c.resume();
      done?.();
    });
    if (inFlight >= MAX_IN_FLIGHT) for (const c of conns) c.pause();
  };

  ws.on('error', () => undefined);
  ws.on('close', () => {
    closed = true;
    for (const i of inbound) i.end();
  });
  ws.on('message', (raw: RawData) => {
    const msg = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
    const m = decodeChannelMessage(protocol, msg);
    // wsstream ignores frames for channels that do not exist and for write-only (error) channels.
    if (!m || m.channel >= 2 * ports.length || m.channel % 2 === 1 || m.data.length === 0) return;
    const sink = inbound[m.channel / 2]!;
    if (!sink.write(m.data)) {
      ws.pause();
      sink.once('drain', () => ws.resume());
    }
  });

  for (let i = 0; i < ports.length; i++) {
    send(dataChannel(i), portPrefix(ports[i]!));
    send(errorChannel(i), portPrefix(ports[i]!));
  }
  void Promise.all(ports.map((port, i) => forwardPort(port, i))).then(() => {
    if (!closed && ws.readyState === WebSocket.OPEN) ws.close(1000);
  });

  async function forwardPort(port: number, i: number): Promise<void> {
    const fail = (why: string): Promise<void> => new Promise((resolve) => {
      // kubelet: "error forwarding port %d to pod %s, uid %v: %v", the pod named by its sandbox (uid empty for CRI runtimes).
      send(errorChannel(i), `error forwarding port ${port} to pod ${target.sandboxId}, uid : ${why}`, resolve);
    });
    if (!target.ready) return fail(`failed to find sandbox "${target.sandboxId}": not ready`);
    let conn: Socket;
    try {
      conn = await target.dial(port);
    } catch (e) {
      return fail((e as Error).message);
    }
    if (closed) { conn.destroy(); return; }
    conns.add(conn);
    const input = inbound[i]!;
    await new Promise<void>((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(grace);
        conns.delete(conn);
        input.unpipe(conn);
        conn.destroy();
        resolve();
      };
      // containerd's PortForward: when one direction ends, the other gets a moment, then both go.
      const halfDone = (): void => { grace ??= setTimeout(finish, HALF_CLOSE_GRACE_MS); };
      conn.on('data', (d: Buffer) => send(dataChannel(i), d));
      conn.on('end', halfDone);
      conn.on('error', finish);
      conn.on('close', finish);
      input.on('end', halfDone);
      input.pipe(conn);
    });
  }
}
