// `svcnet rules <node>`: the rules that node's proxy has programmed, as the kernel reports them.
import { listRules } from '../proxy/runtime/apply.js';
import { nodeNetnsName } from '../node/names.js';
import { runCommand } from '../node/netns.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from './args.js';
import { readClusterState } from './connect.js';

const flags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '.svcnet', help: 'the cluster\'s data directory' },
  { name: 'mode', type: 'string', help: 'nftables | iptables | userspace (default: what the cluster runs)' },
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
  if (mode !== 'nftables' && mode !== 'iptables' && mode !== 'userspace') throw new UsageError(`--mode must be nftables, iptables or userspace, not "${mode}"`);
  const node = positional[0]!.replace(/^node\//, '');
  if (!nodes.includes(node)) throw new Error(`nodes "${node}" not found (the cluster has ${nodes.join(', ')})`);
  if (mode === 'userspace') {
    // No rules: the proxy's sockets are what the kernel has, as `ss` reports them.
    const r = await runCommand('ip', ['netns', 'exec', nodeNetnsName(prefix, node), 'ss', '-Hltunp']);
    if (r.code !== 0) throw new Error(`ss in ${node}: ${r.stderr.trim()}`);
    process.stdout.write(`# userspace mode: no kernel rules; the sockets ${node}'s proxy (and others) listen on\n${r.stdout}`);
    return 0;
  }
  process.stdout.write(await listRules({ mode, netns: nodeNetnsName(prefix, node) }));
  return 0;
}
