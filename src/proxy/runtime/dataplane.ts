// A data plane takes a snapshot and makes the node forward traffic accordingly. The
// kernel ones render rules (pure renderers of ../nftables and ../iptables) and hand
// them to a RuleApplier in one transaction; the userspace one reconciles sockets.
//
// Incremental (partial) syncs: each family remembers the snapshot it last applied
// successfully and renders only the difference from it. A failure forgets it, so the
// next sync is full (kube-proxy's needFullSync).
import { systemClock, type Clock } from '../../client/clock.js';
import { errorText, silentLogger, type Logger } from '../../client/log.js';
import { ipFamilyOf } from '../../api/validation/ip.js';
import type { IPFamily, ProxySnapshot } from '../snapshot.js';
import type { ProxyMetrics, ProxyMode } from '../metrics.js';
import type { RenderOptions } from '../render-options.js';
import { renderNftables, renderNftablesChainDeletion, type NftablesRuleset } from '../nftables/render.js';
import { formatIptablesRuleset, renderIptables, type IptablesRuleset } from '../iptables/render.js';
import { UserspaceProxy, type UserspaceProxyOptions } from '../userspace/proxier.js';
import { ProxyError } from './errors.js';
import type { RuleApplier } from './apply.js';

export interface DataplaneSyncOptions {
  /** Rebuild everything (first sync, after a failure, periodically). */
  full: boolean;
}

export interface DataplaneSyncResult {
  /** Only the difference from the previous sync was written. */
  partial: boolean;
  /** Asks for another sync after this long (stale nftables chains to delete, userspace binds to retry). */
  retryAfterMs?: number;
}

export interface Dataplane {
  readonly mode: ProxyMode;
  /** Programs the data plane for the snapshot; rejects (SYNC_FAILED) leaving the previous state in force. */
  sync(snapshot: ProxySnapshot, opts: DataplaneSyncOptions): Promise<DataplaneSyncResult>;
  /** The whole ruleset (or listener table) of the last successful sync, readable. */
  lastRules(): string;
  /** The text last handed to the kernel (a partial sync's delta), for debugging. */
  lastTransaction(): string;
  close(): Promise<void>;
}

/** The renderer flags (kube-proxy's) a kernel data plane passes through. */
export interface KernelRenderOptions extends Omit<RenderOptions, 'family'> {
  /** iptables: --iptables-localhost-nodeports. */
  localhostNodePorts?: boolean;
  /** iptables: MASQUERADE --random-fully (default true). */
  randomFully?: boolean;
  /** iptables: nf_conntrack_tcp_be_liberal is set (no INVALID drop rule). */
  conntrackTCPLiberal?: boolean;
}

export interface KernelDataplaneOptions {
  applier: RuleApplier;
  /** IP families to program. Default: IPv4, plus IPv6 once the snapshot or the node has IPv6. */
  families?: readonly IPFamily[];
  render?: KernelRenderOptions;
  clock?: Clock;
  log?: Logger;
  metrics?: ProxyMetrics;
}

function snapshotFamilies(snapshot: ProxySnapshot, fixed: readonly IPFamily[] | undefined, seen: Set<IPFamily>): IPFamily[] {
  if (fixed) return [...fixed];
  seen.add('IPv4');
  if (snapshot.nodeIPs.some((ip) => ipFamilyOf(ip) === 'IPv6') || snapshot.servicePorts.some((sp) => sp.families.some((f) => f.family === 'IPv6'))) {
    seen.add('IPv6');
  }
  // A family once programmed stays, so that its last service going away is applied too.
  return (['IPv4', 'IPv6'] as const).filter((f) => seen.has(f));
}

interface NftFamilyState {
  previous?: ProxySnapshot;
  ruleset?: NftablesRuleset;
  /** Stale chain → when it was flushed (clock ms). */
  stale: Map<string, number>;
  /** Chain → rule count, tracked from the scripts (svcnet_proxy_nftables_rules). */
  ruleCounts: Map<string, number>;
}

/** kube-proxy waits this long before deleting a chain a sync flushed (kernels < 6.2 need a moment). */
export const staleChainDeleteDelayMs = 1000;

export class NftablesDataplane implements Dataplane {
  readonly mode = 'nftables' as const;
  private readonly state = new Map<IPFamily, NftFamilyState>();
  private readonly seen = new Set<IPFamily>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private lastScript = '';

  constructor(private readonly o: KernelDataplaneOptions) {
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? silentLogger;
  }

  private fam(f: IPFamily): NftFamilyState {
    let s = this.state.get(f);
    if (!s) {
      s = { stale: new Map(), ruleCounts: new Map() };
      this.state.set(f, s);
    }
    return s;
  }

  async sync(snapshot: ProxySnapshot, opts: DataplaneSyncOptions): Promise<DataplaneSyncResult> {
    const families = snapshotFamilies(snapshot, this.o.families, this.seen);
    const rendered: { family: IPFamily; rs: NftablesRuleset; deleted: string[] }[] = [];
    const start = this.clock.now();
    let partial = true;
    let script = '';
    for (const family of families) {
      const st = this.fam(family);
      const incremental = !opts.full && st.previous !== undefined;
      if (!incremental) partial = false;
      const rs = renderNftables(snapshot, {
        ...this.o.render,
        family,
        ...(incremental ? { previous: st.previous, pendingStaleChains: [...st.stale.keys()] } : {}),
        // The renderer's per-service-port memory: an incremental render costs O(changed).
        ...(st.ruleset ? { state: st.ruleset.state } : {}),
      });
      // Chains flushed by an earlier sync ≥ 1 s ago are deleted in this transaction (as
      // kube-proxy does): they have been unreferenced since that earlier commit.
      const due = incremental ? [...st.stale].filter(([, t]) => start - t >= staleChainDeleteDelayMs).map(([c]) => c) : [];
      const deletion = due.length ? renderNftablesChainDeletion(family, due, rs) : '';
      rendered.push({ family, rs, deleted: due.filter((c) => !rs.hasChain(c)) });
      script += rs.script + deletion;
    }
    // Both families in one `nft -f`: one transaction for the whole node.
    this.lastScript = script;
    try {
      await this.o.applier.apply({ kind: 'nftables', script });
    } catch (e) {
      for (const st of this.state.values()) {
        st.previous = undefined;
        // The render updated its state for a table the kernel did not take.
        st.ruleset = undefined;
      }
      this.o.metrics?.nftablesSyncFailuresTotal.inc();
      throw new ProxyError('SYNC_FAILED', `nftables sync failed: ${errorText(e)}`, { cause: e });
    }
    const now = this.clock.now();
    for (const { family, rs, deleted } of rendered) {
      const st = this.fam(family);
      st.previous = snapshot;
      st.ruleset = rs;
      if (!rs.partial) st.stale.clear();
      for (const c of deleted) st.stale.delete(c);
      for (const c of rs.staleChains) if (!st.stale.has(c) && !deleted.includes(c)) st.stale.set(c, now);
      for (const c of [...st.stale.keys()]) if (rs.hasChain(c)) st.stale.delete(c);
      countNftRules(st.ruleCounts, rs.script, !rs.partial);
      for (const c of deleted) st.ruleCounts.delete(c);
      let total = 0;
      for (const n of st.ruleCounts.values()) total += n;
      this.o.metrics?.nftablesRulesTotal.set(total, { family });
    }
    let next = Infinity;
    for (const st of this.state.values()) for (const t of st.stale.values()) next = Math.min(next, t + staleChainDeleteDelayMs - now);
    return { partial, ...(next !== Infinity ? { retryAfterMs: Math.max(0, next) } : {}) };
  }

  lastRules(): string {
    const parts: string[] = [];
    for (const [family, st] of [...this.state].sort()) {
      if (!st.previous) continue;
      parts.push(renderNftables(st.previous, { ...this.o.render, family }).script);
    }
    return parts.join('');
  }

  lastTransaction(): string { return this.lastScript; }

  async close(): Promise<void> {
    // Rules stay in force after the proxy exits, as kube-proxy's; only helper processes end.
    await this.o.applier.close?.();
  }
}

function countNftRules(counts: Map<string, number>, script: string, full: boolean): void {
  if (full) counts.clear();
  for (const line of script.split('\n')) {
    const m = /^(add rule|flush chain|delete chain) \S+ \S+ (\S+)/.exec(line);
    if (!m) continue;
    const chain = m[2]!;
    if (m[1] === 'add rule') counts.set(chain, (counts.get(chain) ?? 0) + 1);
    else if (m[1] === 'flush chain') counts.set(chain, 0);
    else counts.delete(chain);
  }
}

interface IptFamilyState {
  previous?: ProxySnapshot;
  ruleset?: IptablesRuleset;
  /** table → chain → rule count. */
  ruleCounts: Map<string, Map<string, number>>;
}

export class IptablesDataplane implements Dataplane {
  readonly mode = 'iptables' as const;
  private readonly state = new Map<IPFamily, IptFamilyState>();
  private readonly seen = new Set<IPFamily>();
  private readonly log: Logger;
  private lastText = '';

  constructor(private readonly o: KernelDataplaneOptions) {
    this.log = o.log ?? silentLogger;
  }

  private fam(f: IPFamily): IptFamilyState {
    let s = this.state.get(f);
    if (!s) {
      s = { ruleCounts: new Map() };
      this.state.set(f, s);
    }
    return s;
  }

  async sync(snapshot: ProxySnapshot, opts: DataplaneSyncOptions): Promise<DataplaneSyncResult> {
    const families = snapshotFamilies(snapshot, this.o.families, this.seen);
    let partial = true;
    const texts: string[] = [];
    const written = new Map<string, number>();
    for (const family of families) {
      const st = this.fam(family);
      const incremental = !opts.full && st.previous !== undefined;
      if (!incremental) partial = false;
      let existingNatChains: string[] | undefined;
      if (!incremental) {
        // A full sync also deletes service chains a previous run left behind.
        try {
          existingNatChains = await this.o.applier.existingChains(family, 'nat');
        } catch (e) {
          this.log.warn('listing existing iptables chains failed', { family, error: errorText(e) });
        }
      }
      const rs = renderIptables(snapshot, {
        ...this.o.render,
        family,
        ...(incremental ? { previous: st.previous } : {}),
        ...(st.ruleset ? { state: st.ruleset.state } : {}),
        ...(existingNatChains ? { existingNatChains } : {}),
      });
      texts.push(rs.restore);
      try {
        // Jumps from the built-in chains are ensured on full syncs only, as kube-proxy does.
        await this.o.applier.apply({ kind: 'iptables', family, restore: rs.restore, jumps: incremental ? [] : rs.jumps });
      } catch (e) {
        for (const s of this.state.values()) {
          s.previous = undefined;
          s.ruleset = undefined;
        }
        this.o.metrics?.iptablesRestoreFailuresTotal.inc();
        if (incremental) this.o.metrics?.iptablesPartialRestoreFailuresTotal.inc();
        this.lastText = texts.join('');
        throw new ProxyError('SYNC_FAILED', `iptables sync (${family}) failed: ${errorText(e)}`, { cause: e });
      }
      st.previous = snapshot;
      st.ruleset = rs;
      countIptablesRules(st.ruleCounts, rs, !incremental, written);
    }
    this.lastText = texts.join('');
    const totals = new Map<string, number>();
    for (const st of this.state.values()) {
      for (const [table, chains] of st.ruleCounts) {
        let n = totals.get(table) ?? 0;
        for (const c of chains.values()) n += c;
        totals.set(table, n);
      }
    }
    for (const [table, n] of totals) this.o.metrics?.iptablesRulesTotal.set(n, { table });
    for (const table of ['filter', 'nat']) this.o.metrics?.iptablesRulesLastSync.set(written.get(table) ?? 0, { table });
    return { partial };
  }

  lastRules(): string {
    const parts: string[] = [];
    for (const [family, st] of [...this.state].sort()) {
      if (!st.previous) continue;
      parts.push(`# ${family}\n` + formatIptablesRuleset(renderIptables(st.previous, { ...this.o.render, family })));
    }
    return parts.join('');
  }

  lastTransaction(): string { return this.lastText; }

  async close(): Promise<void> {
    // Rules stay in force after the proxy exits, as kube-proxy's; only helper processes end.
    await this.o.applier.close?.();
  }
}

function countIptablesRules(counts: Map<string, Map<string, number>>, rs: IptablesRuleset, full: boolean, written: Map<string, number>): void {
  if (full) counts.clear();
  let table = '';
  for (const raw of rs.restore.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      table = line.slice(1);
      if (!counts.has(table)) counts.set(table, new Map());
      continue;
    }
    const t = counts.get(table);
    if (!t) continue;
    if (line.startsWith(':')) t.set(line.slice(1).split(/\s+/)[0]!, 0);
    else if (line.startsWith('-A ')) {
      const chain = line.split(/\s+/)[1]!;
      t.set(chain, (t.get(chain) ?? 0) + 1);
      written.set(table, (written.get(table) ?? 0) + 1);
    } else if (line.startsWith('-X ')) t.delete(line.split(/\s+/)[1]!);
  }
  // Chains the restore deleted are gone from the kernel too.
  for (const c of rs.deletedChains) counts.get('nat')?.delete(c);
}

export class UserspaceDataplane implements Dataplane {
  readonly mode = 'userspace' as const;
  readonly proxy: UserspaceProxy;
  private readonly log: Logger;
  private lastFailed = '';

  constructor(opts: UserspaceProxyOptions = {}, private readonly retryBindMs = 5_000) {
    this.proxy = new UserspaceProxy(opts);
    this.log = opts.log ?? silentLogger;
  }

  async sync(snapshot: ProxySnapshot): Promise<DataplaneSyncResult> {
    const r = await this.proxy.apply(snapshot);
    const failed = r.failed.map((f) => `${f.protocol} ${f.address}: ${f.error}`).join('; ');
    if (failed && failed !== this.lastFailed) this.log.warn('userspace proxy could not bind some service addresses; retrying', { failed });
    this.lastFailed = failed;
    // Reconciling is already incremental: listeners that stay are untouched.
    return { partial: true, ...(r.failed.length ? { retryAfterMs: this.retryBindMs } : {}) };
  }

  lastRules(): string { return this.proxy.describe(); }

  lastTransaction(): string { return this.proxy.describe(); }

  close(): Promise<void> { return this.proxy.close(); }
}
