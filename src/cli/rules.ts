// `svcnet rules <node>`: the rules that node's proxy has programmed, as the kernel reports them.
import { listRules } from '../proxy/runtime/apply.js';
import { nodeNetnsName } from '../node/names.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from './args.js';
import { readClusterState } from './connect.js';

const flags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '.svcnet', help: 'the cluster\'s data directory' },
  { name: 'mode', type: 'string', help: 'nftables | iptables (default: what the cluster runs)' },
];

export async function rulesCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet rules NODE [flags]', 'Prints the service rules programmed in NODE\'s network namespace (nft list table / iptables-save), as the kernel reports them.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length !== 1) throw new UsageError('want exactly one NODE (see svcnet rules --help)');
  const { prefix, nodes, dataplane } = readClusterState(String(f['data-dir']));
  const mode = String(f['mode'] ?? dataplane ?? 'nftables');
  if (mode !== 'nftables' && mode !== 'iptables') throw new UsageError(`--mode must be nftables or iptables, not "${mode}"`);
  const node = positional[0]!.replace(/^node\//, '');
  if (!nodes.includes(node)) throw new Error(`nodes "${node}" not found (the cluster has ${nodes.join(', ')})`);
  process.stdout.write(await listRules({ mode, netns: nodeNetnsName(prefix, node) }));
  return 0;
}
