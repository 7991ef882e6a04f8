// Writing the admin kubeconfig that scripts and kubectl use.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  server: string;
  token: string;
  /** CA that signed the server's certificate. */
  caPem: string;
  clusterName?: string;
}

export function renderKubeconfig(o: KubeconfigOptions): string {
  const name = o.clusterName ?? 'svcnet';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: o.server, 'certificate-authority-data': Buffer.from(o.caPem).toString('base64') } }],
    users: [{ name: `${name}-admin`, user: { token: o.token } }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin`, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  });
}

/** Writes atomically (tmp + rename) so a script waiting for the file never reads half of it. */
export function writeKubeconfig(dataDir: string, o: KubeconfigOptions): string {
  const path = join(dataDir, 'kubeconfig');
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, renderKubeconfig(o), { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}
