// EndpointSet (k8s.io/endpointslice/util/endpointset.go): endpoints keyed by
// what identifies them — their addresses, hostname and target pod — so that a
// change of conditions, node or zone updates an endpoint in place instead of
// moving it. Unlike Go's map, iteration (and so PopAny) follows insertion
// order, which keeps plans deterministic.
import type { Endpoint, EndpointPort } from 'kubernetes-types/discovery/v1.js';
import { objectRefsEqual } from './util.js';

export function endpointKey(e: Endpoint): string {
  return JSON.stringify([
    [...(e.addresses ?? [])].sort(),
    e.hostname ?? '',
    e.targetRef?.namespace ?? '',
    e.targetRef?.name ?? '',
  ]);
}

export class EndpointSet {
  private readonly items = new Map<string, Endpoint>();

  insert(e: Endpoint): void {
    this.items.set(endpointKey(e), e);
  }
  get(e: Endpoint): Endpoint | undefined {
    return this.items.get(endpointKey(e));
  }
  delete(e: Endpoint): void {
    this.items.delete(endpointKey(e));
  }
  get size(): number {
    return this.items.size;
  }
  /** The first endpoint inserted that is still in the set, removed from it. */
  pop(): Endpoint | undefined {
    for (const [k, e] of this.items) {
      this.items.delete(k);
      return e;
    }
    return undefined;
  }
}

function strChanged(a: string | undefined, b: string | undefined): boolean {
  return (a === undefined) !== (b === undefined) || (a !== undefined && a !== b);
}
function boolChanged(a: boolean | undefined, b: boolean | undefined): boolean {
  return (a === undefined) !== (b === undefined) || (a !== undefined && a !== b);
}

/**
 * EndpointsEqualBeyondHash: node, zone, the three conditions and the target
 * (ignoring its resourceVersion). Hints are not compared.
 */
export function endpointsEqualBeyondHash(a: Endpoint, b: Endpoint): boolean {
  if (strChanged(a.nodeName ?? undefined, b.nodeName ?? undefined)) return false;
  if (strChanged(a.zone ?? undefined, b.zone ?? undefined)) return false;
  const ca = a.conditions ?? {};
  const cb = b.conditions ?? {};
  if (boolChanged(ca.ready ?? undefined, cb.ready ?? undefined)) return false;
  if (boolChanged(ca.serving ?? undefined, cb.serving ?? undefined)) return false;
  if (boolChanged(ca.terminating ?? undefined, cb.terminating ?? undefined)) return false;
  return objectRefsEqual(a.targetRef, b.targetRef);
}

/**
 * PortMapKey: identifies a set of endpoint ports regardless of order.
 * Kubernetes hashes them; a canonical JSON text serves the same purpose.
 */
export function portMapKey(ports: readonly EndpointPort[] | undefined | null): string {
  const norm = (ports ?? []).map((p) => [p.name ?? '', p.protocol ?? '', p.port ?? 0, p.appProtocol ?? null] as const);
  norm.sort((x, y) => {
    const a = JSON.stringify(x);
    const b = JSON.stringify(y);
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return JSON.stringify(norm);
}
