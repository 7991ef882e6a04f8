// A small real cluster for scenario tests and benchmarks, to be used INSIDE a
// private sandbox (sandbox.ts): an API server on 127.0.0.1 (memory storage),
// the namespace topology, and one node agent per node, all in this process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startApiServer, type RunningApiServer } from '../../apiserver/index.js';
import { findByKind } from '../../api/resources.js';
import { HttpClient } from '../../client/http.js';
import type { Logger } from '../../client/log.js';
import type { KObject } from '../../client/types.js';
import { setLogLevel } from '../../log.js';
import { startNodeAgent, type NodeAgent, type NodeAgentOptions } from '../agent.js';
import { IpNetns } from '../netns.js';
import { createTopology, destroyTopology, type Topology } from '../topology.js';

export const podsResource = findByKind('v1', 'Pod')!;

export interface NodeCluster {
  dir: string;
  server: RunningApiServer;
  client: HttpClient;
  topology: Topology;
  netns: IpNetns;
  agents: Map<string, NodeAgent>;
  startAgent(node: string): Promise<NodeAgent>;
  getPod(name: string, namespace?: string): Promise<Pod>;
  createPod(name: string, node: string, spec: Partial<NonNullable<Pod['spec']>>, namespace?: string): Promise<Pod>;
  close(): Promise<void>;
}

export const consoleLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (m, f) => process.stderr.write(`WARN ${m} ${JSON.stringify(f ?? {})}\n`),
  error: (m, f) => process.stderr.write(`ERROR ${m} ${JSON.stringify(f ?? {})}\n`),
};

export async function startNodeCluster(o: { prefix: string; nodes: string[]; agent?: Partial<NodeAgentOptions> }): Promise<NodeCluster> {
  setLogLevel('error');
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-nodes-'));
  const netns = new IpNetns();
  let server: RunningApiServer | undefined;
  let client: HttpClient | undefined;
  const agents = new Map<string, NodeAgent>();
  let closed = false;
  try {
    server = await startApiServer({
      listenHost: '127.0.0.1', listenPort: 0, storage: 'memory', dataDir: dir,
      serviceClusterIPRange: '10.96.0.0/16', serviceNodePortRange: '30000-32767',
    });
    client = HttpClient.fromKubeconfig(server.kubeconfigPath!);
    const topology = await createTopology({ prefix: o.prefix, nodes: o.nodes, netns });
    const c: NodeCluster = {
      dir, server, client, topology, netns, agents,
      async startAgent(node) {
        const n = topology.nodes.find((x) => x.name === node)!;
        const a = await startNodeAgent({
          client: client!, nodeName: n.name, prefix: o.prefix, dataDir: join(dir, 'nodes', n.name), nodeNetns: n.netns,
          lanIP: n.lanIP, podCIDR: n.podCIDR, log: consoleLogger, netns, ...o.agent,
        });
        agents.set(node, a);
        return a;
      },
      getPod: (name, namespace = 'default') => client!.get<Pod & KObject>(podsResource, namespace, name),
      createPod: (name, node, spec, namespace = 'default') => client!.create<Pod & KObject>(podsResource, namespace, {
        apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: node, containers: [], ...spec },
      }),
      async close() {
        if (closed) return;
        closed = true;
        await Promise.all([...agents.values()].map((a) => a.close({ stopPods: true })));
        agents.clear();
        await destroyTopology(o.prefix, { netns });
        client!.close();
        await server!.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    for (const n of o.nodes) await c.startAgent(n);
    return c;
  } catch (e) {
    await Promise.all([...agents.values()].map((a) => a.close({ stopPods: true }).catch(() => undefined)));
    await destroyTopology(o.prefix, { netns }).catch(() => undefined);
    client?.close();
    await server?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export function isReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export async function waitFor<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
