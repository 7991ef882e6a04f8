// `svcnet dns`: cluster DNS alone, fed from an API server.
import { HttpClient } from '../client/http.js';
import { defaultKubeconfigPath, loadKubeconfig } from '../client/kubeconfig.js';
import { startDNS } from '../dns/server.js';
import { setLogLevel, type Level } from '../log.js';
import { helpText, parseArgs, parseHostPort, UsageError, type FlagSpec } from './args.js';

const flags: FlagSpec[] = [
  { name: 'kubeconfig', type: 'string', help: 'kubeconfig of the API server (default $KUBECONFIG or ~/.kube/config)' },
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
  const client = new HttpClient(loadKubeconfig((f['kubeconfig'] as string | undefined) ?? defaultKubeconfigPath(process.env)));
  const dns = await startDNS({ client, listen, clusterDomain: String(f['cluster-domain']) });
  process.stdout.write(`svcnet dns answering on ${dns.address.host}:${dns.address.port} (udp+tcp)\n`);
  await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
  await dns.close();
  client.close();
  return 0;
}
