// Reading a kubeconfig (clientcmd's v1 Config) into what a transport needs to
// reach one cluster: the current context's server URL, CA, credentials and
// default namespace. Only static credentials are supported (token, client
// certificate, basic auth); exec and auth-provider plugins are refused with a
// clear error rather than silently sending no credentials.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';

/** Everything needed to talk to one API server, already resolved (files read, base64 decoded). */
export interface ClusterConnection {
  /** The API server's base URL, e.g. `https://127.0.0.1:6443` (no trailing slash). */
  server: string;
  /** PEM CA bundle to verify the server with; undefined = the system roots. */
  ca?: string;
  insecureSkipTLSVerify: boolean;
  /** TLS SNI / verification name when it differs from the URL's host. */
  tlsServerName?: string;
  token?: string;
  /** PEM client certificate and key. */
  clientCert?: string;
  clientKey?: string;
  username?: string;
  password?: string;
  /** The context's namespace, `default` when unset. */
  namespace: string;
  contextName: string;
}

export type KubeconfigErrorCode =
  | 'KUBECONFIG_READ' | 'KUBECONFIG_PARSE' | 'KUBECONFIG_NO_CONTEXT' | 'KUBECONFIG_CONTEXT_NOT_FOUND'
  | 'KUBECONFIG_CLUSTER_NOT_FOUND' | 'KUBECONFIG_USER_NOT_FOUND' | 'KUBECONFIG_INVALID' | 'KUBECONFIG_UNSUPPORTED_AUTH';

export class KubeconfigError extends Error {
  constructor(readonly code: KubeconfigErrorCode, message: string) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

export interface KubeconfigLoadOptions {
  /** Use this context instead of current-context. */
  context?: string;
}

/** Where kubectl looks: the first path in $KUBECONFIG, else ~/.kube/config. The caller passes the environment (config is read at the edge). */
export function defaultKubeconfigPath(env: Readonly<Record<string, string | undefined>>): string {
  const kc = env['KUBECONFIG'];
  if (kc) {
    const first = kc.split(process.platform === 'win32' ? ';' : ':').find((p) => p !== '');
    if (first) return first;
  }
  return join(env['HOME'] ?? env['USERPROFILE'] ?? '.', '.kube', 'config');
}

export function loadKubeconfig(path: string, opts: KubeconfigLoadOptions = {}): ClusterConnection {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KubeconfigError('KUBECONFIG_READ', `cannot read kubeconfig ${path}: ${(e as Error).message}`);
  }
  return parseKubeconfig(text, { ...opts, baseDir: dirname(resolve(path)), source: path });
}

type Dict = Record<string, unknown>;

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses kubeconfig text; relative file references resolve against `baseDir` (as clientcmd resolves them against the file's folder). */
export function parseKubeconfig(text: string, opts: KubeconfigLoadOptions & { baseDir?: string; source?: string } = {}): ClusterConnection {
  const src = opts.source ?? 'kubeconfig';
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new KubeconfigError('KUBECONFIG_PARSE', `${src}: invalid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isDict(doc)) throw new KubeconfigError('KUBECONFIG_PARSE', `${src}: not a kubeconfig (expected a mapping at the top level)`);
  const contextName = opts.context ?? (typeof doc['current-context'] === 'string' ? doc['current-context'] : '');
  if (!contextName) throw new KubeconfigError('KUBECONFIG_NO_CONTEXT', `${src}: current-context is not set`);
  const ctx = named(doc, 'contexts', 'context', contextName, src);
  if (!ctx) throw new KubeconfigError('KUBECONFIG_CONTEXT_NOT_FOUND', `${src}: context "${contextName}" not found`);
  const clusterName = str(ctx['cluster']);
  const cluster = clusterName ? named(doc, 'clusters', 'cluster', clusterName, src) : undefined;
  if (!cluster) throw new KubeconfigError('KUBECONFIG_CLUSTER_NOT_FOUND', `${src}: cluster "${clusterName ?? ''}" of context "${contextName}" not found`);
  const userName = str(ctx['user']);
  let user: Dict = {};
  if (userName) {
    const u = named(doc, 'users', 'user', userName, src);
    if (!u) throw new KubeconfigError('KUBECONFIG_USER_NOT_FOUND', `${src}: user "${userName}" of context "${contextName}" not found`);
    user = u;
  }

  const server = str(cluster['server']);
  if (!server) throw new KubeconfigError('KUBECONFIG_INVALID', `${src}: cluster "${clusterName}" has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KubeconfigError('KUBECONFIG_INVALID', `${src}: cluster "${clusterName}" has an invalid server URL "${server}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new KubeconfigError('KUBECONFIG_INVALID', `${src}: cluster "${clusterName}" server URL must be http or https, got "${server}"`);
  }

  const file = (what: string, p: string): string => {
    const full = isAbsolute(p) || !opts.baseDir ? p : join(opts.baseDir, p);
    try {
      return readFileSync(full, 'utf8');
    } catch (e) {
      throw new KubeconfigError('KUBECONFIG_READ', `${src}: cannot read ${what} ${full}: ${(e as Error).message}`);
    }
  };
  const b64 = (what: string, v: string): string => {
    const s = v.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new KubeconfigError('KUBECONFIG_INVALID', `${src}: ${what} is not valid base64`);
    return Buffer.from(s, 'base64').toString('utf8');
  };
  const dataOrFile = (what: string, dataKey: string, fileKey: string, from: Dict): string | undefined => {
    const d = str(from[dataKey]);
    if (d) return b64(`${what} (${dataKey})`, d);
    const f = str(from[fileKey]);
    return f ? file(what, f) : undefined;
  };

  if (user['exec'] !== undefined || user['auth-provider'] !== undefined) {
    const kind = user['exec'] !== undefined ? 'exec' : 'auth-provider';
    throw new KubeconfigError('KUBECONFIG_UNSUPPORTED_AUTH', `${src}: user "${userName}" uses an ${kind} credential plugin, which svcnet does not support; use a token or client certificate`);
  }

  const conn: ClusterConnection = {
    server: server.replace(/\/+$/, ''),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    namespace: str(ctx['namespace']) || 'default',
    contextName,
  };
  const ca = dataOrFile('certificate authority', 'certificate-authority-data', 'certificate-authority', cluster);
  if (ca !== undefined) conn.ca = ca;
  const sni = str(cluster['tls-server-name']);
  if (sni) conn.tlsServerName = sni;
  const token = str(user['token']) || (str(user['tokenFile']) ? file('token file', str(user['tokenFile'])!).trim() : undefined);
  if (token) conn.token = token;
  const cert = dataOrFile('client certificate', 'client-certificate-data', 'client-certificate', user);
  const key = dataOrFile('client key', 'client-key-data', 'client-key', user);
  if ((cert === undefined) !== (key === undefined)) {
    throw new KubeconfigError('KUBECONFIG_INVALID', `${src}: user "${userName}" has a client ${cert === undefined ? 'key' : 'certificate'} without its ${cert === undefined ? 'certificate' : 'key'}`);
  }
  if (cert !== undefined && key !== undefined) { conn.clientCert = cert; conn.clientKey = key; }
  const username = str(user['username']);
  if (username) { conn.username = username; conn.password = str(user['password']) ?? ''; }
  return Object.freeze(conn);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Finds `{name, <field>: {...}}` in the list `doc[listKey]`. */
function named(doc: Dict, listKey: string, field: string, name: string, src: string): Dict | undefined {
  const list = doc[listKey];
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) throw new KubeconfigError('KUBECONFIG_INVALID', `${src}: ${listKey} must be a list`);
  for (const e of list) {
    if (isDict(e) && e['name'] === name) {
      const v = e[field];
      return isDict(v) ? v : {};
    }
  }
  return undefined;
}
