// What several commands need: an API client from --kubeconfig (or the usual
// $KUBECONFIG / ~/.kube/config), and the state a running `svcnet up` keeps.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HttpClient } from '../client/http.js';
import { defaultKubeconfigPath, loadKubeconfig } from '../client/kubeconfig.js';
import type { FlagSpec } from './args.js';

export const kubeconfigFlag: FlagSpec = { name: 'kubeconfig', type: 'string', help: 'kubeconfig of the API server (default $KUBECONFIG or ~/.kube/config)' };

/** A client for the --kubeconfig flag's file, or the default one. Config is read here, at the edge. */
export function clientFromFlag(kubeconfig: unknown): HttpClient {
  return new HttpClient(loadKubeconfig((kubeconfig as string | undefined) ?? defaultKubeconfigPath(process.env)));
}

export interface ClusterState { prefix: string; nodes: string[]; dataplane?: string }

/** DATA-DIR/cluster.json of a running `svcnet up` with nodes, or a one-line error. */
export function readClusterState(dataDir: string): ClusterState {
  const path = join(resolve(dataDir), 'cluster.json');
  if (!existsSync(path)) throw new Error(`no running cluster with nodes in ${resolve(dataDir)} (no cluster.json)`);
  return JSON.parse(readFileSync(path, 'utf8')) as ClusterState;
}
