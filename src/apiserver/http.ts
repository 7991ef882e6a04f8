// HTTP plumbing shared by the API server's handlers: body reading with a size
// cap, content negotiation, and writing JSON / Status responses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { errors, StatusError, isStatusError } from '../api/errors.js';
import { jsonOf } from './wire.js';

/** kube-apiserver rejects request bodies over 3 MiB (etcd's limit is near). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  // Listeners rather than `for await`: the async iterator costs a promise and
  // a generator step per chunk, noticeable on every small write request.
  return new Promise((resolve, reject) => {
    if (req.readableEnded) {
      resolve(Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: unknown, body?: Buffer): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) reject(err);
      else resolve(body!);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        // Let the rest of the body drain unread so the client receives the 413 instead of a reset.
        finish(errors.tooLarge('Request entity too large: limit is 3145728'));
        req.resume();
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    const onError = (e: Error): void => finish(e);
    const onClose = (): void => finish(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** The media type without parameters, lowercased. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Nesting deeper than this is refused before any recursive code sees it (kube's JSON decoder also caps depth). */
export const MAX_NESTING = 1000;

function checkDepth(x: unknown, d = 0): void {
  if (typeof x !== 'object' || x === null) return;
  if (d >= MAX_NESTING) throw errors.badRequest(`the request body is nested more than ${MAX_NESTING} levels deep`);
  if (Array.isArray(x)) {
    for (const c of x) if (typeof c === 'object' && c !== null) checkDepth(c, d + 1);
    return;
  }
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    const c = o[k];
    if (typeof c === 'object' && c !== null) checkDepth(c, d + 1);
  }
}

/** Decodes a JSON or YAML request body into a plain value, refusing pathological nesting. */
export function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  const v = decodeBodyUnchecked(body, contentType);
  // Each level of JSON nesting takes a byte: a shorter JSON body cannot be too deep (YAML can, with aliases).
  const mt = mediaType(contentType);
  if (body.length >= MAX_NESTING || mt === 'application/yaml' || mt === 'application/apply-patch+yaml') checkDepth(v);
  return v;
}

function decodeBodyUnchecked(body: Buffer, contentType: string | undefined): unknown {
  const mt = mediaType(contentType);
  const text = body.toString('utf8');
  if (/^\s*$/.test(text)) throw errors.badRequest('the body of the request was empty');
  if (mt === 'application/yaml' || mt === 'application/apply-patch+yaml') {
    try {
      return parseYaml(text, { prettyErrors: false, uniqueKeys: false });
    } catch (e) {
      throw errors.badRequest(`error converting YAML to JSON: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (mt === 'application/vnd.kubernetes.protobuf') {
    throw errors.unsupportedMediaType(mt);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
}

export interface AcceptTarget {
  /** 'Table' | 'PartialObjectMetadata' | 'PartialObjectMetadataList' | 'APIGroupDiscoveryList' | undefined (plain object) */
  as?: string;
  version?: string;
  group?: string;
}

/**
 * Picks the first acceptable media type from an Accept header the way
 * kube-apiserver's negotiation does for the forms we serve: plain JSON, or
 * JSON with `as=Table;g=meta.k8s.io;v=v1` (and the discovery v2 form).
 */
export function negotiate(accept: string | undefined, supported: (t: AcceptTarget) => boolean): AcceptTarget | undefined {
  if (!accept) return {};
  const clauses = accept.split(',').map((c) => c.trim()).filter(Boolean);
  for (const clause of clauses) {
    const [type, ...params] = clause.split(';').map((p) => p.trim());
    const mt = type!.toLowerCase();
    const p: Record<string, string> = {};
    for (const kv of params) {
      const i = kv.indexOf('=');
      if (i > 0) p[kv.slice(0, i).trim().toLowerCase()] = kv.slice(i + 1).trim().replace(/^"|"$/g, '');
    }
    if (mt !== 'application/json' && mt !== '*/*' && mt !== 'application/*' && mt !== 'application/yaml') continue;
    if (p['q'] === '0') continue;
    const target: AcceptTarget = p['as'] ? { as: p['as'], version: p['v'], group: p['g'] } : {};
    if (supported(target)) return target;
  }
  return undefined;
}

export function sendJSON(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = jsonOf(body);
  res.writeHead(code, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(text);
}

export function sendStatusError(res: ServerResponse, e: StatusError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJSON(res, e.code, e.status);
}

/** Converts anything thrown by a handler into a Status; unknown errors become 500 without internals. */
export function toStatusError(e: unknown): StatusError {
  if (isStatusError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return errors.internal(msg);
}

/** Go's strconv.ParseBool, which kube-apiserver uses for query flags (python sends `True`). */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && ['1', 't', 'T', 'TRUE', 'true', 'True', ''].includes(v);
}
