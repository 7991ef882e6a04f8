// `svcnet status`: is the cluster up, and what is in it.
import type { Node } from 'kubernetes-types/core/v1.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { findResource } from '../api/resources.js';
import { HttpClient } from '../client/http.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from './args.js';

const flags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '.svcnet', help: 'the cluster\'s data directory' },
  { name: 'kubeconfig', type: 'string', help: 'use this kubeconfig instead of DATA-DIR/kubeconfig' },
  { name: 'output', short: 'o', type: 'string', default: '', help: 'json for machine output' },
];

export async function statusCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet status [flags]', 'Shows whether the API server answers, the nodes and their readiness, and how many Services and endpoints exist.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length) throw new UsageError(`unexpected argument: ${positional[0]}`);
  const output = String(f['output']);
  if (output !== '' && output !== 'json') throw new UsageError(`unsupported output format: ${output}`);
  const path = (f['kubeconfig'] as string | undefined) ?? join(resolve(String(f['data-dir'])), 'kubeconfig');
  if (!existsSync(path)) throw new Error(`no kubeconfig at ${path}: is a cluster running?`);
  const client = new HttpClient(loadKubeconfig(path), { timeoutMs: 5000 });
  try {
    const [nodes, services, slices, pods] = await Promise.all([
      client.list<Node & { [k: string]: unknown }>(findResource('', 'v1', 'nodes')!, undefined),
      client.list(findResource('', 'v1', 'services')!, undefined),
      client.list(findResource('discovery.k8s.io', 'v1', 'endpointslices')!, undefined),
      client.list(findResource('', 'v1', 'pods')!, undefined),
    ]);
    const nodeRows = nodes.items.map((n) => ({
      name: n.metadata?.name ?? '',
      ready: n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
      internalIP: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '',
      podCIDR: n.spec?.podCIDR ?? '',
    }));
    const s = { apiServer: client.server, kubeconfig: path, nodes: nodeRows, services: services.items.length, endpointSlices: slices.items.length, pods: pods.items.length };
    if (output === 'json') {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      return 0;
    }
    const lines = [`API server   ${s.apiServer} (answering)`, `kubeconfig   ${path}`, `services     ${s.services}`, `slices       ${s.endpointSlices}`, `pods         ${s.pods}`, ''];
    if (!nodeRows.length) lines.push('nodes        (none)');
    else {
      const w = Math.max(4, ...nodeRows.map((n) => n.name.length)) + 2;
      lines.push(`${'NODE'.padEnd(w)}${'STATUS'.padEnd(10)}${'INTERNAL-IP'.padEnd(16)}POD-CIDR`);
      for (const n of nodeRows) lines.push(`${n.name.padEnd(w)}${(n.ready ? 'Ready' : 'NotReady').padEnd(10)}${n.internalIP.padEnd(16)}${n.podCIDR}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    client.close();
  }
}
