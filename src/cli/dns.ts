// `svcnet dns`: cluster DNS alone, fed from an API server.
import { clientFromFlag, kubeconfigFlag } from './connect.js';
import { startDNS } from '../dns/server.js';
import { setLogLevel, type Level } from '../log.js';
import { helpText, parseArgs, parseHostPort, UsageError, type FlagSpec, untilInterrupted } from './args.js';

const flags: FlagSpec[] = [
  kubeconfigFlag,
  { name: 'listen', type: 'string', default: '127.0.0.1:53', help: 'UDP and TCP address to answer on' },
  { name: 'cluster-domain', type: 'string', default: 'cluster.local', help: 'the cluster\'s DNS domain' },
  { name: 'log-level', type: 'string', default: 'info', help: 'debug | info | warn | error' },
];

export async function dnsCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet dns [flags]', 'Answers *.svc.cluster.local (A, AAAA, SRV, PTR, CNAME) from the API server\'s Services and EndpointSlices.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length) throw new UsageError(`unexpected argument: ${positional[0]}`);
  setLogLevel(String(f['log-level']) as Level);
  const listen = parseHostPort(String(f['listen']));
  const client = clientFromFlag(f['kubeconfig']);
  const dns = await startDNS({ client, listen, clusterDomain: String(f['cluster-domain']) });
  process.stdout.write(`svcnet dns answering on ${dns.address.host}:${dns.address.port} (udp+tcp)\n`);
  await untilInterrupted();
  await dns.close();
  client.close();
  return 0;
}
