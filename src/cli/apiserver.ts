// `svcnet apiserver`: the API server alone, in the foreground.
import { startApiServer } from '../apiserver/index.js';
import { uiHandler } from '../ui/server.js';
import { explainService } from '../proxy/explain.js';
import { serveNodeSubresources } from '../cluster/kubelet-proxy.js';
import { setLogLevel, type Level } from '../log.js';
import { helpText, parseArgs, parseHostPort, UsageError, type FlagSpec, untilInterrupted } from './args.js';

const flags: FlagSpec[] = [
  { name: 'listen', type: 'string', default: '127.0.0.1:6443', help: 'address to serve on; port 0 picks a free port' },
  { name: 'storage', type: 'string', help: 'memory | sqlite:PATH | etcd:URL[,URL...] (default sqlite:DATA-DIR/state.db, or memory without --data-dir)' },
  { name: 'data-dir', type: 'string', help: 'directory for state and the admin kubeconfig (written once serving)' },
  { name: 'service-cluster-ip-range', type: 'string', default: '10.96.0.0/16', help: 'CIDR (or IPv4,IPv6 pair) for ClusterIPs' },
  { name: 'service-node-port-range', type: 'string', default: '30000-32767', help: 'port range for NodePorts' },
  { name: 'token', type: 'string', help: 'admin bearer token (random when absent)' },
  { name: 'log-level', type: 'string', default: 'info', help: 'debug | info | warn | error' },
];

export async function apiserverCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet apiserver [flags]', 'Runs the Kubernetes-compatible API server in the foreground until interrupted.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length) throw new UsageError(`unexpected argument: ${positional[0]}`);
  const level = String(f['log-level']);
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new UsageError(`invalid --log-level: ${level}`);
  setLogLevel(level as Level);
  const { host, port } = parseHostPort(String(f['listen']));
  const dataDir = f['data-dir'] as string | undefined;
  const storage = (f['storage'] as string | undefined) ?? (dataDir ? `sqlite:${dataDir}/state.db` : 'memory');
  const running = await startApiServer({
    listenHost: host, listenPort: port, storage, dataDir,
    serviceClusterIPRange: String(f['service-cluster-ip-range']),
    serviceNodePortRange: String(f['service-node-port-range']),
    token: f['token'] as string | undefined,
  });
  running.api.nonResourceHandlers.set('/ui', uiHandler({ objects: running.api, explain: explainService }));
  // kubectl logs/exec/attach/port-forward: proxied to the nodes' agents (`svcnet agent`'s kubelet endpoint).
  const streaming = serveNodeSubresources(running.api, { adminToken: running.token });
  process.stdout.write(`svcnet apiserver serving on ${running.url} (storage ${storage})\n`);
  if (running.kubeconfigPath) process.stdout.write(`kubeconfig: ${running.kubeconfigPath}\n`);
  await untilInterrupted();
  streaming.close();
  await running.close();
  return 0;
}
