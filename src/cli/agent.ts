// `svcnet agent`: one node agent alone ("kubelet + CNI") against any API server,
// for a node namespace that already exists (svcnet up builds them).
import { kubeconfigFlag } from './connect.js';
import { HttpClient } from '../client/http.js';
import { defaultKubeconfigPath, loadKubeconfig } from '../client/kubeconfig.js';
import { startKubeletServer } from '../cluster/kubelet-server.js';
import { startNodeAgent, type NodeAgent } from '../node/agent.js';
import { setLogLevel, type Level } from '../log.js';
import { helpText, parseArgs, parseHostPort, UsageError, type FlagSpec, untilInterrupted } from './args.js';

const flags: FlagSpec[] = [
  { name: 'node-name', type: 'string', help: 'the Node to register and run pods for (required)' },
  kubeconfigFlag,
  { name: 'netns', type: 'string', help: 'the node\'s network namespace (required)' },
  { name: 'lan-ip', type: 'string', help: 'the node\'s InternalIP (required)' },
  { name: 'pod-cidr', type: 'string', help: 'the node\'s pod CIDR, e.g. 10.244.1.0/24 (required)' },
  { name: 'prefix', type: 'string', default: 'svcnet', help: 'cluster prefix for pod namespace names' },
  { name: 'data-dir', type: 'string', default: '.svcnet/agent', help: 'IPAM state, pod records, container logs' },
  { name: 'cluster-dns', type: 'string', default: '10.96.0.10', help: 'nameserver written into pods\' resolv.conf' },
  { name: 'kubelet-listen', type: 'string', default: '127.0.0.1:0', help: 'the kubelet endpoint (logs, exec, attach, port-forward for the API server); port 0 picks a free port; recorded in the Node' },
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
  const { host, port } = parseHostPort(String(f['kubelet-listen']));
  const conn = loadKubeconfig((f['kubeconfig'] as string | undefined) ?? defaultKubeconfigPath(process.env));
  const client = new HttpClient(conn);
  const nodeName = String(f['node-name']);
  // Listening first: its port goes into the Node the agent registers. Until the agent
  // runs, it answers as a kubelet that does not know the pod.
  const kubelet = await startKubeletServer({ nodeName, host, port, adminToken: conn.token });
  let agent: NodeAgent;
  try {
    agent = await startNodeAgent({
      client, nodeName, prefix: String(f['prefix']), dataDir: String(f['data-dir']),
      nodeNetns: String(f['netns']), lanIP: String(f['lan-ip']), podCIDR: String(f['pod-cidr']), dnsIP: String(f['cluster-dns']),
      kubeletEndpoint: { address: kubelet.address, port: kubelet.port },
    });
  } catch (e) {
    await kubelet.close();
    client.close();
    throw e;
  }
  process.stdout.write(`svcnet agent running node ${agent.nodeName} (kubelet endpoint https://${kubelet.address}:${kubelet.port})\n`);
  await untilInterrupted();
  await kubelet.close();
  await agent.close();
  client.close();
  return 0;
}
