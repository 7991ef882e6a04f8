// `svcnet trace <service>`: the seeds' question — which endpoint gets the
// traffic? — answered from the rules a node's proxy programs.
import type { Node, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { findResource } from '../api/resources.js';
import { HttpClient } from '../client/http.js';
import { defaultKubeconfigPath, loadKubeconfig } from '../client/kubeconfig.js';
import { explainService } from '../proxy/explain.js';
import { formatTrace } from '../proxy/trace.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from './args.js';

const flags: FlagSpec[] = [
  { name: 'namespace', short: 'n', type: 'string', default: 'default', help: 'the service\'s namespace' },
  { name: 'from', type: 'string', default: 'pod', help: 'where the packet starts: pod | node | client' },
  { name: 'port', type: 'string', help: 'service port number or name (default: every port)' },
  { name: 'node', type: 'string', help: 'node whose rules are traced (default: the first node)' },
  { name: 'mode', type: 'string', default: 'nftables', help: 'data plane to trace: nftables | iptables' },
  { name: 'cluster-cidr', type: 'string', default: '10.244.0.0/16', help: 'pod CIDR (masquerade decisions)' },
  { name: 'kubeconfig', type: 'string', help: 'kubeconfig (default $KUBECONFIG or ~/.kube/config)' },
  { name: 'output', short: 'o', type: 'string', default: '', help: 'json for machine output' },
];

export async function traceCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet trace SERVICE [flags]', 'Shows the path a packet to SERVICE takes: which node, which rules, DNAT to which endpoints with which probability, masquerade.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length !== 1) throw new UsageError('want exactly one SERVICE (see svcnet trace --help)');
  const from = String(f['from']);
  if (!['pod', 'node', 'client'].includes(from)) throw new UsageError(`--from must be pod, node or client, not "${from}"`);
  const mode = String(f['mode']);
  if (mode !== 'nftables' && mode !== 'iptables') throw new UsageError(`--mode must be nftables or iptables, not "${mode}"`);
  const output = String(f['output']);
  if (output !== '' && output !== 'json') throw new UsageError(`unsupported output format: ${output}`);
  const client = new HttpClient(loadKubeconfig((f['kubeconfig'] as string | undefined) ?? defaultKubeconfigPath(process.env)));
  try {
    const [services, slices, nodes] = await Promise.all([
      client.list<Service & { [k: string]: unknown }>(findResource('', 'v1', 'services')!, undefined),
      client.list<EndpointSlice & { [k: string]: unknown }>(findResource('discovery.k8s.io', 'v1', 'endpointslices')!, undefined),
      client.list<Node & { [k: string]: unknown }>(findResource('', 'v1', 'nodes')!, undefined),
    ]);
    const e = explainService({
      services: services.items, slices: slices.items, nodes: nodes.items,
      namespace: String(f['namespace']), service: positional[0]!, node: f['node'] as string | undefined,
      from: from === 'client' ? 'external' : (from as 'pod' | 'node'), port: f['port'] as string | undefined,
      mode, clusterCIDR: String(f['cluster-cidr']),
    });
    if (output === 'json') {
      process.stdout.write(JSON.stringify(e, null, 2) + '\n');
      return 0;
    }
    process.stdout.write(`Service ${f['namespace']}/${positional[0]} traced through node ${e.node} (${e.nodeIPs.join(', ')}), ${e.mode} rules, packet from ${from}:\n`);
    if (!e.paths.length) process.stdout.write('\n(no address of this service is reachable from there)\n');
    for (const p of e.paths) process.stdout.write(`\n== ${p.target}\n${formatTrace(p.trace)}`);
    return 0;
  } finally {
    client.close();
  }
}
