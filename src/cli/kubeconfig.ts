// `svcnet kubeconfig`: where a cluster's admin kubeconfig is (or its content).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { helpText, parseArgs, UsageError, type FlagSpec } from './args.js';

const flags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '.svcnet', help: 'the cluster\'s data directory' },
  { name: 'raw', type: 'boolean', help: 'print the kubeconfig itself instead of its path' },
];

export async function kubeconfigCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet kubeconfig [flags]', 'Prints the path of the admin kubeconfig of a running cluster (use: export KUBECONFIG=$(svcnet kubeconfig)).', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length) throw new UsageError(`unexpected argument: ${positional[0]}`);
  const path = join(resolve(String(f['data-dir'])), 'kubeconfig');
  if (!existsSync(path)) throw new Error(`no kubeconfig at ${path}: is a cluster running with --data-dir ${f['data-dir']}?`);
  process.stdout.write(f['raw'] ? readFileSync(path, 'utf8') : path + '\n');
  return 0;
}
