// `svcnet down`: removes what a cluster (running or crashed) made.
import { down } from '../cluster/up.js';
import { stopRootless } from '../cluster/rootless.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from './args.js';

const flags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '.svcnet', help: 'the cluster\'s data directory' },
];

export async function downCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet down [flags]', 'Removes the network namespaces (and the processes in them) that a cluster with this data dir created; nothing else.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length) throw new UsageError(`unexpected argument: ${positional[0]}`);
  if (stopRootless(String(f['data-dir']))) {
    process.stdout.write('stopped the rootless cluster (its namespaces and processes ended with it)\n');
    return 0;
  }
  const removed = await down(String(f['data-dir']));
  process.stdout.write(removed.length ? `removed ${removed.length} namespaces: ${removed.join(' ')}\n` : 'nothing to remove\n');
  return 0;
}
