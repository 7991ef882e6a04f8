// `kubectl exec` (pods/exec) served by the embedded cluster (and, through
// the same session code, pods/attach: cluster/attach.ts): the API server
// checks what kube-apiserver checks (the pod, the container, a node), then
// speaks the WebSocket channel protocol (v5.channel.k8s.io, v4 too) to the
// client and runs the command through the node agent in this process that
// runs the pod (node/exec.ts). What kube-apiserver 1.30+ does with its stream
// translator in front of kubelet, in one hop.
//
// kubectl 1.30+ tries WebSocket first and falls back to SPDY/3.1 when the
// upgrade fails. Errors found before the upgrade (pod, container, node) are
// answered as Status objects on both paths, so the fallback prints them as a
// real cluster does (`Error from server (BadRequest): container x is not
// valid for pod p`). kubelet's own refusals come after the upgrade, on the
// error channel, wrapped as the translator wraps them (`Internal error
// occurred: unable to upgrade connection: container not found ("c")`).
// SPDY itself is not spoken: a SPDY request that passes every check gets a
// 400 saying so.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Status } from 'kubernetes-types/meta/v1.js';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { errors } from '../api/errors.js';
import { writeResponseToSocket } from '../apiserver/proxy.js';
import type { ApiServer } from '../apiserver/server.js';
import type { RequestInfo } from '../apiserver/request.js';
import {
  chooseProtocol, decodeFrame, encodeFrame, ExecError, exitStatus, findExecTarget, internalErrorStatus, parseExecQuery, parseResize,
  startExec, STREAM_ERROR, STREAM_RESIZE, STREAM_STDERR, STREAM_STDIN, STREAM_STDOUT, validateExecRequest,
  type ExecProcess, type ExecRequest, type ExecTarget, type TerminalSize,
} from '../node/exec.js';

/** Where the command runs, after kube-apiserver's checks (pod/rest ExecLocation, AttachLocation). */
export interface ExecLocation {
  namespace: string;
  pod: string;
  uid?: string;
  nodeName: string;
  container: string;
}

export async function locate(api: ApiServer, info: RequestInfo, req: Pick<ExecRequest, 'container'>): Promise<ExecLocation> {
  const pod = await api.registry('', 'pods').get(info.namespace, info.name ?? '') as Pod;
  const name = info.name ?? '';
  const spec = pod.spec ?? { containers: [] };
  let container = req.container;
  if (!container) {
    if (spec.containers.length === 1) container = spec.containers[0]!.name;
    else if (spec.containers.length === 0) throw errors.badRequest(`a container name must be specified for pod ${name}`);
    else {
      let msg = `a container name must be specified for pod ${name}, choose one of: [${spec.containers.map((c) => c.name).join(' ')}]`;
      const init = (spec.initContainers ?? []).map((c) => c.name);
      if (init.length) msg += ` or one of the init containers: [${init.join(' ')}]`;
      throw errors.badRequest(msg);
    }
  } else {
    const all = [...spec.containers, ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])].map((c) => c.name);
    if (!all.includes(container)) throw errors.badRequest(`container ${container} is not valid for pod ${name}`);
  }
  if (!spec.nodeName) throw errors.badRequest(`pod ${name} does not have a host assigned`);
  return { namespace: info.namespace ?? 'default', pod: name, uid: pod.metadata?.uid, nodeName: spec.nodeName, container };
}

/** kubelet's refusal of the upgrade, as the API server's proxy passes it through (plain text). */
function writeTextToSocket(socket: Duplex, code: number, text: string): void {
  writeResponseToSocket(socket, code, 'text/plain; charset=utf-8', text);
}

/** The error-channel Status for an exec that could not start (the stream translator's wrapping). */
export function execErrorStatus(e: ExecError): Status {
  switch (e.stage) {
    case 'dial': return internalErrorStatus(e.message);
    case 'handshake': return internalErrorStatus(`unable to upgrade connection: ${e.message}`);
    // kubelet writes NewInternalError("error executing command in container: …"); client-go turns
    // its message into an error, which the translator wraps in NewInternalError again.
    case 'start': return internalErrorStatus(`Internal error occurred: error executing command in container: ${e.message}`);
  }
}

/**
 * One streaming subresource over the channel protocol: exec, and attach (cluster/attach.ts),
 * which differ in the kubelet's checks, what runs, and the Status at the end.
 */
export interface ChannelSubresource<T> {
  /** `exec`, `attach`: the subresource, and the word for it in messages. */
  name: string;
  /** kubelet's option checks (remotecommand NewOptions): the refusal text, or undefined. */
  validate(o: ExecRequest): string | undefined;
  /** kubelet's lookup of the pod and container; throws ExecError (dial, handshake). */
  target(loc: ExecLocation, o: ExecRequest): Promise<T>;
  /** Starts the session's process; throws ExecError (start). */
  start(t: T, o: ExecRequest, size: TerminalSize | undefined): Promise<ExecProcess>;
  /** The Status once the process ended with `code`. */
  final(code: number): Status;
  /** The Status for an ExecError (the stream translator's wrapping). */
  errorStatus(e: ExecError): Status;
}

export const execSubresource: ChannelSubresource<ExecTarget> = {
  name: 'exec',
  validate: validateExecRequest,
  target: (loc) => findExecTarget(loc.namespace, loc.pod, loc.uid, loc.nodeName, loc.container),
  start: (t, o, size) => startExec(t, o.command, { stdin: o.stdin, stdout: o.stdout, stderr: o.stderr, tty: o.tty, size }),
  final: exitStatus,
  errorStatus: execErrorStatus,
};

export function servePodExec(api: ApiServer): void {
  serveChannelSubresource(api, execSubresource);
}

/** Registers `pods/<name>` for plain requests (refused as kube-apiserver refuses them) and upgrades. */
export function serveChannelSubresource<T>(api: ApiServer, sub: ChannelSubresource<T>): void {
  const key = `pods/${sub.name}`;
  const upgrade = channelUpgrader(sub);

  // A plain request: kube-apiserver's checks, then its UpgradeAwareHandler's answer.
  api.subresourceHandlers.set(key, async (req: IncomingMessage, _res: ServerResponse, info) => {
    const method = (req.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'POST') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    await locate(api, info, parseExecQuery(q));
    throw errors.badRequest('Upgrade request required');
  });

  api.upgradeHandlers.set(key, async (req, socket, head, info) => {
    const method = (req.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'POST') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const opts = parseExecQuery(q);
    const loc = await locate(api, info, opts);
    await upgrade(req, socket, head, opts, loc);
  });
}

/**
 * kubelet's half of an exec/attach upgrade, once the pod and container are
 * known: its checks, the WebSocket handshake, the session. The API server runs
 * it for the agents of its own process; a standalone agent's kubelet endpoint
 * (cluster/kubelet-server.ts) runs the same. Throws a StatusError for a
 * refusal to be written on the socket.
 */
export function channelUpgrader<T>(sub: ChannelSubresource<T>):
  (req: IncomingMessage, socket: Duplex, head: Buffer, opts: ExecRequest, loc: ExecLocation) => Promise<void> {
  const wss = new WebSocketServer({
    noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024,
    handleProtocols: (offered) => chooseProtocol(offered) ?? false,
  });
  return async (req, socket, head, opts, loc) => {
    const upgrade = String(req.headers['upgrade'] ?? '').toLowerCase();
    if (upgrade !== 'websocket') {
      // kubectl's SPDY fallback: kubelet's checks answer as kubelet would (plain text through the proxy).
      const invalid = sub.validate(opts);
      if (invalid) { writeTextToSocket(socket, 400, invalid); return; }
      try {
        await sub.target(loc, opts);
      } catch (e) {
        if (!(e instanceof ExecError)) throw e;
        if (e.stage === 'dial') throw errors.internal(e.message);
        writeTextToSocket(socket, e.httpCode, e.message);
        return;
      }
      throw errors.badRequest(`this API server streams ${sub.name} over WebSocket only (${['v5.channel.k8s.io', 'v4.channel.k8s.io'].join(', ')}), not ${req.headers['upgrade'] ?? 'an unknown protocol'}`);
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const protocol = chooseProtocol(offered);
    if (!protocol) throw errors.badRequest(`none of the offered WebSocket subprotocols [${offered.join(' ')}] is supported: want v5.channel.k8s.io or v4.channel.k8s.io`);
    await new Promise<void>((resolve) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        resolve();
        void runSession(ws, protocol, opts, loc, sub);
      });
      // handleUpgrade answers a bad handshake itself and never calls back.
      socket.once('close', () => resolve());
    });
  };
}

/** One exec (or attach) over an upgraded WebSocket: start, stream, and the final Status on channel 3. */
async function runSession<T>(ws: WebSocket, protocol: string, opts: ExecRequest, loc: ExecLocation, sub: ChannelSubresource<T>): Promise<void> {
  let proc: ExecProcess | undefined;
  let closed = false;
  // What arrives before the process runs (stdin data, EOF, the first window size) waits here.
  const earlyStdin: Buffer[] = [];
  let stdinEOF = false;
  let size: TerminalSize | undefined;
  let gotSize: (() => void) | undefined;

  ws.on('error', () => undefined);
  ws.on('close', () => { closed = true; proc?.kill(); gotSize?.(); });
  ws.on('message', (raw: RawData) => {
    const msg = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
    const f = decodeFrame(msg, protocol);
    if (f.kind === 'error') { ws.close(1002, f.message.slice(0, 120)); return; }
    if (f.kind === 'empty') return;
    if (f.kind === 'close') {
      if (f.stream !== STREAM_STDIN || !opts.stdin) return;
      stdinEOF = true;
      proc?.stdin?.end();
      return;
    }
    if (f.stream === STREAM_STDIN) {
      if (!opts.stdin || stdinEOF) return;
      const stdin = proc?.stdin;
      if (!proc) { earlyStdin.push(Buffer.from(f.data)); return; }
      if (stdin && !stdin.writableEnded && !stdin.write(f.data)) {
        ws.pause();
        stdin.once('drain', () => ws.resume());
      }
      return;
    }
    if (f.stream === STREAM_RESIZE && opts.tty) {
      for (const s of parseResize(f.data)) {
        size = s;
        if (proc) proc.resize(s);
      }
      gotSize?.();
    }
  });

  const finish = (status: Status): void => {
    if (closed || ws.readyState !== WebSocket.OPEN) return;
    ws.send(encodeFrame(STREAM_ERROR, JSON.stringify(status)), () => ws.close(1000));
  };

  const invalid = sub.validate(opts);
  if (invalid) { finish(internalErrorStatus(`unable to upgrade connection: ${invalid}`)); return; }
  let target: T;
  try {
    target = await sub.target(loc, opts);
  } catch (e) {
    finish(e instanceof ExecError ? sub.errorStatus(e) : internalErrorStatus(String((e as Error).message ?? e)));
    return;
  }
  if (opts.tty && !size) {
    // client-go sends the terminal's size right after connecting: the command should start with it.
    await new Promise<void>((r) => { const t = setTimeout(r, 300); gotSize = () => { clearTimeout(t); r(); }; });
    gotSize = undefined;
  }
  if (closed) return;
  try {
    proc = await sub.start(target, opts, size);
  } catch (e) {
    finish(e instanceof ExecError ? sub.errorStatus(e) : internalErrorStatus(`error executing command in container: ${String((e as Error).message ?? e)}`));
    return;
  }
  if (closed) { proc.kill(); return; }
  if (proc.stdin) {
    for (const b of earlyStdin) proc.stdin.write(b);
    if (stdinEOF) proc.stdin.end();
  }
  // Output goes out in order; a slow client slows the command down (the pipes fill) rather than this process's memory.
  let inFlight = 0;
  const outputs = [[proc.stdout, STREAM_STDOUT], [proc.stderr, STREAM_STDERR]] as const;
  const forward = (stream: number) => (chunk: Buffer): void => {
    if (closed) return;
    inFlight++;
    ws.send(encodeFrame(stream, chunk), () => {
      inFlight--;
      if (inFlight < 16) for (const [r] of outputs) if (r?.isPaused()) r.resume();
    });
    if (inFlight >= 64) for (const [r] of outputs) r?.pause();
  };
  for (const [r, n] of outputs) r?.on('data', forward(n));
  const code = await proc.exited;
  finish(sub.final(code));
}
