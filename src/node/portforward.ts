// `kubectl port-forward` on the node side: the API server's pods/portforward
// asks dialPod for a connection to a port of a pod, and the node agent that
// runs the pod makes it the way kubelet's runtime (containerd) does: it dials
// localhost:PORT inside the pod's network namespace. The agent cannot enter
// that namespace itself, so each pod that is port-forwarded gets a small
// helper process in it (builtin/portforward.js), started on first use and
// ending on its own when idle; the agent reaches it through a unix socket.
//
// Node agents running in this process register themselves as sources, like
// the log sources of logs.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { StatusError } from '../api/errors.js';
import { helperHandshake } from './handshake.js';
import { builtinScript } from './probes.js';
import { systemTool } from './runtime.js';

/** What a port-forward source knows of one pod. */
export interface PortForwardPod {
  /** What kubelet's messages name the pod by: its sandbox. */
  sandboxId: string;
  /** The sandbox stands (its namespace exists and is not being torn down). */
  ready: boolean;
  /** A connection to localhost:port in the pod's namespace. */
  dial(port: number): Promise<Socket>;
}

export interface PortForwardSource {
  findPod(namespace: string, name: string): PortForwardPod | undefined;
}

const sources = new Set<PortForwardSource>();

/** Node agents call this at start; dispose at close. */
export function registerPortForwardSource(s: PortForwardSource): { dispose(): void } {
  sources.add(s);
  return { dispose: () => { sources.delete(s); } };
}

/**
 * The pod as a port-forward target, or a Status error as kubelet answers the
 * upgrade with (404 "pod does not exist") when no agent here runs it.
 */
export function findPortForwardPod(namespace: string, name: string): PortForwardPod {
  for (const s of sources) {
    const p = s.findPod(namespace, name);
    if (p) return p;
  }
  throw new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pod does not exist', reason: 'NotFound', code: 404 });
}

/** A failed dial: the message is the runtime's (containerd's) wording. */
export class PortForwardDialError extends Error {}

interface Relay { child: ChildProcess; socket: string; dir: string }

/**
 * One node's helpers in pod namespaces, by namespace. close() ends them all
 * (their stdin closes and they exit).
 */
export class PodPortForwarder {
  private readonly relays = new Map<string, Promise<Relay>>();
  private readonly ip: string;
  private closed = false;

  constructor(private readonly opts: { ip?: string; nodeBinary?: string } = {}) {
    this.ip = opts.ip ?? systemTool('ip');
  }

  /** localhost:port in the namespace `netns`; rejects with PortForwardDialError (containerd's wording, `sandboxId` in it). */
  async dial(netns: string, sandboxId: string, port: number): Promise<Socket> {
    const r = await this.relay(netns);
    const { status, socket } = await helperHandshake({
      path: r.socket, allowHalfOpen: true, request: `${port}\n`,
      closed: () => new PortForwardDialError(`port-forward helper in ${netns} closed the connection`),
    });
    if (status === 'OK') return socket;
    socket.destroy();
    const [v4, v6] = status.replace(/^ERR /, '').split('\t');
    throw new PortForwardDialError(`failed to execute portforward in network namespace "/var/run/netns/${netns}": ` +
      `failed to connect to localhost:${port} inside namespace "${sandboxId}", IPv4: ${v4} IPv6 ${v6 ?? ''} `);
  }

  private relay(netns: string): Promise<Relay> {
    if (this.closed) return Promise.reject(new PortForwardDialError('node agent is shutting down'));
    let r = this.relays.get(netns);
    if (!r) {
      r = this.start(netns);
      this.relays.set(netns, r);
      r.catch(() => this.relays.delete(netns));
    }
    return r;
  }

  private start(netns: string): Promise<Relay> {
    // A short path of its own: unix socket paths are limited to 107 bytes.
    const dir = mkdtempSync(join(tmpdir(), 'svcnet-pf-'));
    const socket = join(dir, 's');
    const child = spawn(this.ip, ['netns', 'exec', netns, this.opts.nodeBinary ?? process.execPath, builtinScript('portforward'), socket],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdin!.on('error', () => undefined);
    const cleanup = (): void => {
      if (this.relays.get(netns) === started) this.relays.delete(netns);
      rmSync(dir, { recursive: true, force: true });
    };
    const started = new Promise<Relay>((resolve, reject) => {
      const t = setTimeout(() => { child.kill('SIGKILL'); reject(new PortForwardDialError(`port-forward helper in ${netns} did not start`)); }, 10_000);
      child.once('error', (e) => { clearTimeout(t); reject(new PortForwardDialError(`port-forward helper in ${netns}: ${e.message}`)); });
      child.once('exit', (code) => {
        clearTimeout(t);
        cleanup();
        reject(new PortForwardDialError(`failed to execute portforward in network namespace "/var/run/netns/${netns}": helper exited (${code})`));
      });
      createInterface({ input: child.stdout! }).once('line', () => { clearTimeout(t); resolve({ child, socket, dir }); });
    });
    return started;
  }

  close(): void {
    this.closed = true;
    for (const r of this.relays.values()) {
      void r.then((x) => {
        x.child.stdin?.end();
        const t = setTimeout(() => x.child.kill('SIGKILL'), 1000);
        x.child.once('exit', () => clearTimeout(t));
      }, () => undefined);
    }
    this.relays.clear();
  }
}
