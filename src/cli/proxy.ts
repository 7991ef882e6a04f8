// `svcnet proxy`: one node's service proxy alone, against any API server.
import { clientFromFlag, kubeconfigFlag } from './connect.js';
import { startProxy } from '../proxy/runtime/proxy.js';
import { setLogLevel, type Level } from '../log.js';
import { helpText, parseArgs, UsageError, type FlagSpec, untilInterrupted } from './args.js';

const flags: FlagSpec[] = [
  { name: 'node-name', type: 'string', help: 'the Node this proxy runs on (required)' },
  kubeconfigFlag,
  { name: 'mode', type: 'string', default: 'nftables', help: 'nftables | iptables | userspace' },
  { name: 'netns', type: 'string', help: 'program the rules in this network namespace (default: this one)' },
  { name: 'cluster-cidr', type: 'string', default: '10.244.0.0/16', help: 'pod CIDR (masquerade decisions)' },
  { name: 'metrics-bind-address', type: 'string', default: '127.0.0.1:10249', help: '/metrics, /healthz, /livez; "" disables' },
  { name: 'min-sync-period', type: 'number', default: 1000, help: 'ms between rule syncs at most' },
  { name: 'drain-timeout', type: 'number', default: 300, help: 'userspace: on SIGTERM/SIGINT stop accepting at once and keep relaying open connections up to this many seconds (0: end them at once); a second signal ends them now' },
  { name: 'bind-retry', type: 'number', default: 60, help: 'a port in use at start (the proxy this one replaces) is retried every 10 ms for this many seconds, then every second; to restart without refusing connections, start the new proxy, wait for "waiting for N addresses", then SIGTERM the old one' },
  { name: 'log-level', type: 'string', default: 'info', help: 'debug | info | warn | error' },
];

export async function proxyCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet proxy --node-name N [flags]', 'Programs nftables or iptables (or relays in userspace) so that ClusterIP, NodePort and LoadBalancer traffic reaches a ready endpoint.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length) throw new UsageError(`unexpected argument: ${positional[0]}`);
  const node = f['node-name'] as string | undefined;
  if (!node) throw new UsageError('--node-name is required');
  const mode = String(f['mode']);
  if (!['nftables', 'iptables', 'userspace'].includes(mode)) throw new UsageError(`--mode must be nftables, iptables or userspace, not "${mode}"`);
  const drainS = Number(f['drain-timeout']);
  if (!Number.isFinite(drainS) || drainS < 0) throw new UsageError(`--drain-timeout must be a number of seconds ≥ 0, not "${String(f['drain-timeout'])}"`);
  const bindRetryS = Number(f['bind-retry']);
  if (!Number.isFinite(bindRetryS) || bindRetryS < 0) throw new UsageError(`--bind-retry must be a number of seconds ≥ 0, not "${String(f['bind-retry'])}"`);
  setLogLevel(String(f['log-level']) as Level);
  const client = clientFromFlag(f['kubeconfig']);
  // userspace: the proxy relays every connection itself. A graceful stop (HAProxy's soft
  // stop) closes its listeners at once, so that a new proxy can take the addresses, and
  // lets the connections already open run until they end or the drain timeout passes.
  const stop = new AbortController();
  const proxy = await startProxy({
    client, nodeName: node, mode: mode as 'nftables' | 'iptables' | 'userspace', netns: f['netns'] as string | undefined,
    clusterCIDR: String(f['cluster-cidr']), metricsAddress: String(f['metrics-bind-address']), minSyncPeriodMs: Number(f['min-sync-period']),
    bindRetryMs: bindRetryS * 1000,
    ...(mode === 'userspace' ? {
      userspace: {
        stop: stop.signal, drainTimeoutMs: drainS * 1000,
        // A restart: this proxy started while the old one still holds the addresses.
        onBindWait: (n: number) => {
          process.stdout.write(n
            ? `waiting for ${n} address${n === 1 ? '' : 'es'} held by another process (the proxy this one replaces?): SIGTERM it to hand them over\n`
            : 'took over every address\n');
        },
        onDrain: (n: number) => { if (n) process.stdout.write(`draining ${n} open connection${n === 1 ? '' : 's'} (up to ${drainS} s; signal again to end them now)\n`); },
      },
    } : {}),
  });
  process.stdout.write(`svcnet proxy (${mode}) for node ${node}${proxy.metricsUrl ? `, metrics at ${proxy.metricsUrl}/metrics` : ''}\n`);
  await untilInterrupted();
  if (mode === 'userspace') {
    if (drainS > 0) {
      // A second signal while draining: end now.
      const now = () => process.exit(0);
      process.once('SIGINT', now);
      process.once('SIGTERM', now);
    }
    // Listeners (and the metrics and health ports) close now, for the proxy replacing this one.
    stop.abort();
  }
  await proxy.close();
  client.close();
  return 0;
}
