// What exists from the start on a fresh cluster: the four system namespaces
// (kube-apiserver's system namespaces controller does the same).
import { StatusError } from '../api/errors.js';
import type { ApiServer } from './server.js';

export const systemNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export async function ensureSystemNamespaces(api: ApiServer): Promise<void> {
  const reg = api.registry('', 'namespaces');
  for (const name of systemNamespaces) {
    try {
      await reg.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 409)) throw e;
    }
  }
}
