// Endpoint choice for the userspace proxy: round-robin over the ready endpoints of a
// service port, with ClientIP session affinity (kube-proxy's old userspace
// LoadBalancerRR: an affinity entry lives `timeout` after its last use, like
// iptables' `recent --rcheck --seconds N` + `--set`). Pure apart from the clock.
import { systemClock, type Clock } from '../../client/clock.js';

export interface BackendEndpoint {
  ip: string;
  port: number;
  /** `ip:port` / `[ip]:port`: identity across updates. */
  key: string;
}

export interface AffinityPolicy {
  /** sessionAffinity: ClientIP. */
  clientIP: boolean;
  /** sessionAffinityConfig.clientIP.timeoutSeconds, in ms. */
  timeoutMs: number;
}

export const noAffinity: AffinityPolicy = Object.freeze({ clientIP: false, timeoutMs: 0 });

const nothingExcluded: ReadonlySet<string> = new Set();

interface AffinityEntry { key: string; lastUsed: number }

export class RoundRobinBalancer {
  private endpoints: BackendEndpoint[] = [];
  private next = 0;
  private policy: AffinityPolicy = noAffinity;
  private readonly affinity = new Map<string, AffinityEntry>();
  private picks = 0;

  constructor(private readonly clock: Clock = systemClock) {}

  get size(): number { return this.endpoints.length; }

  /** Whether `pick` looks at the client's address (ClientIP affinity); the relay skips looking it up otherwise. */
  get needsClientIP(): boolean { return this.policy.clientIP; }

  list(): readonly BackendEndpoint[] { return this.endpoints; }

  /**
   * Replaces the endpoint list. The rotation continues where it was; affinity entries
   * to endpoints still present survive, the others are dropped.
   */
  update(endpoints: readonly BackendEndpoint[], policy: AffinityPolicy): void {
    const cur = this.endpoints[this.next % Math.max(1, this.endpoints.length)];
    this.endpoints = [...endpoints];
    const at = cur ? this.endpoints.findIndex((e) => e.key === cur.key) : -1;
    this.next = at >= 0 ? at : this.endpoints.length ? this.next % this.endpoints.length : 0;
    if (!policy.clientIP) this.affinity.clear();
    this.policy = policy;
    const keys = new Set(this.endpoints.map((e) => e.key));
    for (const [client, e] of this.affinity) if (!keys.has(e.key)) this.affinity.delete(client);
  }

  /** The endpoint for a new connection from `clientIP`, avoiding the `exclude`d keys (already failed). */
  pick(clientIP: string, exclude: ReadonlySet<string> = nothingExcluded): BackendEndpoint | undefined {
    const now = this.clock.now();
    if (this.policy.clientIP) {
      if (++this.picks % 1024 === 0) this.sweep(now);
      const a = this.affinity.get(clientIP);
      if (a && now - a.lastUsed <= this.policy.timeoutMs && !exclude.has(a.key)) {
        const ep = this.endpoints.find((e) => e.key === a.key);
        if (ep) {
          a.lastUsed = now;
          return ep;
        }
      }
    }
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      const ep = this.endpoints[idx]!;
      if (exclude.has(ep.key)) continue;
      this.next = (idx + 1) % n;
      if (this.policy.clientIP) this.affinity.set(clientIP, { key: ep.key, lastUsed: now });
      return ep;
    }
    return undefined;
  }

  /** A connection from clientIP to `key` failed: forget the affinity so the retry may go elsewhere. */
  failed(clientIP: string, key: string): void {
    if (this.affinity.get(clientIP)?.key === key) this.affinity.delete(clientIP);
  }

  /** The endpoint clientIP is stuck to, if any (tests, `svcnet trace`). */
  stickyEndpoint(clientIP: string): string | undefined {
    const a = this.affinity.get(clientIP);
    if (!a || this.clock.now() - a.lastUsed > this.policy.timeoutMs) return undefined;
    return a.key;
  }

  private sweep(now: number): void {
    for (const [client, e] of this.affinity) if (now - e.lastUsed > this.policy.timeoutMs) this.affinity.delete(client);
  }
}
