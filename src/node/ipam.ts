// Pod IP address management for one node: addresses from the node's podCIDR,
// like the host-local CNI plugin (which is what kubenet and the bridge/ptp
// plugins use): round-robin after the last address handed out, so an address
// just released is not reused at once (a peer's stale conntrack entry or
// endpoint would otherwise reach the wrong pod).
//
// Reserved, never handed out: the network address (offset 0), the gateway
// (offset 1, on the node's lo: every pod's next hop) and, for prefixes
// shorter than /31, the broadcast address.
//
// The pure core (`allocateIP`, `releaseIP`, `reconcileIPs`) works on values;
// `IpamStore` persists the state as one JSON file per node (written to a
// temporary file and renamed, so a crash leaves the old or the new state,
// never half of one) and reloads it at start. `reconcile` at agent start
// drops allocations of pods that no longer exist and re-reserves the
// addresses of sandboxes that do, so an address still in use is never given
// to another pod, whatever the file says.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { NodeError } from './errors.js';
import { cidrContains, cidrSize, formatCidr4, formatIPv4, parseCidr4, parseIPv4 } from './ipv4.js';

export interface IpamOwner {
  podUid: string;
  namespace: string;
  name: string;
}

export interface IpamState {
  cidr: string;
  /** The last address handed out; the next search starts after it. */
  lastAllocated?: string;
  /** ip → owner. */
  allocations: Record<string, IpamOwner>;
}

export function newIpamState(cidr: string): IpamState {
  parseCidr4(cidr);
  return { cidr, allocations: {} };
}

/** First and last offsets that may be handed out. */
function usableRange(cidr: string): { first: number; last: number } {
  const c = parseCidr4(cidr);
  const size = cidrSize(c);
  if (size <= 2) throw new NodeError('IPAM_EXHAUSTED', `podCIDR ${cidr} is too small`);
  return { first: 2, last: c.prefix >= 31 ? size - 1 : size - 2 };
}

export function gatewayOf(cidr: string): string {
  const c = parseCidr4(cidr);
  return formatIPv4(c.base + 1);
}

/** The address already held by a pod, if any. */
export function ipOf(state: IpamState, podUid: string): string | undefined {
  for (const [ip, o] of Object.entries(state.allocations)) if (o.podUid === podUid) return ip;
  return undefined;
}

/** Hands out an address (the pod's existing one when it has one). Throws IPAM_EXHAUSTED when full. */
export function allocateIP(state: IpamState, owner: IpamOwner): { state: IpamState; ip: string } {
  const existing = ipOf(state, owner.podUid);
  if (existing) return { state, ip: existing };
  const c = parseCidr4(state.cidr);
  const { first, last } = usableRange(state.cidr);
  const span = last - first + 1;
  let start = first;
  if (state.lastAllocated && cidrContains(c, state.lastAllocated)) {
    const off = parseIPv4(state.lastAllocated) - c.base;
    start = off >= first && off < last ? off + 1 : first;
  }
  for (let i = 0; i < span; i++) {
    const off = first + ((start - first + i) % span);
    const ip = formatIPv4(c.base + off);
    if (!state.allocations[ip]) {
      return { state: { ...state, lastAllocated: ip, allocations: { ...state.allocations, [ip]: { ...owner } } }, ip };
    }
  }
  throw new NodeError('IPAM_EXHAUSTED', `no free address left in podCIDR ${state.cidr}`);
}

/** Releases every address the pod holds. */
export function releaseIP(state: IpamState, podUid: string): IpamState {
  const allocations = Object.fromEntries(Object.entries(state.allocations).filter(([, o]) => o.podUid !== podUid));
  return { ...state, allocations };
}

/**
 * Makes the state agree with the sandboxes that exist: `inUse` maps an
 * address to the pod that has it (read from the sandboxes themselves). Every
 * other allocation is dropped; every address in use is reserved for its pod.
 */
export function reconcileIPs(state: IpamState, inUse: ReadonlyMap<string, IpamOwner>): IpamState {
  const c = parseCidr4(state.cidr);
  const allocations: Record<string, IpamOwner> = {};
  for (const [ip, owner] of inUse) if (cidrContains(c, ip)) allocations[ip] = { ...owner };
  return { ...state, allocations };
}

/** The state as one JSON file. Methods are synchronous: each change is on disk before it is used. */
export class IpamStore {
  private state: IpamState;

  constructor(readonly path: string, readonly cidr: string) {
    parseCidr4(cidr);
    this.state = this.load();
  }

  private load(): IpamState {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return newIpamState(this.cidr);
    }
    let parsed: unknown;
    try { parsed = JSON.parse(text); } catch (e) {
      throw new NodeError('IPAM_STATE_CORRUPT', `${this.path}: ${String(e)}`);
    }
    const s = parsed as Partial<IpamState>;
    if (!s || typeof s !== 'object' || typeof s.allocations !== 'object' || s.allocations === null) {
      throw new NodeError('IPAM_STATE_CORRUPT', `${this.path}: not an IPAM state`);
    }
    // A different podCIDR (the node was re-registered): nothing of the old state applies.
    if (s.cidr !== formatCidr4(parseCidr4(this.cidr))) return newIpamState(this.cidr);
    return { cidr: s.cidr, lastAllocated: s.lastAllocated, allocations: s.allocations };
  }

  private save(next: IpamState): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(next, null, 1));
    renameSync(tmp, this.path);
    this.state = next;
  }

  snapshot(): IpamState { return this.state; }

  allocate(owner: IpamOwner): string {
    const r = allocateIP(this.state, owner);
    if (r.state !== this.state) this.save(r.state);
    return r.ip;
  }

  release(podUid: string): void {
    if (!ipOf(this.state, podUid)) return;
    this.save(releaseIP(this.state, podUid));
  }

  reconcile(inUse: ReadonlyMap<string, IpamOwner>): void {
    this.save(reconcileIPs(this.state, inUse));
  }
}
