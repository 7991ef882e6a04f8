// The API server: HTTP routing and the REST handlers over the registries.
// Handlers follow k8s.io/apiserver/pkg/endpoints/handlers: decode, admit,
// call the registry, encode (object, List, Table or PartialObjectMetadata).
import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';
import { errors, StatusError } from '../api/errors.js';
import { groupVersion, resources, type ResourceInfo } from '../api/resources.js';
import type { Store } from '../storage/store.js';
import {
  aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, apiVersions, DISCOVERY_V2_CONTENT_TYPE, versionInfo,
} from './discovery.js';
import { decodeBody, mediaType, negotiate, queryBool, readBody, sendJSON, sendStatusError, toStatusError, type AcceptTarget } from './http.js';
import { parseApiPath, splitRequestURL, type RequestInfo } from './request.js';
import { clone, Registry, type DeleteOptions, type Obj, type ObjFilter, type ObjWatchEvent, type Strategy } from './registry/generic.js';
import { buildFilter } from './selectors.js';
import { toTable, toPartialMetadata, type TableOptions } from './printing.js';
import { applyPatch, managerFromUserAgent, trackManagedFields, type PatchType } from './patching.js';
import { openapiHandler, checkUnknownFields, pruneFields } from './openapi-routes.js';
import { strategies, type ClusterConfig } from './strategies.js';
import { logEnabled, logger } from '../log.js';
import { typeError, wellFormed } from './typecheck.js';
import { jsonOf } from './wire.js';
import { directDialer, makeProxyHandlers, writeStatusToSocket, type Dialer, type ProxyUpgradeHandler } from './proxy.js';
import { decodeK8sProtobuf, hasProtobufSchema, isProtobuf, ProtobufDecodeError } from './protobuf/decode.js';

export interface ApiServerOptions {
  store: Store;
  /** Bearer token required on every request except health and version; none = open. */
  token?: string;
  /** Serving certificate and key (PEM). */
  tls: { certPem: string; keyPem: string };
  config: ClusterConfig;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  q: URLSearchParams;
}

export class ApiServer {
  readonly store: Store;
  readonly registries = new Map<string, Registry>();
  /** Subresources served by other components (pods/log, pods/exec, services/proxy, ...). */
  readonly subresourceHandlers = new Map<string, (req: IncomingMessage, res: ServerResponse, info: RequestInfo) => Promise<void> | void>();
  /** Subresources that take protocol upgrades (websocket, SPDY) through: the service/pod/node proxy. */
  readonly upgradeHandlers = new Map<string, ProxyUpgradeHandler>();
  /** Non-resource paths served by other components, by prefix (kube-apiserver's NonGoRestfulMux.HandlePrefix): `/ui` is the web page. Authenticated like every API path. */
  readonly nonResourceHandlers = new Map<string, (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void>();
  private readonly token?: Buffer;
  private server?: Server;
  private readonly openWatches = new Set<() => void>();
  readonly config: ClusterConfig;
  /** How the service/pod proxy reaches pod IPs; the embedded cluster points it into a node namespace. */
  dialer: Dialer = directDialer;
  private readonly tls: { certPem: string; keyPem: string };

  constructor(opts: ApiServerOptions) {
    this.store = opts.store;
    this.config = opts.config;
    if (opts.token) this.token = Buffer.from(opts.token);
    this.tls = opts.tls;
    const s = strategies(this, opts.config);
    for (const r of resources) {
      this.registries.set(`${r.group}/${r.plural}`, new Registry(r, this.store, s[r.kind] ?? {}, trackManagedFields));
    }
    const proxyDeps = {
      services: this.registry('', 'services'), slices: this.registry('discovery.k8s.io', 'endpointslices'),
      pods: this.registry('', 'pods'), nodes: this.registry('', 'nodes'), dialer: () => this.dialer,
    };
    const proxies = makeProxyHandlers(proxyDeps);
    for (const [k, h] of Object.entries(proxies.requests)) this.subresourceHandlers.set(k, h);
    for (const [k, h] of Object.entries(proxies.upgrades)) this.upgradeHandlers.set(k, h);
  }

  registry(group: string, plural: string): Registry {
    const r = this.registries.get(`${group}/${plural}`);
    if (!r) throw new Error(`no registry for ${group}/${plural}`);
    return r;
  }

  /** Starts listening; port 0 picks a free port. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = createServer({ keepAliveTimeout: 30_000, requestTimeout: 0, cert: this.tls.certPem, key: this.tls.keyPem });
    this.serve(server);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  /**
   * Serves this API on a server made elsewhere: the HTTPS listener above, or one
   * `svcnet up` opens for its own components (plain HTTP on a unix socket: no TLS
   * handshake per connection). The caller closes it.
   */
  serve(server: Server): void {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((e) => sendStatusError(res, toStatusError(e)));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // The socket is ours from here on, its errors too (a client leaving while the backend is dialled).
      socket.on('error', () => socket.destroy());
      this.handleUpgrade(req, socket, head).catch((e) => writeStatusToSocket(socket, toStatusError(e)));
    });
  }

  /**
   * An upgrade request (websocket, SPDY): the proxy subresources pass it through;
   * anything else is answered as the same request without the upgrade would be.
   */
  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const p = parseApiPath(new URL(req.url ?? '/', 'http://localhost').pathname);
    const r = p.kind === 'resource' ? p.info.resource : undefined;
    const h = p.kind === 'resource' && r && p.info.subresource ? this.upgradeHandlers.get(`${r.plural}/${p.info.subresource}`) : undefined;
    if (h && p.kind === 'resource') {
      if (!this.authorized(req)) {
        throw new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      }
      return h(req, socket, head, p.info);
    }
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.on('finish', () => socket.end());
    await this.handle(req, res).catch((e) => sendStatusError(res, toStatusError(e)));
  }

  async close(): Promise<void> {
    for (const stop of [...this.openWatches]) stop();
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.token) return true;
    const h = req.headers['authorization'] ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (!m) return false;
    const got = Buffer.from(m[1]!.trim());
    return got.length === this.token.length && timingSafeEqual(got, this.token);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, q } = splitRequestURL(req.url ?? '/');
    const ctx: Ctx = { req, res, q };
    if (logEnabled('debug')) {
      const start = Date.now();
      res.on('finish', () => logger.debug('request', { verb: req.method, path, code: res.statusCode, ms: Date.now() - start }));
    }
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if (path === '/version' || path === '/version/') return sendJSON(res, 200, versionInfo);
    if (!this.authorized(req)) {
      const e = new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      return sendStatusError(res, e);
    }
    if (path.startsWith('/openapi/')) return openapiHandler(ctx.req, res, path, ctx.q);
    for (const [prefix, h] of this.nonResourceHandlers) {
      if (path === prefix || path.startsWith(prefix + '/')) return h(req, res, new URL(req.url ?? '/', 'http://localhost'));
    }
    const p = parseApiPath(path);
    switch (p.kind) {
      case 'root': return this.serveRoot(ctx, p.legacy);
      case 'group': {
        const g = apiGroup(p.group);
        if (!g) return this.notFoundPath(ctx);
        return sendJSON(res, 200, g);
      }
      case 'groupVersion': {
        const l = apiResourceList(p.group, p.version);
        if (!l) return this.notFoundPath(ctx);
        return sendJSON(res, 200, l);
      }
      case 'resource': return this.serveResource(ctx, p.info);
      default: return this.notFoundPath(ctx);
    }
  }

  private notFoundPath(ctx: Ctx): void {
    const e = new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 });
    sendStatusError(ctx.res, e);
  }

  private serveRoot(ctx: Ctx, legacy: boolean): void {
    const accept = ctx.req.headers['accept'];
    const t = negotiate(accept, (t) => !t.as || (t.as === 'APIGroupDiscoveryList' && t.group === 'apidiscovery.k8s.io' && t.version === 'v2'));
    if (t?.as === 'APIGroupDiscoveryList') {
      ctx.res.setHeader('Vary', 'Accept');
      return sendJSON(ctx.res, 200, aggregatedDiscovery(legacy), DISCOVERY_V2_CONTENT_TYPE);
    }
    ctx.res.setHeader('Vary', 'Accept');
    sendJSON(ctx.res, 200, legacy ? apiVersions() : apiGroupList());
  }

  private async serveResource(ctx: Ctx, info: RequestInfo): Promise<void> {
    const r = info.resource;
    if (!r) return this.notFoundPath(ctx);
    const reg = this.registry(r.group, r.plural);
    const method = (ctx.req.method ?? 'GET').toUpperCase();
    if (r.namespaced && info.namespace === undefined && info.name !== undefined) return this.notFoundPath(ctx);
    if (info.subresource && !(r.subresources as string[]).includes(info.subresource)) return this.notFoundPath(ctx);
    const watch = info.legacyWatch || queryBool(ctx.q, 'watch');
    if (info.subresource === 'scale') return this.serveScale(ctx, reg, info, method);
    if (info.subresource === 'binding') return this.serveBinding(ctx, reg, info, method);
    if (info.subresource && info.subresource !== 'status') {
      const handler = this.subresourceHandlers.get(`${r.plural}/${info.subresource}`);
      if (handler) return handler(ctx.req, ctx.res, info);
      throw errors.serviceUnavailable(`the ${r.plural}/${info.subresource} subresource is not available on this server`);
    }
    if (!info.subresource) this.checkVerb(r, method, info.name === undefined, watch);
    if (info.name === undefined) {
      switch (method) {
        case 'GET': return watch ? this.watch(ctx, reg, info) : this.list(ctx, reg, info);
        case 'POST': return this.create(ctx, reg, info);
        case 'DELETE': return this.deleteCollection(ctx, reg, info);
        default: throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
      }
    }
    if (watch && method === 'GET') {
      // A watch on a single object: a field selector on metadata.name.
      return this.watch(ctx, reg, info, info.name);
    }
    switch (method) {
      case 'GET': return this.get(ctx, reg, info);
      case 'PUT': return this.update(ctx, reg, info);
      case 'PATCH': return this.patch(ctx, reg, info);
      case 'DELETE': return this.delete(ctx, reg, info);
      default: throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
  }

  /** Refuses a verb the resource does not serve (discovery's verbs), with kube-apiserver's 405. */
  private checkVerb(r: ResourceInfo, method: string, collection: boolean, watch: boolean): void {
    const verb = method === 'GET' ? (watch ? 'watch' : collection ? 'list' : 'get')
      : method === 'POST' ? (collection ? 'create' : '')
      : method === 'PUT' ? (collection ? '' : 'update')
      : method === 'PATCH' ? (collection ? '' : 'patch')
      : method === 'DELETE' ? (collection ? 'deletecollection' : 'delete') : '';
    if (!verb || !r.verbs.includes(verb)) {
      throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
  }


  /** Negotiated Accept headers: clients send the same few over and over. */
  private readonly acceptCache = new Map<string, AcceptTarget | undefined>();

  private tableOpts(ctx: Ctx): AcceptTarget | undefined {
    const accept = ctx.req.headers['accept'];
    if (accept !== undefined && this.acceptCache.has(accept)) return this.acceptCache.get(accept);
    const t = negotiate(accept, (t) =>
      !t.as || ((t.as === 'Table' || t.as === 'PartialObjectMetadata' || t.as === 'PartialObjectMetadataList') &&
        t.group === 'meta.k8s.io' && (t.version === 'v1' || t.version === 'v1beta1')));
    if (accept !== undefined) {
      if (this.acceptCache.size >= 256) this.acceptCache.clear();
      this.acceptCache.set(accept, t ? Object.freeze(t) : t);
    }
    return t;
  }

  private encodeOne(ctx: Ctx, reg: Registry, obj: Obj): { body: unknown; contentType: string } {
    const t = this.tableOpts(ctx);
    if (!t) throw errors.notAcceptable('only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf');
    if (t.as === 'Table') {
      return { body: toTable(reg.info, [obj], this.tableRequest(ctx, t)), contentType: `application/json;as=Table;v=${t.version};g=meta.k8s.io` };
    }
    if (t.as === 'PartialObjectMetadata') return { body: toPartialMetadata(obj, t.version!), contentType: 'application/json' };
    return { body: obj, contentType: 'application/json' };
  }

  private tableRequest(ctx: Ctx, t: AcceptTarget): TableOptions {
    const inc = ctx.q.get('includeObject');
    return {
      now: new Date(),
      includeObject: inc === 'None' || inc === 'Object' ? inc : 'Metadata',
      version: t.version ?? 'v1',
    };
  }

  private async get(ctx: Ctx, reg: Registry, info: RequestInfo): Promise<void> {
    const obj = await reg.get(info.namespace, info.name!);
    const { body, contentType } = this.encodeOne(ctx, reg, obj);
    sendJSON(ctx.res, 200, body, contentType);
  }

  private filterFor(ctx: Ctx, reg: Registry, name?: string): ObjFilter | undefined {
    let fs = ctx.q.get('fieldSelector') ?? '';
    if (name !== undefined) fs = fs ? `${fs},metadata.name=${name}` : `metadata.name=${name}`;
    return buildFilter(reg.info, ctx.q.get('labelSelector') ?? '', fs);
  }

  private async list(ctx: Ctx, reg: Registry, info: RequestInfo): Promise<void> {
    const t = this.tableOpts(ctx);
    if (!t) throw errors.notAcceptable('only the following media types are accepted: application/json, application/yaml');
    const filter = this.filterFor(ctx, reg);
    const limit = Number(ctx.q.get('limit') ?? 0) || 0;
    const result = await reg.list(info.namespace, { filter, limit, continue: ctx.q.get('continue') ?? undefined });
    const metadata: Record<string, unknown> = { resourceVersion: result.resourceVersion };
    if (result.continue) metadata['continue'] = result.continue;
    if (result.remainingItemCount !== undefined) metadata['remainingItemCount'] = result.remainingItemCount;
    if (t.as === 'Table') {
      const table = toTable(reg.info, result.items, this.tableRequest(ctx, t)) as { metadata: Record<string, unknown> };
      table.metadata = metadata;
      return sendJSON(ctx.res, 200, table, `application/json;as=Table;v=${t.version};g=meta.k8s.io`);
    }
    if (t.as === 'PartialObjectMetadataList' || t.as === 'PartialObjectMetadata') {
      return sendJSON(ctx.res, 200, {
        kind: 'PartialObjectMetadataList', apiVersion: `meta.k8s.io/${t.version}`, metadata,
        items: result.items.map((o) => toPartialMetadata(o, t.version!)),
      });
    }
    // Items of a List carry no apiVersion/kind, as kube-apiserver encodes them.
    const items = result.items.map((o) => { const c: Obj = { ...o }; delete c.apiVersion; delete c.kind; return c; });
    sendJSON(ctx.res, 200, { kind: reg.info.listKind, apiVersion: groupVersion(reg.info), metadata, items });
  }

  private async decodeObject(ctx: Ctx, reg: Registry, body?: Buffer): Promise<Obj> {
    const buf = body ?? await readBody(ctx.req);
    const ct = ctx.req.headers['content-type'];
    let raw: unknown;
    if (isProtobuf(ct)) {
      // kubectl's typed clients (create namespace/configmap/deployment/service) send protobuf, with no JSON fallback.
      const gv = groupVersion(reg.info);
      if (!hasProtobufSchema(gv, reg.info.kind)) throw errors.unsupportedMediaType(mediaType(ct));
      try {
        raw = decodeK8sProtobuf(buf, { apiVersion: gv, kind: reg.info.kind }).object;
      } catch (e) {
        if (e instanceof ProtobufDecodeError) throw errors.badRequest(e.message);
        throw e;
      }
    } else {
      raw = decodeBody(buf, ct);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw errors.badRequest(`Object 'Kind' is missing in '${JSON.stringify(raw)}'`);
    }
    const o = raw as Obj;
    const gv = groupVersion(reg.info);
    // A body without apiVersion/kind takes the endpoint's, as kube's decoder defaults them from the request path.
    if (o.kind === undefined || o.kind === '') o.kind = reg.info.kind;
    if (o.apiVersion === undefined || o.apiVersion === '') o.apiVersion = gv;
    if (o.apiVersion !== undefined && o.apiVersion !== gv) {
      throw errors.badRequest(`the API version in the data (${o.apiVersion}) does not match the expected API version (${gv})`);
    }
    if (o.kind !== reg.info.kind) {
      throw errors.badRequest(`the kind in the data (${o.kind}) does not match the expected kind (${reg.info.kind})`);
    }
    if (o.metadata !== undefined && (typeof o.metadata !== 'object' || o.metadata === null || Array.isArray(o.metadata))) {
      throw errors.badRequest('metadata: must be an object');
    }
    if (!o.metadata) o.metadata = {};
    this.fieldValidation(ctx, reg, o);
    return o;
  }

  /** fieldValidation=Strict|Warn|Ignore: unknown fields are refused, warned about, or dropped silently. */
  private fieldValidation(ctx: Ctx, reg: Registry, o: Obj): void {
    const gv = groupVersion(reg.info);
    // One cheap walk says whether there is anything to report; the walks that word it run only then.
    const ok = wellFormed(o, gv, reg.info.kind);
    const te = ok ? undefined : typeError(o, gv, reg.info.kind);
    if (te) {
      const k = reg.info.kind;
      throw errors.badRequest(`${k} in version "${reg.info.version}" cannot be handled as a ${k}: ${te}`);
    }
    const mode = ctx.q.get('fieldValidation') ?? 'Warn';
    if (mode !== 'Strict' && mode !== 'Warn' && mode !== 'Ignore') {
      throw errors.badRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict", got "${mode}"`);
    }
    if (ok) return;
    const unknown = checkUnknownFields(o, gv, reg.info.kind);
    if (!unknown.length) return;
    if (mode === 'Strict') {
      const k = reg.info.kind;
      throw errors.badRequest(`${k} in version "${reg.info.version}" cannot be handled as a ${k}: strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
    }
    if (mode === 'Warn') {
      ctx.res.setHeader('Warning', unknown.map((u) => `299 - "unknown field \\"${u}\\""`));
    }
    pruneFields(o, unknown);
  }

  private checkNamespace(ctx: Ctx, reg: Registry, info: RequestInfo, o: Obj): void {
    if (!reg.info.namespaced) return;
    if (o.metadata.namespace && o.metadata.namespace !== info.namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    o.metadata.namespace = info.namespace;
  }

  private async admitNamespace(reg: Registry, namespace: string | undefined): Promise<void> {
    if (!reg.info.namespaced || !namespace) return;
    const ns = await this.registry('', 'namespaces').tryGet(undefined, namespace);
    if (!ns) throw errors.notFound({ group: '', resource: 'namespaces' }, namespace);
    if (ns.metadata.deletionTimestamp) {
      throw errors.forbidden(reg.groupResource, '', `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private writeOptions(ctx: Ctx): { dryRun: boolean; fieldManager?: string } {
    const dry = ctx.q.getAll('dryRun');
    for (const d of dry) if (d !== 'All') throw errors.badRequest(`Invalid dry run value: ${d}`);
    const fm = ctx.q.get('fieldManager');
    if (fm !== null && (fm.length > 128 || !/^[\x20-\x7e]*$/.test(fm))) {
      throw errors.badRequest(`fieldManager: Invalid value: "${fm}": must consist of printable characters and be at most 128 characters`);
    }
    return { dryRun: dry.includes('All'), fieldManager: fm || managerFromUserAgent(ctx.req.headers['user-agent']) };
  }

  private async create(ctx: Ctx, reg: Registry, info: RequestInfo): Promise<void> {
    const o = await this.decodeObject(ctx, reg);
    this.checkNamespace(ctx, reg, info, o);
    await this.admitNamespace(reg, info.namespace);
    const created = await reg.create(o, { ...this.writeOptions(ctx), owned: true });
    const { body, contentType } = this.encodeOne(ctx, reg, created);
    sendJSON(ctx.res, 201, body, contentType);
  }

  private async update(ctx: Ctx, reg: Registry, info: RequestInfo): Promise<void> {
    const raw = await readBody(ctx.req);
    const decode = async (): Promise<Obj> => {
      const o = await this.decodeObject(ctx, reg, raw);
      this.checkNamespace(ctx, reg, info, o);
      if (o.metadata.name !== undefined && o.metadata.name !== info.name) {
        throw errors.badRequest(`the name of the object (${o.metadata.name}) does not match the name on the URL (${info.name})`);
      }
      o.metadata.name = info.name;
      return o;
    };
    const first = await decode();
    let attempts = 0;
    const sub = info.subresource === 'status' ? 'status' : '';
    // The registry works on the decoded body itself; a retry after a conflict decodes it afresh.
    const { obj } = await reg.guaranteedUpdate(info.namespace, info.name!, () => (attempts++ === 0 ? first : decode()),
      { ...this.writeOptions(ctx), subresource: sub, owned: true });
    const { body, contentType } = this.encodeOne(ctx, reg, obj);
    sendJSON(ctx.res, 200, body, contentType);
  }

  private async patch(ctx: Ctx, reg: Registry, info: RequestInfo): Promise<void> {
    const ct = mediaType(ctx.req.headers['content-type']);
    const types: Record<string, PatchType> = {
      'application/json-patch+json': 'json',
      'application/merge-patch+json': 'merge',
      'application/strategic-merge-patch+json': 'strategic',
      'application/apply-patch+yaml': 'apply',
    };
    const pt = types[ct];
    if (!pt) throw errors.unsupportedMediaType(ct);
    const body = await readBody(ctx.req);
    const patch = decodeBody(body, ct);
    const opts = { ...this.writeOptions(ctx), managedFieldsDone: pt === 'apply' };
    const force = queryBool(ctx.q, 'force');
    if (pt === 'apply' && !ctx.q.get('fieldManager')) {
      throw errors.badRequest('PATCH, application/apply-patch+yaml requests must specify a fieldManager');
    }
    const sub = info.subresource === 'status' ? 'status' : '';
    const gv = groupVersion(reg.info);
    const mutate = (current: Obj | undefined): Obj => {
      const next = applyPatch(pt, current, patch, { apiVersion: gv, kind: reg.info.kind, fieldManager: opts.fieldManager ?? '', force, subresource: sub });
      if (typeof next !== 'object' || next === null || Array.isArray(next)) throw errors.badRequest('the patch did not produce an object');
      const n = next as Obj;
      if (!n.metadata) n.metadata = {};
      if (current && n.metadata.resourceVersion === undefined) n.metadata.resourceVersion = undefined;
      this.fieldValidation(ctx, reg, n);
      if (n.metadata.name !== undefined && n.metadata.name !== info.name) {
        throw errors.badRequest(`the name of the object (${n.metadata.name}) does not match the name on the URL (${info.name})`);
      }
      return n;
    };
    const createIfAbsent = pt === 'apply' && !sub ? async () => {
      const o = mutate(undefined);
      o.metadata.name = info.name;
      o.apiVersion = gv;
      o.kind = reg.info.kind;
      this.checkNamespace(ctx, reg, info, o);
      await this.admitNamespace(reg, info.namespace);
      return reg.create(o, opts);
    } : undefined;
    const { obj, created } = await reg.guaranteedUpdate(info.namespace, info.name!, (cur) => {
      let n: Obj;
      try {
        n = mutate(cur);
      } catch (e) {
        // kube answers some malformed strategic patches with a bare 500; a bad request body is the client's error.
        if (e instanceof StatusError && e.code >= 500) throw errors.badRequest(e.message);
        throw e;
      }
      // A patch keeps the resourceVersion it names (a precondition), or none.
      const patchRV = (patch as { metadata?: { resourceVersion?: string } } | null)?.metadata?.resourceVersion;
      n.metadata.resourceVersion = pt === 'json' ? (n.metadata.resourceVersion === cur.metadata.resourceVersion ? undefined : n.metadata.resourceVersion) : patchRV;
      return n;
    }, { ...opts, subresource: sub, createIfAbsent, owned: pt !== 'apply' });
    const { body: out, contentType } = this.encodeOne(ctx, reg, obj);
    sendJSON(ctx.res, created ? 201 : 200, out, contentType);
  }

  private async deleteOptions(ctx: Ctx): Promise<DeleteOptions> {
    const opts: DeleteOptions = { ...this.writeOptions(ctx) };
    const body = await readBody(ctx.req);
    let b: Record<string, unknown> = {};
    if (body.length && body.toString().trim()) {
      const raw = decodeBody(body, ctx.req.headers['content-type'] ?? 'application/json');
      if (typeof raw === 'object' && raw !== null) b = raw as Record<string, unknown>;
    }
    const g = ctx.q.get('gracePeriodSeconds') ?? b['gracePeriodSeconds'];
    if (g !== undefined && g !== null) {
      const n = Number(g);
      if (!Number.isInteger(n)) throw errors.badRequest(`gracePeriodSeconds must be an integer`);
      opts.gracePeriodSeconds = n;
    }
    const pp = (ctx.q.get('propagationPolicy') ?? b['propagationPolicy']) as string | undefined;
    if (pp !== undefined) {
      if (pp !== 'Orphan' && pp !== 'Background' && pp !== 'Foreground') {
        throw errors.invalid({ group: '', kind: 'DeleteOptions' }, '', [{ type: 'FieldValueNotSupported', field: 'propagationPolicy', value: pp, detail: 'supported values: "Foreground", "Background", "Orphan", nil' }]);
      }
      opts.propagationPolicy = pp;
    }
    if (b['orphanDependents'] === true && !opts.propagationPolicy) opts.propagationPolicy = 'Orphan';
    const pre = b['preconditions'] as { uid?: string; resourceVersion?: string } | undefined;
    if (pre) opts.preconditions = pre;
    if (b['dryRun'] && Array.isArray(b['dryRun']) && (b['dryRun'] as string[]).includes('All')) opts.dryRun = true;
    return opts;
  }

  private async delete(ctx: Ctx, reg: Registry, info: RequestInfo): Promise<void> {
    const opts = await this.deleteOptions(ctx);
    const { obj, deleted } = await reg.delete(info.namespace, info.name!, opts);
    if (reg.info.kind === 'Namespace' && !opts.dryRun) this.onNamespaceDeleting(info.name!);
    if (deleted && reg.info.kind !== 'Pod' && reg.info.kind !== 'Service' && reg.info.kind !== 'Namespace') {
      return sendJSON(ctx.res, 200, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
        details: { name: info.name, group: reg.info.group, kind: reg.info.plural, uid: obj.metadata.uid },
      });
    }
    const { body, contentType } = this.encodeOne(ctx, reg, obj);
    sendJSON(ctx.res, 200, body, contentType);
  }

  private async deleteCollection(ctx: Ctx, reg: Registry, info: RequestInfo): Promise<void> {
    const opts = await this.deleteOptions(ctx);
    const filter = this.filterFor(ctx, reg);
    const { items, resourceVersion } = await reg.list(info.namespace, { filter });
    const out: Obj[] = [];
    for (const o of items) {
      try {
        const r = await reg.delete(o.metadata.namespace, o.metadata.name!, opts);
        out.push(r.obj);
      } catch (e) {
        if (e instanceof StatusError && e.code === 404) continue;
        throw e;
      }
    }
    const list = out.map((o) => { const c: Obj = { ...o }; delete c.apiVersion; delete c.kind; return c; });
    sendJSON(ctx.res, 200, { kind: reg.info.listKind, apiVersion: groupVersion(reg.info), metadata: { resourceVersion }, items: list });
  }

  /** Namespace deletion: set Terminating, remove every object in it, then the namespace. */
  private onNamespaceDeleting(name: string): void {
    void this.finalizeNamespace(name).catch((e) => logger.warn('namespace cleanup failed', { namespace: name, err: String(e) }));
  }

  async finalizeNamespace(name: string): Promise<void> {
    const nsReg = this.registry('', 'namespaces');
    const ns = await nsReg.tryGet(undefined, name);
    if (!ns || !ns.metadata.deletionTimestamp) return;
    await nsReg.guaranteedUpdate(undefined, name, (cur) => ({ ...cur, status: { ...(cur['status'] as object), phase: 'Terminating' } }), { subresource: 'status' });
    for (const reg of this.registries.values()) {
      if (!reg.info.namespaced) continue;
      const { items } = await reg.list(name);
      for (const o of items) {
        try {
          await reg.delete(name, o.metadata.name!, { gracePeriodSeconds: 0 });
          // Objects held by finalizers are released: nobody else will clear them in this namespace.
          if (o.metadata.finalizers?.length) {
            await reg.guaranteedUpdate(name, o.metadata.name!, (c) => ({ ...c, metadata: { ...c.metadata, finalizers: [] } }));
          }
        } catch (e) {
          if (!(e instanceof StatusError && e.code === 404)) throw e;
        }
      }
    }
    // The `kubernetes` finalizer in spec.finalizers is ours to remove; then the namespace goes.
    await nsReg.guaranteedUpdate(undefined, name, (cur) => {
      const c = clone(cur);
      const spec = (c['spec'] ?? {}) as { finalizers?: string[] };
      spec.finalizers = (spec.finalizers ?? []).filter((f) => f !== 'kubernetes');
      c['spec'] = spec;
      return c;
    }, { subresource: 'status' }).catch(() => undefined);
    await nsReg.delete(undefined, name, { gracePeriodSeconds: 0 }).catch(() => undefined);
  }

  private async serveScale(ctx: Ctx, reg: Registry, info: RequestInfo, method: string): Promise<void> {
    const toScale = (o: Obj) => {
      const spec = (o['spec'] ?? {}) as { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
      const status = (o['status'] ?? {}) as { replicas?: number };
      const sel = Object.entries(spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
      return {
        kind: 'Scale', apiVersion: 'autoscaling/v1',
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp },
        spec: { replicas: spec.replicas ?? 0 },
        status: { replicas: status.replicas ?? 0, selector: sel },
      };
    };
    if (method === 'GET') return sendJSON(ctx.res, 200, toScale(await reg.get(info.namespace, info.name!)));
    if (method !== 'PUT' && method !== 'PATCH') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    const body = await readBody(ctx.req);
    const ct = mediaType(ctx.req.headers['content-type']);
    const input = decodeBody(body, ct);
    const { obj } = await reg.guaranteedUpdate(info.namespace, info.name!, (cur) => {
      let scale: unknown = toScale(cur);
      if (method === 'PUT') scale = input;
      else {
        const t = ({ 'application/json-patch+json': 'json', 'application/merge-patch+json': 'merge', 'application/strategic-merge-patch+json': 'merge' } as Record<string, PatchType>)[ct];
        if (!t) throw errors.unsupportedMediaType(ct);
        scale = applyPatch(t, scale as Obj, input, { apiVersion: 'autoscaling/v1', kind: 'Scale', fieldManager: '', force: false, subresource: 'scale' });
      }
      const replicas = (scale as { spec?: { replicas?: unknown } }).spec?.replicas;
      if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
        throw errors.invalid({ group: 'autoscaling', kind: 'Scale' }, info.name!, [{ type: 'FieldValueInvalid', field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' }]);
      }
      const rv = (scale as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
      const c = clone(cur);
      (c['spec'] as { replicas?: number }).replicas = replicas;
      c.metadata.resourceVersion = rv && method === 'PUT' ? rv : undefined;
      return c;
    });
    sendJSON(ctx.res, 200, toScale(obj));
  }

  private async serveBinding(ctx: Ctx, reg: Registry, info: RequestInfo, method: string): Promise<void> {
    if (method !== 'POST') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    const b = decodeBody(await readBody(ctx.req), ctx.req.headers['content-type']) as { target?: { kind?: string; name?: string }; metadata?: { name?: string } };
    const node = b?.target?.name;
    if (!node) throw errors.invalid({ group: '', kind: 'Binding' }, info.name!, [{ type: 'FieldValueRequired', field: 'target.name', detail: '' }]);
    await reg.guaranteedUpdate(info.namespace, info.name!, (cur) => {
      const spec = cur['spec'] as { nodeName?: string };
      if (cur.metadata.deletionTimestamp) throw errors.conflict(reg.groupResource, info.name!, `pod ${info.name} is being deleted, cannot be assigned to a host`);
      if (spec.nodeName) throw errors.conflict(reg.groupResource, info.name!, `pod ${info.name} is already assigned to node "${spec.nodeName}"`);
      const c = clone(cur);
      (c['spec'] as { nodeName?: string }).nodeName = node;
      const status = (c['status'] ?? {}) as { conditions?: { type: string; status: string; lastTransitionTime?: string; lastProbeTime?: null }[] };
      const conds = (status.conditions ?? []).filter((x) => x.type !== 'PodScheduled');
      conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') });
      status.conditions = conds;
      c['status'] = status;
      c.metadata.resourceVersion = undefined;
      return c;
    }, { internal: true, fieldManager: this.writeOptions(ctx).fieldManager });
    sendJSON(ctx.res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
  }

  private async watch(ctx: Ctx, reg: Registry, info: RequestInfo, name?: string): Promise<void> {
    const t = this.tableOpts(ctx);
    if (!t) throw errors.notAcceptable('only the following media types are accepted: application/json, application/json;stream=watch');
    const filter = this.filterFor(ctx, reg, name);
    const rvParam = ctx.q.get('resourceVersion') ?? '';
    const sendInitial = queryBool(ctx.q, 'sendInitialEvents');
    const bookmarks = queryBool(ctx.q, 'allowWatchBookmarks');
    const timeoutSeconds = Number(ctx.q.get('timeoutSeconds') ?? 0) || (1800 + Math.floor(Math.random() * 1800));
    let afterRev: number;
    const initial: ObjWatchEvent[] = [];
    if (rvParam === '' || rvParam === '0' || sendInitial) {
      // No resume point: the current state as ADDED events, then changes after it.
      const l = await reg.list(info.namespace, { filter });
      afterRev = Number(l.resourceVersion);
      for (const o of l.items) initial.push({ type: 'ADDED', object: o });
    } else {
      afterRev = Number(rvParam);
      if (!Number.isInteger(afterRev) || afterRev < 0) throw errors.badRequest(`invalid resource version: ${rvParam}`);
    }
    const res = ctx.res;
    let firstTable = true;
    let lastRev = afterRev;
    const encode = (e: ObjWatchEvent): string => {
      let object: unknown = e.object;
      if (e.type !== 'BOOKMARK' && e.type !== 'ERROR') {
        if (t.as === 'Table') {
          const table = toTable(reg.info, [e.object], this.tableRequest(ctx, t)) as { columnDefinitions?: unknown[] };
          if (!firstTable) table.columnDefinitions = [];
          firstTable = false;
          object = table;
        } else if (t.as === 'PartialObjectMetadata' || t.as === 'PartialObjectMetadataList') {
          object = toPartialMetadata(e.object, t.version!);
        }
      }
      // A plain object's JSON is usually the one the write computed, shared by every watcher.
      return `{"type":${JSON.stringify(e.type)},"object":${jsonOf(object)}}\n`;
    };
    let closed = false;
    let watcher: { close(): void } | undefined;
    const timers: NodeJS.Timeout[] = [];
    // Events delivered in one turn (the store hands them over revision by
    // revision) go out in one write: one TLS record and one syscall per turn
    // and watcher rather than per event.
    let out = '';
    let outScheduled = false;
    const flushOut = () => {
      outScheduled = false;
      if (out && !res.writableEnded) res.write(out);
      out = '';
    };
    const stop = () => {
      if (closed) return;
      closed = true;
      watcher?.close();
      timers.forEach(clearTimeout);
      this.openWatches.delete(stop);
      flushOut();
      if (!res.writableEnded) res.end();
    };
    const buffered: ObjWatchEvent[] = [];
    let ready = false;
    try {
      watcher = reg.watch(info.namespace, afterRev, filter, (events) => {
        if (closed) return;
        if (!ready) { buffered.push(...events); return; }
        write(events);
      }, (err) => {
        if (closed) return;
        flushOut();
        res.write(JSON.stringify({ type: 'ERROR', object: err.status }) + '\n');
        stop();
      });
    } catch (e) {
      if (e instanceof StatusError && e.code === 410) {
        // A watch from a compacted revision gets an ERROR event, not an HTTP error, as kube-apiserver does.
        res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
        res.end(JSON.stringify({ type: 'ERROR', object: e.status }) + '\n');
        return;
      }
      throw e;
    }
    const write = (events: ObjWatchEvent[]) => {
      let chunk = '';
      for (const e of events) {
        chunk += encode(e);
        const rv = Number(e.object.metadata?.resourceVersion);
        if (rv > lastRev) lastRev = rv;
      }
      if (!chunk) return;
      out += chunk;
      if (!outScheduled) {
        outScheduled = true;
        process.nextTick(flushOut);
      }
    };
    this.openWatches.add(stop);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    // kubectl wait blocks until the first bytes arrive unless headers are flushed now (FACTS).
    res.flushHeaders();
    ctx.req.on('close', stop);
    res.on('close', stop);
    write(initial);
    if (sendInitial && bookmarks) {
      write([{ type: 'BOOKMARK', object: bookmark(reg.info, String(afterRev), true) }]);
    }
    ready = true;
    if (buffered.length) write(buffered.splice(0));
    timers.push(setTimeout(stop, timeoutSeconds * 1000));
    if (bookmarks) {
      const tick = () => {
        if (closed) return;
        write([{ type: 'BOOKMARK', object: bookmark(reg.info, String(lastRev), false) }]);
        timers.push(setTimeout(tick, 60_000));
      };
      timers.push(setTimeout(tick, 60_000));
    }
  }
}

function bookmark(r: ResourceInfo, rv: string, initialEnd: boolean): Obj {
  const md: Obj['metadata'] = { resourceVersion: rv };
  if (initialEnd) md.annotations = { 'k8s.io/initial-events-end': 'true' };
  return { kind: r.kind, apiVersion: groupVersion(r), metadata: md };
}

export type { Strategy };
