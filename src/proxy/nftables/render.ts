// Snapshot → `nft -f` script for kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go),
// for one IP family: everything lives in one private table, `ip kube-proxy` or
// `ip6 kube-proxy`, so nothing of ours needs a prefix and nothing of anyone else's is
// touched. A script is one nft transaction: it applies entirely or not at all.
//
// Two modes:
// - full: `add table; delete table; add table; …` rebuilds the table from scratch
//   (the first `add` makes the `delete` valid on a fresh node);
// - incremental (`previous` given): only chains whose rules changed are flushed and
//   refilled, map and set elements are added/deleted one by one, and chains no longer
//   used are flushed and reported in `staleChains`. As in kube-proxy they are deleted
//   later, in a separate transaction (`renderNftablesChainDeletion`), because kernels
//   before 6.2 notice only after a moment that a deleted map element no longer
//   references a chain, and refuse to delete it.

import { nftEndpointNames, nftServiceChains } from '../names.js';
import { familyServicePorts, type IPFamily, type ProxySnapshot, type ServicePortFamily, type ServicePortSnapshot, type SnapshotEndpoint } from '../snapshot.js';
import {
  cidrHas, defaultMasqueradeBit, localCIDR, masqueradeMark, nodeIPOf, nodePortAddressing, type RenderOptions,
} from '../render-options.js';
import { parseCIDRSloppy, formatCIDR } from '../../api/validation/ip.js';

export const kubeProxyTable = 'kube-proxy';

// Base chains: "${type}-${hook}" (plus "-pre-dnat" for the two that must see the
// original destination).
export const filterPreroutingPreDNATChain = 'filter-prerouting-pre-dnat';
export const filterOutputPreDNATChain = 'filter-output-pre-dnat';
export const filterInputChain = 'filter-input';
export const filterForwardChain = 'filter-forward';
export const filterOutputChain = 'filter-output';
export const natPreroutingChain = 'nat-prerouting';
export const natOutputChain = 'nat-output';
export const natPostroutingChain = 'nat-postrouting';

export const servicesChain = 'services';
export const serviceIPsMap = 'service-ips';
export const serviceNodePortsMap = 'service-nodeports';
export const nodePortIPsSet = 'nodeport-ips';
export const clusterIPsSet = 'cluster-ips';
export const serviceEndpointsCheckChain = 'service-endpoints-check';
export const nodePortEndpointsCheckChain = 'nodeport-endpoints-check';
export const noEndpointServicesMap = 'no-endpoint-services';
export const noEndpointNodePortsMap = 'no-endpoint-nodeports';
export const rejectChain = 'reject-chain';
export const clusterIPsCheckChain = 'cluster-ips-check';
export const firewallIPsMap = 'firewall-ips';
export const firewallCheckChain = 'firewall-check';
export const markMasqChain = 'mark-for-masquerade';
export const masqueradingChain = 'masquerading';

export interface NftBaseChain {
  name: string;
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  priority: number;
}

// The LoadBalancerSourceRanges check must see the destination before DNAT, so it runs
// just before DNAT (dstnat - 10 = -110). The "no endpoints" and "invalid ClusterIP
// port" checks run at the normal filter priority (0), after DNAT: a connection that
// was DNATed or short-circuited (pod or node → external IP of a Local service with no
// local endpoint) is no longer addressed to the service and passes. (Current
// kube-proxy layout, kubernetes#132456; it used to run every filter chain at -110,
// which dropped such short-circuited traffic, kubernetes#131765.)
export const nftBaseChains: readonly NftBaseChain[] = [
  { name: filterPreroutingPreDNATChain, type: 'filter', hook: 'prerouting', priority: -110 },
  { name: filterOutputPreDNATChain, type: 'filter', hook: 'output', priority: -110 },
  { name: natPreroutingChain, type: 'nat', hook: 'prerouting', priority: -100 },
  { name: natOutputChain, type: 'nat', hook: 'output', priority: -100 },
  { name: filterInputChain, type: 'filter', hook: 'input', priority: 0 },
  { name: filterForwardChain, type: 'filter', hook: 'forward', priority: 0 },
  { name: filterOutputChain, type: 'filter', hook: 'output', priority: 0 },
  { name: natPostroutingChain, type: 'nat', hook: 'postrouting', priority: 100 },
];

// Regular chains jumped to from the base chains, in kube-proxy's order.
const jumpChains: readonly { dst: string; src: string; extra: string }[] = [
  { dst: firewallCheckChain, src: filterPreroutingPreDNATChain, extra: 'ct state new' },
  { dst: firewallCheckChain, src: filterOutputPreDNATChain, extra: 'ct state new' },
  { dst: servicesChain, src: natPreroutingChain, extra: '' },
  { dst: servicesChain, src: natOutputChain, extra: '' },
  { dst: nodePortEndpointsCheckChain, src: filterInputChain, extra: 'ct state new' },
  { dst: serviceEndpointsCheckChain, src: filterInputChain, extra: 'ct state new' },
  { dst: serviceEndpointsCheckChain, src: filterForwardChain, extra: 'ct state new' },
  { dst: clusterIPsCheckChain, src: filterForwardChain, extra: 'ct state new' },
  { dst: serviceEndpointsCheckChain, src: filterOutputChain, extra: 'ct state new' },
  { dst: clusterIPsCheckChain, src: filterOutputChain, extra: 'ct state new' },
  { dst: masqueradingChain, src: natPostroutingChain, extra: '' },
];

export interface NftablesRenderOptions extends RenderOptions {
  /**
   * The snapshot last applied successfully with these same options: render only the
   * difference. Omit it after a failure or an option change (full resync).
   */
  previous?: ProxySnapshot;
  /**
   * Chains left stale by an earlier incremental sync and not yet deleted; any that is in
   * use again is simply refilled, the others are still reported in `staleChains`.
   */
  pendingStaleChains?: string[];
}

export interface NftablesRuleset {
  family: IPFamily;
  /** `ip` or `ip6`. */
  tableFamily: 'ip' | 'ip6';
  /** `nft -f` input: one transaction. */
  script: string;
  partial: boolean;
  /** Flushed but not deleted: delete them ≥1 s after this script ran (renderNftablesChainDeletion). */
  staleChains: string[];
  /** Every chain of the resulting table. */
  chains: string[];
}

interface ChainDef {
  comment?: string;
  rules: string[];
}

interface ContainerDef {
  kind: 'set' | 'map';
  /** The `{ … }` specification. */
  spec: string;
  /** key → `key[ comment "…"][ : value]` element text. */
  elements: Map<string, string>;
}

interface Built {
  chains: Map<string, ChainDef>;
  containers: Map<string, ContainerDef>;
}

function quote(s: string): string {
  return `"${s.replaceAll('"', '\\"')}"`;
}

class Builder {
  readonly chains = new Map<string, ChainDef>();
  readonly containers = new Map<string, ContainerDef>();
  chain(name: string, comment?: string): void {
    if (!this.chains.has(name)) this.chains.set(name, { ...(comment ? { comment } : {}), rules: [] });
  }
  rule(chain: string, rule: string, comment?: string): void {
    this.chain(chain);
    this.chains.get(chain)!.rules.push(comment ? `${rule} comment ${quote(comment)}` : rule);
  }
  container(kind: 'set' | 'map', name: string, spec: string): void {
    if (!this.containers.has(name)) this.containers.set(name, { kind, spec, elements: new Map() });
  }
  element(name: string, key: string, value?: string, comment?: string): void {
    const c = this.containers.get(name)!;
    c.elements.set(key, key + (comment ? ` comment ${quote(comment)}` : '') + (value !== undefined ? ` : ${value}` : ''));
  }
}

function build(snapshot: ProxySnapshot, opts: NftablesRenderOptions): Built {
  const family = opts.family;
  const ipX = family === 'IPv6' ? 'ip6' : 'ip';
  const addrType = family === 'IPv6' ? 'ipv6_addr' : 'ipv4_addr';
  const noLocalhost = family === 'IPv6' ? 'ip6 daddr != ::1' : 'ip daddr != 127.0.0.0/8';
  const mark = masqueradeMark(opts.masqueradeBit ?? defaultMasqueradeBit);
  const b = new Builder();

  for (const bc of nftBaseChains) b.chain(bc.name);
  for (const j of jumpChains) {
    b.chain(j.dst);
    b.rule(j.src, [j.extra, 'jump', j.dst].filter(Boolean).join(' '));
  }
  for (const c of [servicesChain, clusterIPsCheckChain, masqueradingChain, markMasqChain]) b.chain(c);

  b.rule(markMasqChain, `mark set mark or ${mark}`);
  b.rule(masqueradingChain, `mark and ${mark} == 0 return`);
  // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
  b.rule(masqueradingChain, `mark set mark xor ${mark}`);
  b.rule(masqueradingChain, 'masquerade fully-random');

  b.container('set', clusterIPsSet, `{ type ${addrType} ; comment ${quote('Active ClusterIPs')} ; }`);
  b.rule(clusterIPsCheckChain, `${ipX} daddr @${clusterIPsSet} reject`, 'Reject traffic to invalid ports of ClusterIPs');
  const serviceCIDRs = (opts.serviceCIDRs ?? [])
    .map((c) => parseCIDRSloppy(c.trim()))
    .filter((c) => c !== undefined && c.network.family === family)
    .map((c) => formatCIDR(c!));
  if (serviceCIDRs.length > 0) {
    b.rule(clusterIPsCheckChain, `${ipX} daddr { ${serviceCIDRs.join(', ')} } drop`, 'Drop traffic to unallocated ClusterIPs');
  }

  const np = nodePortAddressing(opts, snapshot);
  if (!np.matchAll) {
    b.container('set', nodePortIPsSet, `{ type ${addrType} ; comment ${quote('IPs that accept NodePort traffic')} ; }`);
    for (const ip of np.ips) b.element(nodePortIPsSet, ip);
  }

  b.container('map', noEndpointServicesMap,
    `{ type ${addrType} . inet_proto . inet_service : verdict ; comment ${quote('vmap to drop or reject packets to services with no endpoints')} ; }`);
  b.container('map', noEndpointNodePortsMap,
    `{ type inet_proto . inet_service : verdict ; comment ${quote('vmap to drop or reject packets to service nodeports with no endpoints')} ; }`);
  b.chain(rejectChain, 'helper for @no-endpoint-services / @no-endpoint-nodeports');
  b.rule(rejectChain, 'reject');
  b.rule(serviceEndpointsCheckChain, `${ipX} daddr . meta l4proto . th dport vmap @${noEndpointServicesMap}`);
  b.rule(nodePortEndpointsCheckChain, np.matchAll
    ? `${noLocalhost} meta l4proto . th dport vmap @${noEndpointNodePortsMap}`
    : `${ipX} daddr @${nodePortIPsSet} meta l4proto . th dport vmap @${noEndpointNodePortsMap}`);

  b.container('map', firewallIPsMap,
    `{ type ${addrType} . inet_proto . inet_service : verdict ; comment ${quote('destinations that are subject to LoadBalancerSourceRanges')} ; }`);
  b.rule(firewallCheckChain, `${ipX} daddr . meta l4proto . th dport vmap @${firewallIPsMap}`);

  b.container('map', serviceIPsMap,
    `{ type ${addrType} . inet_proto . inet_service : verdict ; comment ${quote('ClusterIP, ExternalIP and LoadBalancer IP traffic')} ; }`);
  b.container('map', serviceNodePortsMap, `{ type inet_proto . inet_service : verdict ; comment ${quote('NodePort traffic')} ; }`);
  b.rule(servicesChain, `${ipX} daddr . meta l4proto . th dport vmap @${serviceIPsMap}`);
  b.rule(servicesChain, np.matchAll
    ? `fib daddr type local ${noLocalhost} meta l4proto . th dport vmap @${serviceNodePortsMap}`
    : `${ipX} daddr @${nodePortIPsSet} meta l4proto . th dport vmap @${serviceNodePortsMap}`);

  const podCIDR = localCIDR(opts);
  const ctx: Ctx = {
    b, ipX, addrType,
    ifLocal: podCIDR ? `${ipX} saddr ${podCIDR}` : undefined,
    ifNotLocal: podCIDR ? `${ipX} saddr != ${podCIDR}` : undefined,
    masqueradeAll: opts.masqueradeAll ?? false,
    nodeIP: nodeIPOf(snapshot, family),
  };
  for (const { sp, fam } of familyServicePorts(snapshot, family)) writeServicePort(sp, fam, ctx);
  return { chains: b.chains, containers: b.containers };
}

interface Ctx {
  b: Builder;
  ipX: string;
  addrType: string;
  ifLocal?: string;
  ifNotLocal?: string;
  masqueradeAll: boolean;
  nodeIP?: string;
}

function writeServicePort(sp: ServicePortSnapshot, fam: ServicePortFamily, ctx: Ctx): void {
  const { b, ipX } = ctx;
  const protocol = sp.protocol.toLowerCase();
  const chains = nftServiceChains(sp.namespace, sp.service, protocol, sp.portName);
  const ep = (e: SnapshotEndpoint) => nftEndpointNames(sp.namespace, sp.service, protocol, sp.portName, e.ip, e.port);

  const usesClusterPolicyChain = fam.clusterEndpoints.length > 0 && fam.usesClusterEndpoints;
  const usesLocalPolicyChain = fam.localEndpoints.length > 0 && fam.usesLocalEndpoints;
  const internalTrafficChain = fam.internalPolicyLocal ? chains.local : chains.cluster;
  const externalPolicyChain = fam.externalPolicyLocal ? chains.local : chains.cluster;
  const usesExternalTrafficChain = fam.hasEndpoints && fam.externallyAccessible;
  const usesFWChain = fam.loadBalancerIPs.length > 0 && fam.loadBalancerSourceRanges.length > 0;

  let internalVerdict = '';
  let externalVerdict = '';
  if (!fam.hasEndpoints) {
    internalVerdict = externalVerdict = `goto ${rejectChain}`;
  } else {
    if (!fam.hasInternalEndpoints) internalVerdict = 'drop';
    if (!fam.hasExternalEndpoints) externalVerdict = 'drop';
  }

  if (usesExternalTrafficChain) b.chain(chains.external);
  if (usesFWChain) b.chain(chains.firewall);
  if (usesClusterPolicyChain) b.chain(chains.cluster);
  if (usesLocalPolicyChain) b.chain(chains.local);
  for (const e of fam.reachableEndpoints) b.chain(ep(e).chain);

  const key = (ip: string, port: number) => `${ip} . ${protocol} . ${port}`;
  b.element(clusterIPsSet, fam.clusterIP);
  if (fam.hasInternalEndpoints) b.element(serviceIPsMap, key(fam.clusterIP, sp.port), `goto ${internalTrafficChain}`);
  else b.element(noEndpointServicesMap, key(fam.clusterIP, sp.port), internalVerdict, sp.name);

  for (const ip of fam.externalIPs) {
    if (fam.hasEndpoints) b.element(serviceIPsMap, key(ip, sp.port), `goto ${chains.external}`);
    // No endpoints at all (reject) or none for outside traffic (drop what EXT did not short-circuit).
    if (!fam.hasExternalEndpoints) b.element(noEndpointServicesMap, key(ip, sp.port), externalVerdict, sp.name);
  }
  for (const ip of fam.loadBalancerIPs) {
    if (fam.hasEndpoints) b.element(serviceIPsMap, key(ip, sp.port), `goto ${chains.external}`);
    if (usesFWChain) b.element(firewallIPsMap, key(ip, sp.port), `goto ${chains.firewall}`);
  }
  if (!fam.hasExternalEndpoints) {
    for (const ip of fam.loadBalancerIPs) b.element(noEndpointServicesMap, key(ip, sp.port), externalVerdict, sp.name);
  }
  if (sp.nodePort !== 0) {
    // NodePorts are not subject to loadBalancerSourceRanges, for better or worse.
    if (fam.hasEndpoints) b.element(serviceNodePortsMap, `${protocol} . ${sp.nodePort}`, `goto ${chains.external}`);
    if (!fam.hasExternalEndpoints) b.element(noEndpointNodePortsMap, `${protocol} . ${sp.nodePort}`, externalVerdict, sp.name);
  }

  if (fam.hasInternalEndpoints) {
    const match = `${ipX} daddr ${fam.clusterIP}`;
    if (ctx.masqueradeAll) b.rule(internalTrafficChain, `${match} jump ${markMasqChain}`);
    // Off-cluster clients routed to the service range may be sent to another node: masquerade them.
    else if (ctx.ifNotLocal) b.rule(internalTrafficChain, `${match} ${ctx.ifNotLocal} jump ${markMasqChain}`);
  }

  if (usesExternalTrafficChain) {
    if (!fam.externalPolicyLocal) {
      // Cluster policy may cross nodes: masquerade so replies return through this node.
      b.rule(chains.external, `jump ${markMasqChain}`);
    } else {
      // Pod → external destination behaves as if it left for the LB and came back: no policy applies.
      if (ctx.ifLocal) b.rule(chains.external, `${ctx.ifLocal} goto ${chains.cluster}`, 'short-circuit pod traffic');
      // The node's own traffic has a local source (often the LB IP itself) and must be masqueraded.
      b.rule(chains.external, `fib saddr type local jump ${markMasqChain}`, 'masquerade local traffic');
      b.rule(chains.external, `fib saddr type local goto ${chains.cluster}`, 'short-circuit local traffic');
    }
    if (fam.hasExternalEndpoints) b.rule(chains.external, `goto ${externalPolicyChain}`);
  }

  if (usesFWChain) {
    const sources = [...fam.loadBalancerSourceRanges];
    // A VIP-style LB IP is often local to the node; the node's own requests then come from the VIP.
    if (ctx.nodeIP && fam.loadBalancerSourceRanges.some((c) => cidrHas(c, ctx.nodeIP!))) sources.push(...fam.loadBalancerIPs);
    b.rule(chains.firewall, `${ipX} saddr != { ${sources.join(', ')} } drop`);
  }

  if (sp.sessionAffinity === 'ClientIP') {
    for (const e of fam.reachableEndpoints) {
      // Affinity is per client IP and ServicePort, whichever service IP was used (as in iptables mode).
      b.container('set', ep(e).affinitySet,
        `{ type ${ctx.addrType} ; flags dynamic,timeout ; timeout ${sp.stickyMaxAgeSeconds}s ; }`);
    }
  }

  const writeEndpointRules = (svcChain: string, endpoints: SnapshotEndpoint[]): void => {
    if (sp.sessionAffinity === 'ClientIP') {
      for (const e of endpoints) b.rule(svcChain, `${ipX} saddr @${ep(e).affinitySet} goto ${ep(e).chain}`);
    }
    const vmap = endpoints.map((e, i) => `${i} : goto ${ep(e).chain}`).join(', ');
    b.rule(svcChain, `numgen random mod ${endpoints.length} vmap { ${vmap} }`);
  };
  if (usesClusterPolicyChain) writeEndpointRules(chains.cluster, fam.clusterEndpoints);
  if (usesLocalPolicyChain) writeEndpointRules(chains.local, fam.localEndpoints);

  for (const e of fam.reachableEndpoints) {
    const names = ep(e);
    // Hairpin: a pod reaching itself through the service must be SNATed.
    b.rule(names.chain, `${ipX} saddr ${e.ip} jump ${markMasqChain}`);
    if (sp.sessionAffinity === 'ClientIP') b.rule(names.chain, `update @${names.affinitySet} { ${ipX} saddr }`);
    b.rule(names.chain, `meta l4proto ${protocol} dnat to ${e.key}`);
  }
}

function tableFamilyOf(family: IPFamily): 'ip' | 'ip6' {
  return family === 'IPv6' ? 'ip6' : 'ip';
}

function chainDecl(prefix: string, name: string, def: ChainDef): string {
  const base = nftBaseChains.find((bc) => bc.name === name);
  if (base) return `add chain ${prefix} ${name} { type ${base.type} hook ${base.hook} priority ${base.priority} ; }`;
  if (def.comment) return `add chain ${prefix} ${name} { comment ${quote(def.comment)} ; }`;
  return `add chain ${prefix} ${name}`;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Renders the nftables table of one IP family; incremental when `previous` is given. */
export function renderNftables(snapshot: ProxySnapshot, opts: NftablesRenderOptions): NftablesRuleset {
  const tableFamily = tableFamilyOf(opts.family);
  const prefix = `${tableFamily} ${kubeProxyTable}`;
  const built = build(snapshot, opts);
  const lines: string[] = [];
  const tableDecl = `add table ${prefix} { comment ${quote('rules for kube-proxy')} ; }`;
  let staleChains: string[] = [];

  if (!opts.previous) {
    lines.push(tableDecl, `delete table ${prefix}`, tableDecl);
    for (const [name, def] of built.chains) lines.push(chainDecl(prefix, name, def));
    for (const [name, c] of built.containers) lines.push(`add ${c.kind} ${prefix} ${name} ${c.spec}`);
    for (const [name, def] of built.chains) for (const r of def.rules) lines.push(`add rule ${prefix} ${name} ${r}`);
    for (const [name, c] of built.containers) for (const e of c.elements.values()) lines.push(`add element ${prefix} ${name} { ${e} }`);
  } else {
    const prev = build(opts.previous, { ...opts, previous: undefined });
    const pending = new Set(opts.pendingStaleChains ?? []);

    // Sets and maps whose definition changed cannot be altered: they are deleted and
    // re-added, so every rule that names them has to be rewritten too.
    const newSets: string[] = [];
    const deletedSets: string[] = [];
    for (const [name, c] of built.containers) {
      const old = prev.containers.get(name);
      if (!old) newSets.push(name);
      else if (old.spec !== c.spec) {
        deletedSets.push(name);
        newSets.push(name);
      }
    }
    for (const name of prev.containers.keys()) if (!built.containers.has(name)) deletedSets.push(name);
    const recreated = new Set(deletedSets.filter((n) => built.containers.has(n)));
    const namesRecreatedSet = (rules: readonly string[]) =>
      rules.some((r) => [...recreated].some((set) => r.includes(`@${set} `) || r.endsWith(`@${set}`)));

    const changedChains: string[] = [];
    const newChains: string[] = [];
    for (const [name, def] of built.chains) {
      const old = prev.chains.get(name);
      if (!old) {
        newChains.push(name);
        changedChains.push(name);
        // A chain left stale earlier may still exist with no rules: refilling it is all it takes.
        pending.delete(name);
      } else if (!sameList(old.rules, def.rules) || namesRecreatedSet(old.rules)) {
        changedChains.push(name);
      }
    }
    const stale = [...prev.chains.keys()].filter((c) => !built.chains.has(c));
    for (const c of pending) if (!built.chains.has(c)) stale.push(c);
    staleChains = [...new Set(stale)].sort();

    lines.push(tableDecl);
    for (const name of newChains) lines.push(chainDecl(prefix, name, built.chains.get(name)!));
    // Flush before deleting sets: the rules that reference a stale affinity set live in these chains.
    for (const name of changedChains) if (!newChains.includes(name)) lines.push(`flush chain ${prefix} ${name}`);
    for (const name of staleChains) if (prev.chains.has(name)) lines.push(`flush chain ${prefix} ${name}`);
    for (const name of deletedSets) lines.push(`delete ${prev.containers.get(name)!.kind} ${prefix} ${name}`);
    for (const name of newSets) {
      const c = built.containers.get(name)!;
      lines.push(`add ${c.kind} ${prefix} ${name} ${c.spec}`);
    }
    for (const [name, c] of built.containers) {
      const old = prev.containers.get(name);
      const wasRecreated = recreated.has(name);
      if (old && !wasRecreated) {
        for (const [k, e] of old.elements) {
          const now = c.elements.get(k);
          if (now === undefined || now !== e) lines.push(`delete element ${prefix} ${name} { ${k} }`);
        }
      }
      for (const [k, e] of c.elements) {
        if (!old || wasRecreated || old.elements.get(k) !== e) lines.push(`add element ${prefix} ${name} { ${e} }`);
      }
    }
    for (const name of changedChains) for (const r of built.chains.get(name)!.rules) lines.push(`add rule ${prefix} ${name} ${r}`);
  }

  return {
    family: opts.family,
    tableFamily,
    script: lines.join('\n') + '\n',
    partial: !!opts.previous,
    staleChains,
    chains: [...built.chains.keys()],
  };
}

/**
 * The follow-up transaction that deletes chains an incremental sync left flushed. Chains
 * in use again in `current` are skipped; returns '' when nothing is left to delete.
 */
export function renderNftablesChainDeletion(family: IPFamily, staleChains: readonly string[], current: NftablesRuleset): string {
  const prefix = `${tableFamilyOf(family)} ${kubeProxyTable}`;
  const inUse = new Set(current.chains);
  const lines = [...new Set(staleChains)].filter((c) => !inUse.has(c)).sort().map((c) => `delete chain ${prefix} ${c}`);
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** The command that removes everything of ours for one family (proxy cleanup / mode switch). */
export function renderNftablesCleanup(family: IPFamily): string {
  const prefix = `${tableFamilyOf(family)} ${kubeProxyTable}`;
  return `add table ${prefix}\ndelete table ${prefix}\n`;
}
