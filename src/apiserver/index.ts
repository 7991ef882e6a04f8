// Starting and stopping a whole API server: store, registries, bootstrap
// objects, HTTP listener, kubeconfig. Used by `svcnet apiserver` and `svcnet up`.
import { randomBytes } from 'node:crypto';
import { openStore, startCompactor } from '../storage/index.js';
import type { Store } from '../storage/store.js';
import { ApiServer } from './server.js';
import { ensureKubernetesService, ensureSystemNamespaces, repairAllocations } from './bootstrap.js';
import { writeKubeconfig } from './kubeconfig.js';
import { ensureServingCerts } from './tls.js';
import type { ClusterConfig } from './strategies.js';

export interface StartOptions extends ClusterConfig {
  listenHost: string;
  listenPort: number;
  /** `memory`, `sqlite:PATH` or `etcd:URL[,URL...]`. */
  storage: string;
  /** Where the kubeconfig goes; none = not written. */
  dataDir?: string;
  /** Fixed admin token (tests); random when absent. */
  token?: string;
}

export interface RunningApiServer {
  api: ApiServer;
  /** The cluster CA (PEM) that signed the serving certificate. */
  caPem: string;
  store: Store;
  url: string;
  token: string;
  kubeconfigPath?: string;
  close(): Promise<void>;
}

export async function startApiServer(o: StartOptions): Promise<RunningApiServer> {
  const store = await openStore(o.storage);
  const token = o.token ?? randomBytes(24).toString('hex');
  let api: ApiServer | undefined;
  let compactor: { close(): void } | undefined;
  try {
    const certs = ensureServingCerts(o.dataDir);
    api = new ApiServer({ store, token, tls: certs, config: { serviceClusterIPRange: o.serviceClusterIPRange, serviceNodePortRange: o.serviceNodePortRange } });
    await ensureSystemNamespaces(api);
    await repairAllocations(api);
    const addr = await api.listen(o.listenHost, o.listenPort);
    await ensureKubernetesService(api, addr.port);
    compactor = startCompactor(store, { keepRevisions: 10000, intervalMs: 60_000 });
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    const url = `https://${host}:${addr.port}`;
    const kubeconfigPath = o.dataDir ? writeKubeconfig(o.dataDir, { server: url, token, caPem: certs.caPem }) : undefined;
    const a = api;
    const c = compactor!;
    return {
      api: a, store, url, token, kubeconfigPath, caPem: certs.caPem,
      async close() {
        c.close();
        await a.close();
        await store.close();
      },
    };
  } catch (e) {
    compactor?.close();
    await api?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw e;
  }
}
