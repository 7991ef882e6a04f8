// `svcnet controller-manager`: the controllers alone, as clients of any API server.
import { clientFromFlag, kubeconfigFlag } from './connect.js';
import { startControllerManager } from '../controllers/manager.js';
import { controllerNames, defaultReconcilers } from '../controllers/all.js';
import { logger, setLogLevel, type Level } from '../log.js';
import { helpText, parseArgs, UsageError, type FlagSpec, untilInterrupted } from './args.js';

const flags: FlagSpec[] = [
  kubeconfigFlag,
  { name: 'disable', type: 'string', default: '', help: `comma-separated controllers to leave out (${controllerNames.join(', ')})` },
  { name: 'max-endpoints-per-slice', type: 'number', default: 100, help: 'endpoints per EndpointSlice' },
  { name: 'log-level', type: 'string', default: 'info', help: 'debug | info | warn | error' },
];

export async function controllerManagerCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText('svcnet controller-manager [flags]', 'Runs the controllers (EndpointSlice, Endpoints, mirroring, …) against an API server until interrupted.', flags));
    return 0;
  }
  const { flags: f, positional } = parseArgs(argv, flags);
  if (positional.length) throw new UsageError(`unexpected argument: ${positional[0]}`);
  setLogLevel(String(f['log-level']) as Level);
  const disabled = String(f['disable']).split(',').map((s) => s.trim()).filter(Boolean);
  for (const d of disabled) if (!(controllerNames as readonly string[]).includes(d)) throw new UsageError(`unknown controller in --disable: ${d}`);
  const client = clientFromFlag(f['kubeconfig']);
  const cm = startControllerManager(client, defaultReconcilers({ disabled, maxEndpointsPerSlice: Number(f['max-endpoints-per-slice']) }));
  await cm.waitForSync();
  logger.info('controllers running', { controllers: cm.controllers.length });
  process.stdout.write(`svcnet controller-manager: ${cm.controllers.length} controllers running against ${client.server}\n`);
  await untilInterrupted();
  await cm.close();
  client.close();
  return 0;
}
