// Parses an API path into what it addresses, as kube-apiserver's
// RequestInfoFactory does: /api/v1/..., /apis/<group>/<version>/..., optional
// namespaces/<ns>/, resource, name, subresource, and the legacy /watch/ prefix.
import { resources, type ResourceInfo } from '../api/resources.js';

export interface RequestInfo {
  group: string;
  version: string;
  /** Resource info, undefined when the path names no known resource. */
  resource?: ResourceInfo;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** Path after the subresource (proxy paths). */
  rest: string[];
  legacyWatch: boolean;
}

export type PathKind =
  | { kind: 'resource'; info: RequestInfo }
  | { kind: 'groupVersion'; group: string; version: string }
  | { kind: 'group'; group: string }
  | { kind: 'root'; legacy: boolean }
  | { kind: 'other' };

let gvrIndex: Map<string, ResourceInfo> | undefined;
/** Resources by group/version/plural (the first one listed, as a find over them would give). */
function byGVR(): Map<string, ResourceInfo> {
  if (!gvrIndex) {
    gvrIndex = new Map();
    for (const r of resources) {
      const k = `${r.group}/${r.version}/${r.plural}`;
      if (!gvrIndex.has(k)) gvrIndex.set(k, r);
    }
  }
  return gvrIndex;
}

export function parseApiPath(pathname: string): PathKind {
  let parts: string[];
  try {
    parts = pathname.split('/').filter((p) => p !== '');
    if (pathname.includes('%')) parts = parts.map((p) => decodeURIComponent(p));
  } catch {
    return { kind: 'other' };
  }
  if (parts[0] === 'api') {
    if (parts.length === 1) return { kind: 'root', legacy: true };
    return parseGV('', parts[1]!, parts.slice(2));
  }
  if (parts[0] === 'apis') {
    if (parts.length === 1) return { kind: 'root', legacy: false };
    if (parts.length === 2) return { kind: 'group', group: parts[1]! };
    return parseGV(parts[1]!, parts[2]!, parts.slice(3));
  }
  return { kind: 'other' };
}

function parseGV(group: string, version: string, rest: string[]): PathKind {
  if (rest.length === 0) return { kind: 'groupVersion', group, version };
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  const known = (plural: string) => byGVR().get(`${group}/${version}/${plural}`);
  let namespace: string | undefined;
  // /namespaces/<ns>/<resource>/... addresses a namespaced resource; /namespaces/<name>[/status|/finalize] the namespace itself.
  if (rest[0] === 'namespaces' && rest.length >= 3 && known(rest[2]!)?.namespaced) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const plural = rest[0]!;
  return {
    kind: 'resource',
    info: {
      group, version, plural, namespace,
      resource: known(plural),
      name: rest[1],
      subresource: rest[2],
      rest: rest.slice(3),
      legacyWatch,
    },
  };
}

/** A path that `new URL` hands back unchanged: characters it never escapes, no dot segments. */
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

/** The pathname and query of a request target, as new URL(target, base) gives them (without building one when it is plain). */
export function splitRequestURL(target: string): { path: string; q: URLSearchParams } {
  const i = target.indexOf('?');
  const path = i < 0 ? target : target.slice(0, i);
  if (PLAIN_PATH.test(path) && path[1] !== '/' && !DOT_SEGMENT.test(path) && !target.includes('#')) {
    const query = i < 0 ? '' : target.slice(i + 1);
    // URLSearchParams drops one leading '?', which here belongs to the query.
    return { path, q: new URLSearchParams(query.startsWith('?') ? '&' + query : query) };
  }
  const url = new URL(target, 'http://localhost');
  return { path: url.pathname, q: url.searchParams };
}
