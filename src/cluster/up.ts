// `svcnet up`: the whole cluster in one process — storage, API server,
// controllers — and tearing it all down. Nodes, proxies and DNS join as
// their components land (see the issue notes).
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { startApiServer, type RunningApiServer } from '../apiserver/index.js';
import { HttpClient } from '../client/http.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { startControllerManager, type RunningControllerManager } from '../controllers/manager.js';
import { defaultReconcilers } from '../controllers/all.js';
import { progress } from './progress.js';

export interface UpOptions {
  dataDir: string;
  storage?: string;
  listen: { host: string; port: number };
  serviceClusterIPRange: string;
  serviceNodePortRange: string;
  disabledControllers?: string[];
  quiet?: boolean;
  out?: (s: string) => void;
}

export interface Cluster {
  api: RunningApiServer;
  controllers: RunningControllerManager;
  client: HttpClient;
  kubeconfigPath: string;
  summary(): ClusterSummary;
  close(): Promise<void>;
}

export interface ClusterSummary {
  apiServer: string;
  kubeconfig: string;
  storage: string;
  serviceClusterIPRange: string;
  serviceNodePortRange: string;
  controllers: string[];
  nodes: string[];
  dataplane: string;
}

export async function up(o: UpOptions): Promise<Cluster> {
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const storage = o.storage ?? `sqlite:${dataDir}/state.db`;
  const p = progress(o.out ?? ((s) => process.stdout.write(s)), !o.quiet);
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => { for (const c of closers.reverse()) await c(); };
  try {
    const api = await p.step(`storage and API server`, () => startApiServer({
      listenHost: o.listen.host, listenPort: o.listen.port, storage, dataDir,
      serviceClusterIPRange: o.serviceClusterIPRange, serviceNodePortRange: o.serviceNodePortRange,
    }), (a) => a.url);
    closers.push(() => api.close());
    const kubeconfigPath = api.kubeconfigPath!;
    const client = new HttpClient(loadKubeconfig(kubeconfigPath));
    closers.push(() => client.close());
    const reconcilers = defaultReconcilers({ disabled: o.disabledControllers });
    const controllers = await p.step('controllers', async () => {
      const cm = startControllerManager(client, reconcilers);
      await cm.waitForSync();
      return cm;
    }, (cm) => `${cm.controllers.length} running`);
    closers.push(() => controllers.close());
    const summary = (): ClusterSummary => ({
      apiServer: api.url, kubeconfig: kubeconfigPath, storage,
      serviceClusterIPRange: o.serviceClusterIPRange, serviceNodePortRange: o.serviceNodePortRange,
      controllers: reconcilers.map((r) => r.name), nodes: [], dataplane: 'none (no nodes yet)',
    });
    return { api, controllers, client, kubeconfigPath, summary, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

export function renderSummary(s: ClusterSummary): string {
  const rows: [string, string][] = [
    ['API server', s.apiServer],
    ['kubeconfig', s.kubeconfig],
    ['storage', s.storage],
    ['service CIDR', s.serviceClusterIPRange],
    ['NodePort range', s.serviceNodePortRange],
    ['controllers', s.controllers.join(', ')],
    ['nodes', s.nodes.length ? s.nodes.join(', ') : '(none yet)'],
    ['data plane', s.dataplane],
  ];
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return `\nsvcnet is up.\n\n${rows.map(([k, v]) => `  ${k.padEnd(w)}${v}`).join('\n')}\n\nNext:\n  export KUBECONFIG=${s.kubeconfig}\n  kubectl get svc,endpointslices -A\n\nCtrl-C stops everything.\n`;
}
