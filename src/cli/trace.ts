// `svcnet trace <service>`: the seeds' question — which endpoint gets the
// traffic? — answered from the rules a node's proxy programs.
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { findResource } from '../api/resources.js';
import { execFile } from 'node:child_process';
import { clientNetnsName, nodeNetnsName, podNetnsName } from '../node/names.js';
import { clientFromFlag, kubeconfigFlag, readClusterState } from './connect.js';
import { explainService } from '../proxy/explain.js';
import { formatTrace } from '../proxy/trace.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from './args.js';

const flags: FlagSpec[] = [
  { name: 'namespace', short: 'n', type: 'string', default: 'default', help: 'the service\'s namespace' },
  { name: 'from', type: 'string', default: 'pod', help: 'where the packet starts: pod | node | client' },
  { name: 'port', type: 'string', help: 'service port number or name (default: every port)' },
  { name: 'node', type: 'string', help: 'node whose rules are traced (default: the first node)' },
  { name: 'mode', type: 'string', help: 'data plane to trace: nftables | iptables | userspace (default: the data plane of the cluster in --data-dir, else nftables)' },
  { name: 'cluster-cidr', type: 'string', default: '10.244.0.0/16', help: 'pod CIDR (masquerade decisions)' },
  kubeconfigFlag,
  { name: 'measure', type: 'number', default: 0, help: 'also send N real HTTP requests from there and show the observed split' },
  { name: 'data-dir', type: 'string', default: '.svcnet', help: 'the cluster\'s data directory (for --measure and the default --mode)' },
  { name: 'output', short: 'o', type: 'string', default: '', help: 'json for machine output' },
];

/** Runs N requests to dst from a cluster namespace and counts which pod answered (built-in images answer their name). */
function measure(netns: string, dst: string, n: number): Promise<Map<string, number>> {
  const script = `i=0; while [ $i -lt ${n} ]; do curl -s -m 2 -H 'Connection: close' http://${dst}/ || echo '(no answer)'; echo; i=$((i+1)); done`;
  return new Promise((res, rej) => execFile('ip', ['netns', 'exec', netns, 'sh', '-c', script], { maxBuffer: 16 << 20 }, (e, out) => {
    if (e) return rej(e);
    const counts = new Map<string, number>();
    for (const line of out.split('\n').map((l) => l.trim()).filter(Boolean)) counts.set(line, (counts.get(line) ?? 0) + 1);
    res(counts);
  }));
}

/** The data plane `svcnet up` recorded in DATA-DIR/cluster.json; nftables when there is none. */
function clusterMode(dataDir: string): string {
  let dataplane: string | undefined;
  try {
    dataplane = readClusterState(dataDir).dataplane;
  } catch {
    return 'nftables'; // no running cluster there (or unreadable state): the default rules
  }
  return dataplane === 'iptables' || dataplane === 'userspace' ? dataplane : 'nftables';
}

export async function traceCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet trace SERVICE [flags]', 'Shows the path a packet to SERVICE takes: which node, which rules, DNAT to which endpoints with which probability, masquerade. With --mode userspace (no rules), which address the node\'s proxy listens on and which endpoints it relays to, from the node.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length !== 1) throw new UsageError('want exactly one SERVICE (see svcnet trace --help)');
  const from = String(f['from']);
  if (!['pod', 'node', 'client'].includes(from)) throw new UsageError(`--from must be pod, node or client, not "${from}"`);
  const mode = (f['mode'] as string | undefined) || clusterMode(String(f['data-dir']));
  if (mode !== 'nftables' && mode !== 'iptables' && mode !== 'userspace') throw new UsageError(`--mode must be nftables, iptables or userspace, not "${mode}"`);
  const output = String(f['output']);
  if (output !== '' && output !== 'json') throw new UsageError(`unsupported output format: ${output}`);
  const client = clientFromFlag(f['kubeconfig']);
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
    const n = Number(f['measure']);
    process.stdout.write(`Service ${f['namespace']}/${positional[0]} traced through node ${e.node} (${e.nodeIPs.join(', ')}), ${e.mode === 'userspace' ? 'userspace proxy (no rules)' : `${e.mode} rules`}, packet from ${from}:\n`);
    if (!e.paths.length) process.stdout.write('\n(no address of this service is reachable from there)\n');
    // Where the measured requests start: the client namespace, the first node, or a Running pod.
    let fromNs: string | undefined;
    if (n > 0) {
      const state = readClusterState(String(f['data-dir']));
      if (from === 'client') fromNs = clientNetnsName(state.prefix);
      else if (from === 'node') fromNs = nodeNetnsName(state.prefix, state.nodes[0]!);
      else {
        const pods = await client.list<Pod & { [k: string]: unknown }>(findResource('', 'v1', 'pods')!, String(f['namespace']));
        const p = pods.items.find((x) => x.status?.phase === 'Running');
        if (!p) throw new Error(`--measure --from pod needs a Running pod in namespace ${f['namespace']}`);
        fromNs = podNetnsName(state.prefix, String(f['namespace']), p.metadata!.name!, p.metadata!.uid!);
      }
    }
    const podsByIP = new Map<string, string>();
    if (n > 0) {
      const pods = await client.list<Pod & { [k: string]: unknown }>(findResource('', 'v1', 'pods')!, undefined);
      for (const p of pods.items) if (p.status?.podIP) podsByIP.set(p.status.podIP, p.metadata?.name ?? '');
    }
    for (const p of e.paths) {
      process.stdout.write(`\n== ${p.target}\n${formatTrace(p.trace)}`);
      if (n > 0 && p.trace.verdict === 'DNAT') {
        const dst = p.target.split(' ')[1]!.replace(/\/(TCP|UDP|SCTP)$/, '');
        const counts = await measure(fromNs!, dst, n);
        process.stdout.write(`measured over ${n} requests (expected → observed):\n`);
        const rows = p.trace.endpoints.map((ep) => {
          const pod = podsByIP.get(ep.ip) ?? ep.ip;
          const got = counts.get(pod) ?? 0;
          counts.delete(pod);
          return `  ${pod.padEnd(32)} ${(ep.probability * 100).toFixed(1).padStart(5)}% → ${((got / n) * 100).toFixed(1).padStart(5)}%  (${got})`;
        });
        for (const [other, c] of counts) rows.push(`  ${other.padEnd(32)}     – → ${((c / n) * 100).toFixed(1).padStart(5)}%  (${c})`);
        process.stdout.write(rows.join('\n') + '\n');
      }
    }
    return 0;
  } finally {
    client.close();
  }
}
