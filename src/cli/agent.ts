// `svcnet agent`: one node agent alone ("kubelet + CNI") against any API server,
// for a node namespace that already exists (svcnet up builds them).
import { clientFromFlag, kubeconfigFlag } from './connect.js';
import { startNodeAgent } from '../node/agent.js';
import { setLogLevel, type Level } from '../log.js';
import { helpText, parseArgs, UsageError, type FlagSpec, untilInterrupted } from './args.js';

const flags: FlagSpec[] = [
  { name: 'node-name', type: 'string', help: 'the Node to register and run pods for (required)' },
  kubeconfigFlag,
  { name: 'netns', type: 'string', help: 'the node\'s network namespace (required)' },
  { name: 'lan-ip', type: 'string', help: 'the node\'s InternalIP (required)' },
  { name: 'pod-cidr', type: 'string', help: 'the node\'s pod CIDR, e.g. 10.244.1.0/24 (required)' },
  { name: 'prefix', type: 'string', default: 'svcnet', help: 'cluster prefix for pod namespace names' },
  { name: 'data-dir', type: 'string', default: '.svcnet/agent', help: 'IPAM state, pod records, container logs' },
  { name: 'cluster-dns', type: 'string', default: '10.96.0.10', help: 'nameserver written into pods\' resolv.conf' },
  { name: 'log-level', type: 'string', default: 'info', help: 'debug | info | warn | error' },
];

export async function agentCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet agent --node-name N --netns NS --lan-ip IP --pod-cidr CIDR [flags]', 'Runs the pods bound to one node as processes in their own network namespaces, with probes and status.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length) throw new UsageError(`unexpected argument: ${positional[0]}`);
  for (const req of ['node-name', 'netns', 'lan-ip', 'pod-cidr']) if (!f[req]) throw new UsageError(`--${req} is required`);
  setLogLevel(String(f['log-level']) as Level);
  const client = clientFromFlag(f['kubeconfig']);
  const agent = await startNodeAgent({
    client, nodeName: String(f['node-name']), prefix: String(f['prefix']), dataDir: String(f['data-dir']),
    nodeNetns: String(f['netns']), lanIP: String(f['lan-ip']), podCIDR: String(f['pod-cidr']), dnsIP: String(f['cluster-dns']),
  });
  process.stdout.write(`svcnet agent running node ${agent.nodeName}\n`);
  await untilInterrupted();
  await agent.close();
  client.close();
  return 0;
}
