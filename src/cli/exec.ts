// `svcnet exec client|node/NAME|pod/NAME [-n NS] -- CMD…`: run a command in
// one of the cluster's network namespaces.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { findResource } from '../api/resources.js';
import { HttpClient } from '../client/http.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { clientNetnsName, nodeNetnsName, podNetnsName } from '../node/names.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from './args.js';
import { readClusterState } from './connect.js';

const flags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '.svcnet', help: 'the cluster\'s data directory' },
  { name: 'namespace', short: 'n', type: 'string', default: 'default', help: 'namespace of pod/NAME' },
];

export async function execCommand(argv: string[]): Promise<number> {
  const dd = argv.indexOf('--');
  const head = dd >= 0 ? argv.slice(0, dd) : argv;
  if (head.includes('--help') || head.includes('-h')) {
    process.stdout.write(helpText('svcnet exec client|node/NAME|pod/NAME [-n NS] -- CMD [ARGS…]', 'Runs CMD inside that network namespace: `client` stands for the outside world on the LAN.', flags));
    return 0;
  }
  const { flags: f, positional, rest } = parseArgs(argv, flags);
  if (positional.length !== 1 || !rest.length) throw new UsageError('usage: svcnet exec client|node/NAME|pod/NAME [-n NS] -- CMD…');
  const dataDir = resolve(String(f['data-dir']));
  const { prefix } = readClusterState(dataDir);
  const target = positional[0]!;
  let ns: string;
  if (target === 'client') ns = clientNetnsName(prefix);
  else if (target.startsWith('node/')) ns = nodeNetnsName(prefix, target.slice(5));
  else if (target.startsWith('pod/')) {
    const client = new HttpClient(loadKubeconfig(join(dataDir, 'kubeconfig')));
    try {
      const pod = await client.get<Pod & { [k: string]: unknown }>(findResource('', 'v1', 'pods')!, String(f['namespace']), target.slice(4));
      ns = podNetnsName(prefix, String(f['namespace']), target.slice(4), pod.metadata?.uid ?? '');
    } finally {
      client.close();
    }
  } else throw new UsageError(`unknown target "${target}": want client, node/NAME or pod/NAME`);
  return new Promise((res, rej) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...rest], { stdio: 'inherit' });
    child.on('error', rej);
    child.on('exit', (code, sig) => res(code ?? (sig ? 128 : 1)));
  });
}
