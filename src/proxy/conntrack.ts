// UDP conntrack cleanup, as kube-proxy's pkg/proxy/conntrack (CleanStaleEntries with
// ClearEntriesForIP / ClearEntriesForPort / ClearEntriesForNAT / ClearEntriesForPortNAT,
// and the stale-endpoint detection of endpointschangetracker.go).
//
// UDP has no connection to close: conntrack keeps DNATing a client's datagrams to the
// endpoint it picked first for as long as the client keeps sending. So when a UDP
// endpoint goes away its entries must be deleted, or the client talks to a dead pod
// forever; and when a UDP service goes from no endpoints to some, the entries created
// while packets were being REJECTed must go, or the client keeps being rejected.
// TCP needs none of this: a dead endpoint resets or times out and the client reconnects.
//
// `conntrackCleanupPlan` is pure (old snapshot, new snapshot → deletions);
// `ConntrackCleaner` runs them with the conntrack CLI inside the node's namespace.
import type { IPFamily, ProxySnapshot, ServicePortFamily, ServicePortSnapshot } from './snapshot.js';
import { execRunner, inNetns, type CommandRunner } from './runtime/exec.js';
import { silentLogger, errorText, type Logger } from '../client/log.js';

export type ConntrackDeletionKind =
  /** ClearEntriesForIP: every UDP entry whose original destination is the service IP. */
  | 'service-ip'
  /** ClearEntriesForPort: every UDP entry to the NodePort. */
  | 'node-port'
  /** ClearEntriesForNAT: entries to the service IP that were DNATed to the endpoint. */
  | 'service-ip-nat'
  /** ClearEntriesForPortNAT: entries to the NodePort that were DNATed to the endpoint. */
  | 'node-port-nat';

export interface ConntrackDeletion {
  kind: ConntrackDeletionKind;
  family: IPFamily;
  /** The service address (ClusterIP, external IP, LB IP) for *-ip kinds. */
  serviceIP?: string;
  nodePort?: number;
  /** The endpoint IP for *-nat kinds. */
  endpointIP?: string;
  /** The ServicePort (`ns/name:port`) that caused it, for logs. */
  servicePort: string;
  /** Arguments after `conntrack`, as kube-proxy's exec-based client built them. */
  args: string[];
}

function familyArgs(family: IPFamily): string[] {
  // conntrack defaults to IPv4.
  return family === 'IPv6' ? ['-f', 'ipv6'] : [];
}

function deletion(d: Omit<ConntrackDeletion, 'args'>): ConntrackDeletion {
  let args: string[];
  switch (d.kind) {
    case 'service-ip': args = ['-D', '--orig-dst', d.serviceIP!, '-p', 'udp']; break;
    case 'node-port': args = ['-D', '-p', 'udp', '--dport', String(d.nodePort)]; break;
    case 'service-ip-nat': args = ['-D', '--orig-dst', d.serviceIP!, '--dst-nat', d.endpointIP!, '-p', 'udp']; break;
    case 'node-port-nat': args = ['-D', '-p', 'udp', '--dport', String(d.nodePort), '--dst-nat', d.endpointIP!]; break;
  }
  return { ...d, args: [...familyArgs(d.family), ...args] };
}

function serviceIPs(fam: ServicePortFamily): string[] {
  return [fam.clusterIP, ...fam.externalIPs, ...fam.loadBalancerIPs];
}

/** Serving endpoint keys (`ip:port`) of one family: kube-proxy's IsServing() view of the endpoints map. */
function servingKeys(sp: ServicePortSnapshot | undefined, family: IPFamily): Map<string, string> {
  const out = new Map<string, string>();
  for (const ep of sp?.endpoints ?? []) if (ep.family === family && ep.serving) out.set(ep.key, ep.ip);
  return out;
}

/**
 * What to delete from the conntrack table after moving from `old` to `next` (undefined
 * `old` = the first sync, when every active UDP service counts as newly active, which
 * flushes what a previous proxy run may have left). Deduplicated, in a stable order.
 */
export function conntrackCleanupPlan(old: ProxySnapshot | undefined, next: ProxySnapshot): ConntrackDeletion[] {
  const out: ConntrackDeletion[] = [];
  const seen = new Set<string>();
  const add = (d: Omit<ConntrackDeletion, 'args'>) => {
    const del = deletion(d);
    const key = del.args.join(' ');
    if (seen.has(key)) return;
    seen.add(key);
    out.push(del);
  };
  const before = new Map((old?.servicePorts ?? []).filter((sp) => sp.protocol === 'UDP').map((sp) => [sp.id, sp]));
  const after = new Map(next.servicePorts.filter((sp) => sp.protocol === 'UDP').map((sp) => [sp.id, sp]));

  // Deleted UDP service ports: everything sent to their ClusterIPs (kube-proxy's DeletedUDPClusterIPs).
  for (const [id, sp] of before) {
    if (after.has(id)) continue;
    for (const fam of sp.families) add({ kind: 'service-ip', family: fam.family, serviceIP: fam.clusterIP, servicePort: sp.name });
  }

  for (const [id, sp] of after) {
    const prev = before.get(id);
    for (const fam of sp.families) {
      const newServing = servingKeys(sp, fam.family);
      const oldServing = servingKeys(prev, fam.family);
      // Newly active: 0 → >0 serving endpoints. Stale entries may say "REJECT".
      if (newServing.size > 0 && oldServing.size === 0) {
        for (const ip of serviceIPs(fam)) add({ kind: 'service-ip', family: fam.family, serviceIP: ip, servicePort: sp.name });
        if (sp.nodePort !== 0) add({ kind: 'node-port', family: fam.family, nodePort: sp.nodePort, servicePort: sp.name });
      }
      // Endpoints that were serving and are no longer (gone, or went not-serving).
      for (const [key, epIP] of oldServing) {
        if (newServing.has(key)) continue;
        if (sp.nodePort !== 0) add({ kind: 'node-port-nat', family: fam.family, nodePort: sp.nodePort, endpointIP: epIP, servicePort: sp.name });
        for (const ip of serviceIPs(fam)) {
          add({ kind: 'service-ip-nat', family: fam.family, serviceIP: ip, endpointIP: epIP, servicePort: sp.name });
        }
      }
    }
  }
  return out;
}

/** conntrack prints this (and may exit non-zero) when nothing matched: not an error. */
export const noConnectionToDelete = '0 flow entries have been deleted';

export interface ConntrackCleanerOptions {
  netns?: string;
  runner?: CommandRunner;
  log?: Logger;
}

export interface ConntrackCleanupResult {
  /** Flow entries conntrack reported deleted. */
  deleted: number;
  /** Commands that failed (logged; the next change will try again what it needs). */
  failed: number;
}

/** Runs deletions with the conntrack CLI (from the `conntrack` package). Errors are logged, never thrown. */
export class ConntrackCleaner {
  private readonly runner: CommandRunner;
  private readonly log: Logger;

  constructor(opts: ConntrackCleanerOptions = {}) {
    this.runner = inNetns(opts.runner ?? execRunner, opts.netns);
    this.log = opts.log ?? silentLogger;
  }

  async run(plan: readonly ConntrackDeletion[]): Promise<ConntrackCleanupResult> {
    let deleted = 0;
    let failed = 0;
    for (const d of plan) {
      try {
        const r = await this.runner.run(['conntrack', ...d.args], { timeoutMs: 10_000 });
        const text = r.stdout + r.stderr;
        const m = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(text);
        if (m) deleted += Number(m[1]);
        if (r.code !== 0 && !text.includes(noConnectionToDelete)) {
          failed++;
          this.log.warn('conntrack cleanup failed', { servicePort: d.servicePort, args: d.args.join(' '), error: text.trim() });
        } else {
          this.log.debug('conntrack entries cleared', { servicePort: d.servicePort, kind: d.kind, deleted: m ? Number(m[1]) : 0 });
        }
      } catch (e) {
        failed++;
        this.log.warn('conntrack cleanup failed', { servicePort: d.servicePort, args: d.args.join(' '), error: errorText(e) });
      }
    }
    return { deleted, failed };
  }
}
