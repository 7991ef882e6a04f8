// `svcnet up`: everything in one process, in the foreground.
import { up, renderSummary, type Dataplane } from '../cluster/up.js';
import { setLogLevel, type Level } from '../log.js';
import { helpText, parseArgs, parseHostPort, UsageError, type FlagSpec, untilInterrupted } from './args.js';
import { isRoot, LISTEN_FD_ENV, relayHostListener, ROOTLESS_ENV, rootlessUnsupported, runRootlessUp } from '../cluster/rootless.js';

const flags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '.svcnet', help: 'state, certificates and the admin kubeconfig' },
  { name: 'storage', type: 'string', help: 'memory | sqlite:PATH | etcd:URL[,URL...] (default sqlite:DATA-DIR/state.db)' },
  { name: 'listen', type: 'string', default: '127.0.0.1:6443', help: 'API server address; port 0 picks a free port' },
  { name: 'service-cluster-ip-range', type: 'string', default: '10.96.0.0/16', help: 'CIDR for ClusterIPs' },
  { name: 'service-node-port-range', type: 'string', default: '30000-32767', help: 'NodePort range' },
  { name: 'disable-controllers', type: 'string', default: '', help: 'comma-separated controllers to leave out' },
  { name: 'nodes', type: 'number', default: 2, help: 'worker nodes (network namespaces)' },
  { name: 'dataplane', type: 'string', default: 'auto', help: 'auto | nftables | iptables | userspace | none (auto: nftables if nft is installed, else iptables, else userspace; rootless without root)' },
  { name: 'quiet', type: 'boolean', help: 'print nothing but errors' },
  { name: 'output', short: 'o', type: 'string', default: '', help: 'json: print the summary as JSON once ready' },
  { name: 'log-level', type: 'string', default: 'warn', help: 'debug | info | warn | error' },
];

export async function upCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet up [flags]', 'Starts a whole cluster in this process and stays in the foreground; Ctrl-C stops it and cleans up.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length) throw new UsageError(`unexpected argument: ${positional[0]}`);
  const output = String(f['output']);
  if (output !== '' && output !== 'json') throw new UsageError(`unsupported output format: ${output}`);
  setLogLevel(String(f['log-level']) as Level);
  const dataplane = String(f['dataplane']);
  if (!['auto', 'nftables', 'iptables', 'userspace', 'none'].includes(dataplane)) throw new UsageError(`--dataplane must be auto, nftables, iptables, userspace or none, not "${dataplane}"`);
  const nodes = Number(f['nodes']);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) throw new UsageError(`--nodes must be between 1 and 50`);
  const { host, port } = parseHostPort(String(f['listen']));
  const quiet = f['quiet'] === true || output === 'json';
  const dataDir = String(f['data-dir']);
  if (!isRoot() && !process.env[ROOTLESS_ENV] && dataplane !== 'none' && !rootlessUnsupported()) {
    // Not root: the same cluster, inside a user namespace of our own (see cluster/rootless.ts).
    if (!/^(127\.|localhost$|::1$)/.test(host)) throw new UsageError(`without root the API server listens on loopback only, not "${host}"`);
    return runRootlessUp(argv, { dataDir, host, port, entry: process.argv[1]! });
  }
  if (!quiet) process.stdout.write('Starting svcnet\n');
  const cluster = await up({
    dataDir, storage: f['storage'] as string | undefined, listen: { host, port },
    serviceClusterIPRange: String(f['service-cluster-ip-range']), serviceNodePortRange: String(f['service-node-port-range']),
    disabledControllers: String(f['disable-controllers']).split(',').filter(Boolean), quiet,
    nodes: Number(f['nodes']), dataplane: dataplane as Dataplane,
  });
  if (output === 'json') process.stdout.write(JSON.stringify(cluster.summary(), null, 2) + '\n');
  else if (!f['quiet']) process.stdout.write(renderSummary(cluster.summary()));
  const listenFd = process.env[LISTEN_FD_ENV];
  const hostRelay = listenFd ? await relayHostListener(Number(listenFd), { host: '127.0.0.1', port: Number(new URL(cluster.api.url).port) }) : undefined;
  await untilInterrupted();
  if (!quiet) process.stdout.write('\nStopping…\n');
  hostRelay?.close();
  await cluster.close();
  return 0;
}
