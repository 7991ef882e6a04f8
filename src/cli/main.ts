// The `svcnet` command: subcommand dispatch, one-line errors, exit codes.
import { UsageError } from './args.js';
import { apiserverCommand } from './apiserver.js';
import { controllerManagerCommand } from './controller-manager.js';
import { upCommand } from './up.js';
import { dnsCommand } from './dns.js';
import { traceCommand } from './trace.js';
import { kubeconfigCommand } from './kubeconfig.js';
import { statusCommand } from './status.js';
import { downCommand } from './down.js';
import { execCommand } from './exec.js';
import { proxyCommand } from './proxy.js';
import { rulesCommand } from './rules.js';
import { agentCommand } from './agent.js';
import { reenterRootless } from '../cluster/rootless.js';

interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  up: { summary: 'start a whole cluster in this process (foreground)', run: upCommand },
  down: { summary: 'remove the namespaces and processes a cluster left behind', run: downCommand },
  exec: { summary: 'run a command in the client, a node or a pod network namespace', run: execCommand },
  apiserver: { summary: 'run the Kubernetes API server alone', run: apiserverCommand },
  'controller-manager': { summary: 'run the controllers against an API server', run: controllerManagerCommand },
  agent: { summary: 'run one node agent (pods as processes in namespaces) against an API server', run: agentCommand },
  proxy: { summary: 'run one node\'s service proxy against an API server', run: proxyCommand },
  dns: { summary: 'run cluster DNS against an API server', run: dnsCommand },
  rules: { summary: 'the rules a node\'s proxy programmed, as the kernel reports them', run: rulesCommand },
  trace: { summary: 'which endpoint gets the traffic: the path through the proxy rules', run: traceCommand },
  status: { summary: 'is the cluster up: API server, nodes, counts', run: statusCommand },
  kubeconfig: { summary: 'print the admin kubeconfig path of a running cluster', run: kubeconfigCommand },
};

const NEEDS_NAMESPACES = new Set(['exec', 'rules', 'trace']);

/** --data-dir of a command line (before any `--`), default .svcnet. */
function dataDirOf(argv: string[]): string {
  const end = argv.indexOf('--');
  const head = end >= 0 ? argv.slice(0, end) : argv;
  for (let i = 0; i < head.length; i++) {
    if (head[i] === '--data-dir') return head[i + 1] ?? '.svcnet';
    if (head[i]!.startsWith('--data-dir=')) return head[i]!.slice('--data-dir='.length);
  }
  return '.svcnet';
}

function usage(): string {
  const w = Math.max(...Object.keys(commands).map((k) => k.length)) + 2;
  return `svcnet: Kubernetes Service networking, for real.\n\nUsage:\n  svcnet <command> [flags]\n\nCommands:\n${Object.entries(commands)
    .map(([k, c]) => `  ${k.padEnd(w)}${c.summary}`).join('\n')}\n\nRun 'svcnet <command> --help' for a command's flags.\n`;
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`svcnet: unknown command "${name}" (see 'svcnet --help')\n`);
    process.exitCode = 2;
    return;
  }
  try {
    // These work inside the cluster's namespaces: without root, enter the rootless cluster's first.
    const inside = NEEDS_NAMESPACES.has(name) && !rest.includes('--help') && !rest.includes('-h')
      ? reenterRootless(dataDirOf(rest), argv, process.argv[1]!) : undefined;
    process.exitCode = await (inside ?? cmd.run(rest));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`svcnet ${name}: ${msg}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}
