// GET /openapi/v3 and /openapi/v3/<group-version>, and the unknown-field
// check behind fieldValidation, over the pure documents in ./openapi.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { openapiDocument, openapiIndex, unknownFields } from './openapi/index.js';
import { sendJSON } from './http.js';

export function openapiHandler(req: IncomingMessage, res: ServerResponse, path: string, q: URLSearchParams): void {
  if (path === '/openapi/v3' || path === '/openapi/v3/') return sendJSON(res, 200, openapiIndex());
  const key = path.replace(/^\/openapi\/v3\//, '');
  const doc = openapiDocument(key);
  if (!doc) {
    return sendJSON(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: 'the server could not find the requested resource' });
  }
  const want = q.get('hash');
  if (want && want !== doc.hash) {
    // A stale hash is redirected to the current document, as kube-openapi's handler3 does.
    res.writeHead(301, { Location: `/openapi/v3/${key}?hash=${doc.hash}` });
    res.end();
    return;
  }
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(doc.body),
    ETag: `"${doc.hash}"`,
  };
  headers['Cache-Control'] = want ? 'public, immutable' : 'no-cache, private';
  if (req.headers['if-none-match'] === `"${doc.hash}"`) {
    res.writeHead(304, { ETag: `"${doc.hash}"` });
    res.end();
    return;
  }
  res.writeHead(200, headers);
  res.end(doc.body);
}

/** Dotted paths of fields the schema does not know, in document order. */
export function checkUnknownFields(o: unknown, apiVersion: string, kind: string): string[] {
  return unknownFields(o, apiVersion, kind);
}

/** Removes the fields named by unknownFields' paths (`a.b[0].c`), as decoding into typed structs drops them. */
export function pruneFields(o: unknown, paths: readonly string[]): void {
  for (const p of paths) {
    const steps: (string | number)[] = [];
    for (const m of p.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) steps.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
    let cur: unknown = o;
    for (let i = 0; i < steps.length - 1 && cur && typeof cur === 'object'; i++) {
      cur = (cur as Record<string | number, unknown>)[steps[i]!];
    }
    if (cur && typeof cur === 'object' && !Array.isArray(cur)) delete (cur as Record<string, unknown>)[String(steps[steps.length - 1])];
  }
}
