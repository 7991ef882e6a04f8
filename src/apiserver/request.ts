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

export function parseApiPath(pathname: string): PathKind {
  let parts: string[];
  try {
    parts = pathname.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
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
  const known = (plural: string) => resources.find((r) => r.group === group && r.version === version && r.plural === plural);
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
