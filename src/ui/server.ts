// The HTTP side of the web page, mounted by the API server under `/ui` (so it is
// authenticated like every API path: open it through `kubectl proxy`, which adds
// the kubeconfig's credentials). It serves the page, its stylesheet and its
// scripts (compiled from src/ui/web/*.ts by the project's tsc), and one JSON
// endpoint, `/ui/api/trace`. The page reads the topology itself, from the
// Kubernetes API with list + watch, as any client does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { parseTraceQuery, traceView, UiError, type Explain, type TraceDefaults } from './trace-view.js';

/** How the trace endpoint reads objects: the API server's registries (a structural view of them). */
export interface ObjectSource {
  registry(group: string, plural: string): { list(namespace: string | undefined): Promise<{ items: readonly object[] }> };
}

export interface UiOptions {
  objects: ObjectSource;
  /** The node proxy's tracer: src/proxy/explain.ts explainService. */
  explain: Explain;
  /** The rules the cluster's proxies program and its pod CIDR (the page's "as the cluster runs"). */
  defaults?: TraceDefaults;
}

/** The scripts the page loads, compiled beside this module. */
const scripts = new Set(['app.js', 'topology.js']);
/** Kept as written in the source tree (tsc does not copy them). */
const sources: Record<string, string> = { '': 'index.html', 'style.css': 'style.css' };

const contentTypes: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
};

/** src/ui/web of the package this module was compiled from (dist/src/ui/ → ../../../src/ui/web). */
function sourceWebDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'src', 'ui', 'web');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find src/ui/web above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

function status(code: number, reason: string, message: string, details?: { name: string; kind: string }): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function send(res: ServerResponse, code: number, type: string, body: string | Buffer, head: boolean, extra: Record<string, string> = {}): void {
  res.writeHead(code, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache, private',
    'X-Content-Type-Options': 'nosniff',
    ...extra,
  });
  res.end(head ? undefined : body);
}

function sendError(res: ServerResponse, e: UiError, head: boolean): void {
  send(res, e.code, 'application/json', JSON.stringify(status(e.code, e.reason, e.message, e.details)), head);
}

// Nothing but this origin: no CDN, no inline script, no framing by other sites.
const pageHeaders = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'Referrer-Policy': 'no-referrer',
};

/** The handler for `/ui` and everything under it: (req, res, url) as ApiServer.nonResourceHandlers calls it. */
export function uiHandler(o: UiOptions): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> {
  const compiled = dirname(fileURLToPath(import.meta.url));
  const cache = new Map<string, Buffer>();
  const file = (path: string): Buffer => {
    let b = cache.get(path);
    if (!b) cache.set(path, (b = readFileSync(path)));
    return b;
  };
  return async (req, res, url) => {
    const head = req.method === 'HEAD';
    try {
      if (req.method !== 'GET' && !head) throw new UiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      const path = url.pathname;
      // Relative links from here on: the page works under any prefix `kubectl proxy --api-prefix` puts it.
      if (path === '/ui') return send(res, 301, 'text/plain; charset=utf-8', 'Moved Permanently: ui/\n', head, { Location: 'ui/' });
      const rest = path.slice('/ui/'.length);
      if (rest === 'api/trace') return await trace(o, url.searchParams, res, head);
      const source = sources[rest];
      if (source !== undefined) {
        const ext = source.split('.').pop()!;
        return send(res, 200, contentTypes[ext]!, file(join(sourceWebDir(), source)), head, ext === 'html' ? pageHeaders : {});
      }
      if (scripts.has(rest)) {
        // The compiled module, minus the source-map comment (the map points into src/, which is not served).
        const js = file(join(compiled, 'web', rest)).toString('utf8').replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
        return send(res, 200, contentTypes['js']!, js, head);
      }
      throw new UiError(404, 'NotFound', 'the server could not find the requested resource');
    } catch (e) {
      if (e instanceof UiError) return sendError(res, e, head);
      if (res.headersSent) return void res.destroy();
      sendError(res, new UiError(500, 'InternalError', `Internal error occurred: ${e instanceof Error ? e.message : String(e)}`), head);
    }
  };
}

async function trace(o: UiOptions, q: URLSearchParams, res: ServerResponse, head: boolean): Promise<void> {
  const query = parseTraceQuery(q, o.defaults);
  const list = async <T>(group: string, plural: string) => (await o.objects.registry(group, plural).list(undefined)).items as T[];
  const [services, slices, nodes, pods] = await Promise.all([
    list<Service>('', 'services'), list<EndpointSlice>('discovery.k8s.io', 'endpointslices'), list<Node>('', 'nodes'), list<Pod>('', 'pods'),
  ]);
  const view = traceView({ services, slices, nodes, pods }, query, o.explain);
  send(res, 200, 'application/json', JSON.stringify(view), head);
}
