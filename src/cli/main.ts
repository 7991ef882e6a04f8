// The `svcnet` command: subcommand dispatch, one-line errors, exit codes.
import { UsageError } from './args.js';
import { reenterRootless } from '../cluster/rootless.js';

interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

// Each command's module loads only when it runs: `svcnet exec` or `status` should not pay
// for loading the API server, controllers and proxy (~0.3 s of a short command's life).
const lazy = <M>(load: () => Promise<M>, pick: (m: M) => (argv: string[]) => Promise<number>) =>
  async (argv: string[]): Promise<number> => pick(await load())(argv);

const commands: Record<string, Command> = {
  up: { summary: 'start a whole cluster in this process (foreground)', run: lazy(() => import('./up.js'), (m) => m.upCommand) },
  down: { summary: 'remove the namespaces and processes a cluster left behind', run: lazy(() => import('./down.js'), (m) => m.downCommand) },
  exec: { summary: 'run a command in the client, a node or a pod network namespace', run: lazy(() => import('./exec.js'), (m) => m.execCommand) },
  apiserver: { summary: 'run the Kubernetes API server alone', run: lazy(() => import('./apiserver.js'), (m) => m.apiserverCommand) },
  'controller-manager': { summary: 'run the controllers against an API server', run: lazy(() => import('./controller-manager.js'), (m) => m.controllerManagerCommand) },
  agent: { summary: 'run one node agent (pods as processes in namespaces) against an API server', run: lazy(() => import('./agent.js'), (m) => m.agentCommand) },
  proxy: { summary: 'run one node\'s service proxy against an API server', run: lazy(() => import('./proxy.js'), (m) => m.proxyCommand) },
  dns: { summary: 'run cluster DNS against an API server', run: lazy(() => import('./dns.js'), (m) => m.dnsCommand) },
  rules: { summary: 'the rules a node\'s proxy programmed, as the kernel reports them', run: lazy(() => import('./rules.js'), (m) => m.rulesCommand) },
  trace: { summary: 'which endpoint gets the traffic: the path through the proxy rules', run: lazy(() => import('./trace.js'), (m) => m.traceCommand) },
  status: { summary: 'is the cluster up: API server, nodes, counts', run: lazy(() => import('./status.js'), (m) => m.statusCommand) },
  kubeconfig: { summary: 'print the admin kubeconfig path of a running cluster', run: lazy(() => import('./kubeconfig.js'), (m) => m.kubeconfigCommand) },
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
