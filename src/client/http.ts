// The HTTP transport of the Client contract: REST calls to a real API server
// (ours, or any Kubernetes) over one keep-alive agent, errors as the server's
// Status, and watches as a streaming GET of newline-delimited JSON events.
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { Status } from 'kubernetes-types/meta/v1.js';
import { StatusError, type StatusReason } from '../api/errors.js';
import { groupVersion, type ResourceInfo } from '../api/resources.js';
import { loadKubeconfig, type ClusterConnection, type KubeconfigLoadOptions } from './kubeconfig.js';
import { LineSplitter } from './ndjson.js';
import type {
  Client, DeleteOptions, KObject, ListOptions, ListResult, PatchOptions, PatchType, WatchEvent, WatchEventType,
  WatchHandle, WatchOptions, WriteOptions,
} from './types.js';

export type TransportErrorCode = 'ETIMEDOUT' | 'ECONNREFUSED' | 'ECONNRESET' | 'ABORTED' | 'CLOSED' | 'BAD_RESPONSE' | 'TLS' | 'NETWORK';

/** A failure to get an answer from the server at all (no Status to report): connection, TLS, timeout, garbled body. */
export class TransportError extends Error {
  constructor(readonly code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
  }
}

export interface HttpClientOptions {
  /** Deadline for every non-watch request (ms). Default 30 s, as kubectl's --request-timeout is often set. */
  timeoutMs?: number;
  userAgent?: string;
  /** Sockets per host (watches hold one each). Default: unlimited. */
  maxSockets?: number;
  /**
   * Connect to this unix socket instead of the server URL's host and port (the URL still
   * names the scheme and path prefix): `svcnet up`'s own components reach their API server
   * over one, in plain HTTP, without a TLS handshake per connection.
   */
  socketPath?: string;
}

/** Where and how to connect: a kubeconfig's ClusterConnection, or just a server URL and what you have. */
export type HttpClientTarget = Pick<ClusterConnection, 'server'> & Partial<Omit<ClusterConnection, 'server'>>;

const patchContentTypes: Record<PatchType, string> = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

const watchEventTypes = new Set<WatchEventType>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

interface RawResponse { status: number; body: Buffer }

export class HttpClient implements Client {
  readonly server: string;
  /** The kubeconfig context's namespace (for callers that want a default). */
  readonly namespace: string;
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly inflight = new Set<http.ClientRequest>();
  private closed = false;

  constructor(target: HttpClientTarget, opts: HttpClientOptions = {}) {
    this.server = target.server.replace(/\/+$/, '');
    this.base = new URL(this.server);
    this.namespace = target.namespace ?? 'default';
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const agentOpts: https.AgentOptions = { keepAlive: true, maxSockets: opts.maxSockets ?? Infinity, ...(opts.socketPath ? { socketPath: opts.socketPath } : {}) };
    if (this.base.protocol === 'https:') {
      if (target.ca) agentOpts.ca = target.ca;
      if (target.clientCert) agentOpts.cert = target.clientCert;
      if (target.clientKey) agentOpts.key = target.clientKey;
      if (target.tlsServerName) agentOpts.servername = target.tlsServerName;
      agentOpts.rejectUnauthorized = !target.insecureSkipTLSVerify;
      // One secure context for every connection: tls.connect would otherwise parse the CA and
      // client certificate again for each new socket (a burst of requests opens several).
      agentOpts.secureContext = tls.createSecureContext({ ca: agentOpts.ca, cert: agentOpts.cert, key: agentOpts.key });
      this.agent = new https.Agent(agentOpts);
      this.mod = https;
    } else {
      this.agent = new http.Agent(agentOpts);
      this.mod = http;
    }
    this.headers = { 'User-Agent': opts.userAgent ?? 'svcnet/0.1.0', Accept: 'application/json' };
    if (target.token) this.headers['Authorization'] = `Bearer ${target.token}`;
    else if (target.username !== undefined) {
      this.headers['Authorization'] = `Basic ${Buffer.from(`${target.username}:${target.password ?? ''}`).toString('base64')}`;
    }
  }

  static fromKubeconfig(path: string, opts: HttpClientOptions & KubeconfigLoadOptions = {}): HttpClient {
    return new HttpClient(loadKubeconfig(path, opts), opts);
  }

  /** `/api/v1/namespaces/ns/pods/name/status`, `/apis/apps/v1/deployments`, … (no query). */
  resourcePath(r: ResourceInfo, namespace: string | undefined, name?: string, subresource?: string): string {
    const parts: string[] = r.group ? ['apis', r.group, r.version] : ['api', r.version];
    if (r.namespaced && namespace !== undefined && namespace !== '') parts.push('namespaces', namespace);
    parts.push(r.plural);
    if (name !== undefined) parts.push(name);
    if (subresource) parts.push(subresource);
    const prefix = this.base.pathname.replace(/\/+$/, '');
    return `${prefix}/${parts.map(encodeURIComponent).join('/')}`;
  }

  async get<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, name: string, subresource?: string): Promise<T> {
    const ns = this.requireNamespace(r, namespace);
    return withTypeMeta(r, this.json<T>(await this.call('GET', this.resourcePath(r, ns, name, subresource))));
  }

  async list<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult<T>> {
    const q = new URLSearchParams();
    setParam(q, 'labelSelector', opts.labelSelector);
    setParam(q, 'fieldSelector', opts.fieldSelector);
    if (opts.limit !== undefined && opts.limit > 0) q.set('limit', String(opts.limit));
    setParam(q, 'continue', opts.continue);
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    const body = this.json<{ items?: T[] | null; metadata?: ListResult['metadata'] }>(
      await this.call('GET', this.resourcePath(r, r.namespaced ? namespace : undefined), q));
    if (!body || typeof body !== 'object' || (body.items !== undefined && body.items !== null && !Array.isArray(body.items))) {
      throw new TransportError('BAD_RESPONSE', `list ${r.plural}: the server did not return a list`);
    }
    const md = body.metadata ?? { resourceVersion: '' };
    const metadata: ListResult['metadata'] = { resourceVersion: md.resourceVersion ?? '' };
    if (md.continue) metadata.continue = md.continue;
    if (md.remainingItemCount !== undefined) metadata.remainingItemCount = md.remainingItemCount;
    return { items: (body.items ?? []).map((o) => withTypeMeta(r, o)), metadata };
  }

  async create<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, obj: KObject,
    opts: WriteOptions & { name?: string } = {}): Promise<T> {
    const ns = this.requireNamespace(r, namespace ?? obj.metadata?.namespace);
    const name = opts.name ?? (opts.subresource ? obj.metadata?.name : undefined);
    const path = this.resourcePath(r, ns, name, opts.subresource);
    return this.json<T>(await this.call('POST', path, writeQuery(opts), jsonBody(obj)));
  }

  async update<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, obj: KObject, opts: WriteOptions = {}): Promise<T> {
    const ns = this.requireNamespace(r, namespace ?? obj.metadata?.namespace);
    const name = obj.metadata?.name;
    if (!name) throw badRequest('update: the object has no metadata.name');
    return this.json<T>(await this.call('PUT', this.resourcePath(r, ns, name, opts.subresource), writeQuery(opts), jsonBody(obj)));
  }

  async patch<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, name: string, type: PatchType, patch: unknown,
    opts: PatchOptions = {}): Promise<T> {
    const ns = this.requireNamespace(r, namespace);
    const q = writeQuery(opts);
    if (opts.force !== undefined && type === 'apply') q.set('force', String(opts.force));
    // Server-side apply bodies are YAML; JSON is YAML, so one encoder serves all four types.
    const body = { data: Buffer.from(JSON.stringify(patch)), contentType: patchContentTypes[type] };
    return this.json<T>(await this.call('PATCH', this.resourcePath(r, ns, name, opts.subresource), q, body));
  }

  async delete(r: ResourceInfo, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    const ns = this.requireNamespace(r, namespace);
    const b: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.gracePeriodSeconds !== undefined) b['gracePeriodSeconds'] = opts.gracePeriodSeconds;
    if (opts.propagationPolicy) b['propagationPolicy'] = opts.propagationPolicy;
    if (opts.preconditions) b['preconditions'] = opts.preconditions;
    if (opts.dryRun) b['dryRun'] = ['All'];
    await this.call('DELETE', this.resourcePath(r, ns, name), undefined, jsonBody(b));
  }

  watch<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, opts: WatchOptions,
    onEvent: (e: WatchEvent<T>) => void, onClose: (err?: Error) => void): WatchHandle {
    const q = new URLSearchParams({ watch: '1' });
    setParam(q, 'labelSelector', opts.labelSelector);
    setParam(q, 'fieldSelector', opts.fieldSelector);
    setParam(q, 'resourceVersion', opts.resourceVersion);
    if (opts.allowWatchBookmarks) q.set('allowWatchBookmarks', 'true');
    if (opts.timeoutSeconds !== undefined) q.set('timeoutSeconds', String(opts.timeoutSeconds));
    const path = this.resourcePath(r, r.namespaced ? namespace : undefined);

    let finished = false;
    let req: http.ClientRequest | undefined;
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      if (req) {
        this.inflight.delete(req);
        req.destroy();
      }
      onClose(err);
    };
    const handle: WatchHandle = { close: () => finish() };
    if (this.closed) {
      queueMicrotask(() => finish(new TransportError('CLOSED', 'the client is closed')));
      return handle;
    }

    req = this.mod.request(this.url(path, q), { method: 'GET', agent: this.agent, headers: this.headers });
    this.inflight.add(req);
    req.on('error', (e) => finish(transportError(e)));
    req.on('response', (res) => {
      if (finished) { res.resume(); return; }
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish(statusErrorFromResponse(res.statusCode ?? 500, Buffer.concat(chunks))));
        res.on('error', (e) => finish(transportError(e)));
        return;
      }
      const splitter = new LineSplitter();
      const deliver = (line: string): boolean => {
        let e: { type?: unknown; object?: unknown };
        try {
          e = JSON.parse(line) as { type?: unknown; object?: unknown };
        } catch {
          finish(new TransportError('BAD_RESPONSE', `watch ${r.plural}: undecodable event: ${line.slice(0, 200)}`));
          return false;
        }
        if (typeof e !== 'object' || e === null || !watchEventTypes.has(e.type as WatchEventType) || typeof e.object !== 'object' || e.object === null) {
          finish(new TransportError('BAD_RESPONSE', `watch ${r.plural}: malformed event: ${line.slice(0, 200)}`));
          return false;
        }
        const ev = { type: e.type as WatchEventType, object: e.object as T };
        try {
          onEvent(ev);
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
          return false;
        }
        if (ev.type === 'ERROR') {
          // The server ends the stream after an ERROR; report it as the watch's failure.
          finish(statusErrorFromStatus(ev.object as unknown as Status));
          return false;
        }
        return !finished;
      };
      res.on('data', (chunk: Buffer) => {
        if (finished) return;
        let lines: string[];
        try {
          lines = splitter.push(chunk);
        } catch (err) {
          finish(err as Error);
          return;
        }
        for (const line of lines) if (!deliver(line)) return;
      });
      res.on('end', () => {
        if (finished) return;
        const last = splitter.flush();
        if (last !== undefined && !deliver(last)) return;
        finish();
      });
      res.on('aborted', () => finish(new TransportError('ECONNRESET', `watch ${r.plural}: connection reset`)));
      res.on('error', (err) => finish(transportError(err)));
    });
    req.end();
    return handle;
  }

  /** Aborts in-flight requests and watches, and closes the agent's sockets. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const req of [...this.inflight]) req.destroy(new TransportError('CLOSED', 'the client is closed'));
    this.inflight.clear();
    this.agent.destroy();
  }

  private requireNamespace(r: ResourceInfo, namespace: string | undefined): string | undefined {
    if (!r.namespaced) return undefined;
    if (namespace === undefined || namespace === '') throw badRequest(`a namespace is required for ${r.plural}`);
    return namespace;
  }

  private url(path: string, q?: URLSearchParams): URL {
    const u = new URL(this.base.origin);
    u.pathname = path;
    if (q && [...q.keys()].length) u.search = q.toString();
    return u;
  }

  private json<T>(res: RawResponse): T {
    try {
      return JSON.parse(res.body.toString('utf8')) as T;
    } catch {
      throw new TransportError('BAD_RESPONSE', `the server returned a non-JSON body (HTTP ${res.status})`);
    }
  }

  private call(method: string, path: string, q?: URLSearchParams, body?: { data: Buffer; contentType: string }): Promise<RawResponse> {
    if (this.closed) return Promise.reject(new TransportError('CLOSED', 'the client is closed'));
    return new Promise<RawResponse>((resolve, reject) => {
      const headers: Record<string, string> = { ...this.headers };
      if (body) {
        headers['Content-Type'] = body.contentType;
        headers['Content-Length'] = String(body.data.length);
      }
      const req = this.mod.request(this.url(path, q), { method, agent: this.agent, headers });
      this.inflight.add(req);
      let settled = false;
      const timer = setTimeout(() => {
        req.destroy(new TransportError('ETIMEDOUT', `${method} ${path}: no response within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const settle = (err: Error | undefined, res?: RawResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inflight.delete(req);
        if (err) reject(err);
        else resolve(res!);
      };
      req.on('error', (e) => settle(transportError(e)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => settle(transportError(e)));
        res.on('aborted', () => settle(new TransportError('ECONNRESET', `${method} ${path}: connection reset`)));
        res.on('end', () => {
          const status = res.statusCode ?? 500;
          const data = Buffer.concat(chunks);
          if (status >= 200 && status < 300) settle(undefined, { status, body: data });
          else settle(statusErrorFromResponse(status, data));
        });
      });
      req.end(body?.data);
    });
  }
}

function setParam(q: URLSearchParams, k: string, v: string | undefined): void {
  if (v !== undefined && v !== '') q.set(k, v);
}

function writeQuery(opts: WriteOptions): URLSearchParams {
  const q = new URLSearchParams();
  if (opts.dryRun) q.set('dryRun', 'All');
  setParam(q, 'fieldManager', opts.fieldManager);
  return q;
}

function jsonBody(v: unknown): { data: Buffer; contentType: string } {
  return { data: Buffer.from(JSON.stringify(v)), contentType: 'application/json' };
}

/** List items come without apiVersion/kind (as kube-apiserver encodes them); consumers of a cache want them. */
function withTypeMeta<T extends KObject>(r: ResourceInfo, o: T): T {
  if (!o || typeof o !== 'object' || (o.apiVersion && o.kind)) return o;
  return { ...o, apiVersion: o.apiVersion || groupVersion(r), kind: o.kind || r.kind };
}

function badRequest(message: string): StatusError {
  return new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'BadRequest', code: 400 });
}

function transportError(e: unknown): Error {
  if (e instanceof TransportError || e instanceof StatusError) return e;
  const err = e as NodeJS.ErrnoException;
  const msg = err?.message ?? String(e);
  switch (err?.code) {
    case 'ECONNREFUSED': return new TransportError('ECONNREFUSED', msg, { cause: e });
    case 'ECONNRESET': case 'EPIPE': return new TransportError('ECONNRESET', msg, { cause: e });
    case 'ETIMEDOUT': return new TransportError('ETIMEDOUT', msg, { cause: e });
    case 'ABORT_ERR': return new TransportError('ABORTED', msg, { cause: e });
  }
  // OpenSSL's verify codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, DEPTH_ZERO_SELF_SIGNED_CERT, …) and Node's ERR_TLS_*/ERR_SSL_*.
  if (typeof err?.code === 'string' && /^ERR_(TLS|SSL)_|CERT|SIGNATURE|ISSUER/.test(err.code)) {
    return new TransportError('TLS', msg, { cause: e });
  }
  return new TransportError('NETWORK', msg, { cause: e });
}

/** Reasons and messages client-go's errors.NewGenericServerResponse uses when the body is not a Status. */
const genericByCode: Record<number, [StatusReason, string]> = {
  400: ['BadRequest', 'the server rejected our request for an unknown reason'],
  401: ['Unauthorized', 'the server has asked for the client to provide credentials'],
  403: ['Forbidden', 'the server does not allow access to the requested resource'],
  404: ['NotFound', 'the server could not find the requested resource'],
  405: ['MethodNotAllowed', 'the server does not allow this method on the requested resource'],
  406: ['NotAcceptable', 'the server was unable to respond with a content type that the client supports'],
  409: ['Conflict', 'the server reported a conflict'],
  410: ['Gone', 'the server has asked for the client to retry'],
  413: ['RequestEntityTooLarge', 'the server has rejected the request because the entity is too large'],
  415: ['UnsupportedMediaType', 'the server was unable to handle the content type of the request'],
  422: ['Invalid', 'the server rejected our request due to an error in our request'],
  429: ['TooManyRequests', 'the server has received too many requests and has asked us to try again later'],
  500: ['InternalError', 'an error on the server has prevented the request from succeeding'],
  503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
  504: ['Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request'],
};

function statusErrorFromStatus(s: Status): StatusError {
  return new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', ...s });
}

/** The server's Status when the body is one; otherwise a Status synthesized from the HTTP code (and the body text, if short). */
export function statusErrorFromResponse(code: number, body: Buffer | string): StatusError {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  try {
    const parsed = JSON.parse(text) as { kind?: unknown; code?: unknown };
    if (parsed && typeof parsed === 'object' && parsed.kind === 'Status') {
      const s = parsed as Status;
      return statusErrorFromStatus({ ...s, code: typeof s.code === 'number' && s.code > 0 ? s.code : code });
    }
  } catch {
    // not JSON: synthesized below
  }
  const [reason, generic] = genericByCode[code] ?? [code >= 500 ? 'InternalError' : 'BadRequest', `the server responded with the status code ${code} but did not return more information`];
  const trimmed = text.trim();
  const message = trimmed && trimmed.length <= 1024 && !trimmed.startsWith('<') ? `${generic} (${trimmed})` : generic;
  return new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, details: { causes: [{ reason: 'UnexpectedServerResponse', message: trimmed.slice(0, 1024) }] } });
}
