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
//   With `state` (what the previous render remembered per service port) an incremental
//   render costs O(changed service ports), not O(all).

import { nftEndpointNames, nftServiceChains } from '../names.js';
import { familyServicePorts, servicePortEqual, type IPFamily, type ProxySnapshot, type ServicePortFamily, type ServicePortSnapshot, type SnapshotEndpoint } from '../snapshot.js';
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
export const hairpinSet = 'hairpin-endpoints';
export const masqueradingChain = 'masquerading';
/** Shared DNAT chains of the service ports whose endpoints live in the endpoint maps (see below). */
export const clusterIPDNATChain = 'cluster-ip-dnat';
export const externalIPDNATChain = 'external-ip-dnat';
export const nodePortDNATChain = 'nodeport-dnat';
/** service IP . protocol . port . index → endpoint IP . port. */
export const serviceEndpointsMap = 'service-endpoints';
/** protocol . NodePort . index → endpoint IP . port. */
export const nodePortEndpointsMap = 'nodeport-endpoints';
/**
 * Up to this many endpoints, a service port without session affinity and with Cluster
 * traffic policies needs no chain of its own: its endpoints are elements of the endpoint
 * maps (see `mapEndpoints`). Beyond it (each new connection looks up one key per endpoint
 * count up to its own), it gets a service chain with one rule per endpoint.
 */
export const nftMapEndpointsMax = 16;
/** Above this many map and set elements, a full sync writes them 1,000 per `add element`. */
export const nftElementBatchThreshold = 10_000;

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
  /**
   * The renderer's memory of the last render with these options (`NftablesRuleset.state`):
   * each service port's chains, sets and map elements. With it, an incremental render
   * costs O(changed service ports); without it (or when it does not describe `previous`)
   * it is rebuilt from `previous`. It is updated in place: after a failed apply, drop it.
   */
  state?: NftRenderState;
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
  /** Every chain of the resulting table (computed when read). */
  readonly chains: string[];
  /** Whether the resulting table has this chain (valid until the next render with `state`). */
  hasChain(name: string): boolean;
  /** Pass to the next render (`state`) to make it incremental in O(changed). */
  state: NftRenderState;
}

/**
 * How most service ports pick an endpoint, without a chain of their own ("map endpoints"):
 * a service port with no session affinity, Cluster traffic policies and n ≤
 * nftMapEndpointsMax endpoints writes only map elements. Its ClusterIP's element in
 * @service-ips goes to the shared chain `cluster-ip-dnat` (external IPs and LB IPs to
 * `external-ip-dnat`, its NodePort in @service-nodeports to `nodeport-dnat`), and its
 * endpoints are elements of @service-endpoints, keyed by service IP . protocol . port .
 * index with index = T(n) + i, T(n) = n(n-1)/2 (so the index ranges of different counts
 * never overlap). The shared chains hold one rule per endpoint count n = 1 …
 * nftMapEndpointsMax, `dnat ip to ip daddr . meta l4proto . th dport . numgen random mod n
 * offset T(n) map @service-endpoints`: a lookup that finds no element (another count) does
 * not match, so the packet tries the next rule. Why: in Linux 6.x every transaction that adds a rule
 * with a DNAT, mark, jump or other checked expression, or a map element that jumps to a
 * chain, makes the kernel re-validate the whole table graph at commit
 * (`nft_table_validate`: ~75 ms CPU at 10,000 services), and nft 1.0.6 lists every chain
 * before any `add rule` or `add element` (~30 ms at 12,500 chains). An endpoint added,
 * removed or becoming ready now changes only elements without verdicts: no rule, no
 * validation, and far fewer chains to list.
 *
 * Every other service port keeps kube-proxy's service chain:
 * one rule per endpoint, `numgen random mod (n-i)
 * == 0 … dnat to IP:PORT` (probability 1/(n-i), as iptables' `-m statistic`), the DNAT in
 * the rule itself rather than in a chain per endpoint. Measured at 10,000 services × 10
 * endpoints (nft 1.0.6, kernel 6.18): anonymous `numgen … vmap {}` sets are bound by
 * walking the whole pending transaction (minutes per full sync), and every `add rule`
 * makes nft dump all chains, which the kernel pages in time quadratic in their number
 * (110,000 endpoint chains: seconds per one-service change; 12,500 without them: ~0.1 s).
 * Hairpin (a pod reaching itself through its service) is masqueraded in postrouting:
 * `ct status dnat ip saddr . ip daddr @hairpin-endpoints`, one element `ip . ip` per endpoint.
 */

interface ChainDef {
  comment?: string;
  rules: string[];
}

interface SetDef {
  kind: 'set' | 'map';
  /** The `{ … }` specification. */
  spec: string;
}

interface ElementDef {
  container: string;
  key: string;
  /** `key[ comment "…"][ : value]`. */
  text: string;
}

/** What one service port (or the fixed part of the table) contributes: its own chains and sets, and map elements. */
interface Fragment {
  chains: Map<string, ChainDef>;
  sets: Map<string, SetDef>;
  /** container + '\0' + key → element (the last one written wins, at the place of the first). */
  elements: Map<string, ElementDef>;
}

function quote(s: string): string {
  return `"${s.replaceAll('"', '\\"')}"`;
}

class FragmentBuilder implements Fragment {
  readonly chains = new Map<string, ChainDef>();
  readonly sets = new Map<string, SetDef>();
  readonly elements = new Map<string, ElementDef>();
  chain(name: string, comment?: string): void {
    if (!this.chains.has(name)) this.chains.set(name, { ...(comment ? { comment } : {}), rules: [] });
  }
  rule(chain: string, rule: string, comment?: string): void {
    this.chain(chain);
    this.chains.get(chain)!.rules.push(comment ? `${rule} comment ${quote(comment)}` : rule);
  }
  set(kind: 'set' | 'map', name: string, spec: string): void {
    if (!this.sets.has(name)) this.sets.set(name, { kind, spec });
  }
  element(container: string, key: string, value?: string, comment?: string): void {
    const text = key + (comment ? ` comment ${quote(comment)}` : '') + (value !== undefined ? ` : ${value}` : '');
    this.elements.set(`${container}\0${key}`, { container, key, text });
  }
}

interface Ctx {
  ipX: string;
  addrType: string;
  ifLocal?: string;
  ifNotLocal?: string;
  masqueradeAll: boolean;
  nodeIP?: string;
}

function contextOf(snapshot: ProxySnapshot, opts: RenderOptions): { ctx: Ctx; key: string } {
  const family = opts.family;
  const ipX = family === 'IPv6' ? 'ip6' : 'ip';
  const podCIDR = localCIDR(opts);
  const ctx: Ctx = {
    ipX,
    addrType: family === 'IPv6' ? 'ipv6_addr' : 'ipv4_addr',
    ...(podCIDR ? { ifLocal: `${ipX} saddr ${podCIDR}`, ifNotLocal: `${ipX} saddr != ${podCIDR}` } : {}),
    masqueradeAll: opts.masqueradeAll ?? false,
    ...(nodeIPOf(snapshot, family) ? { nodeIP: nodeIPOf(snapshot, family) } : {}),
  };
  const key = JSON.stringify([family, opts.masqueradeAll ?? false, opts.masqueradeBit ?? defaultMasqueradeBit,
    opts.detectLocal ?? null, opts.nodePortAddresses ?? null, opts.serviceCIDRs ?? null, snapshot.nodeIPs]);
  return { ctx, key };
}

/** First index of the endpoints of a service port with n of them in the endpoint maps. */
const classOffset = (n: number) => (n * (n - 1)) / 2;

/** The table's fixed part: base chains, dispatch chains, the shared sets and maps. */
function fixedFragment(snapshot: ProxySnapshot, opts: RenderOptions, ctx: Ctx): Fragment {
  const family = opts.family;
  const { ipX, addrType } = ctx;
  const noLocalhost = family === 'IPv6' ? 'ip6 daddr != ::1' : 'ip daddr != 127.0.0.0/8';
  const mark = masqueradeMark(opts.masqueradeBit ?? defaultMasqueradeBit);
  const b = new FragmentBuilder();

  for (const bc of nftBaseChains) b.chain(bc.name);
  for (const j of jumpChains) {
    b.chain(j.dst);
    b.rule(j.src, [j.extra, 'jump', j.dst].filter(Boolean).join(' '));
  }
  for (const c of [servicesChain, clusterIPsCheckChain, masqueradingChain, markMasqChain, clusterIPDNATChain, externalIPDNATChain, nodePortDNATChain]) b.chain(c);

  b.rule(markMasqChain, `mark set mark or ${mark}`);
  b.set('set', hairpinSet,
    `{ type ${addrType} . ${addrType} ; comment ${quote('endpoint . endpoint: a connection DNATed to its own source is masqueraded')} ; }`);
  // Hairpin: a pod reaching itself through a service must be SNATed, or its reply bypasses conntrack.
  b.rule(masqueradingChain, `ct status dnat ${ipX} saddr . ${ipX} daddr @${hairpinSet} jump ${markMasqChain}`);
  b.rule(masqueradingChain, `mark and ${mark} == 0 return`);
  // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
  b.rule(masqueradingChain, `mark set mark xor ${mark}`);
  b.rule(masqueradingChain, 'masquerade fully-random');

  b.set('set', clusterIPsSet, `{ type ${addrType} ; comment ${quote('Active ClusterIPs')} ; }`);
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
    b.set('set', nodePortIPsSet, `{ type ${addrType} ; comment ${quote('IPs that accept NodePort traffic')} ; }`);
    for (const ip of np.ips) b.element(nodePortIPsSet, ip);
  }

  b.set('map', noEndpointServicesMap,
    `{ type ${addrType} . inet_proto . inet_service : verdict ; comment ${quote('vmap to drop or reject packets to services with no endpoints')} ; }`);
  b.set('map', noEndpointNodePortsMap,
    `{ type inet_proto . inet_service : verdict ; comment ${quote('vmap to drop or reject packets to service nodeports with no endpoints')} ; }`);
  b.chain(rejectChain, 'helper for @no-endpoint-services / @no-endpoint-nodeports');
  b.rule(rejectChain, 'reject');
  b.rule(serviceEndpointsCheckChain, `${ipX} daddr . meta l4proto . th dport vmap @${noEndpointServicesMap}`);
  b.rule(nodePortEndpointsCheckChain, np.matchAll
    ? `${noLocalhost} meta l4proto . th dport vmap @${noEndpointNodePortsMap}`
    : `${ipX} daddr @${nodePortIPsSet} meta l4proto . th dport vmap @${noEndpointNodePortsMap}`);

  b.set('map', firewallIPsMap,
    `{ type ${addrType} . inet_proto . inet_service : verdict ; comment ${quote('destinations that are subject to LoadBalancerSourceRanges')} ; }`);
  b.rule(firewallCheckChain, `${ipX} daddr . meta l4proto . th dport vmap @${firewallIPsMap}`);

  b.set('map', serviceIPsMap,
    `{ type ${addrType} . inet_proto . inet_service : verdict ; comment ${quote('ClusterIP, ExternalIP and LoadBalancer IP traffic')} ; }`);
  b.set('map', serviceNodePortsMap, `{ type inet_proto . inet_service : verdict ; comment ${quote('NodePort traffic')} ; }`);
  // The data type is written `ip daddr . th dport` (nft 1.0.6 adds a protocol match to
  // the first rule that reads a map declared with `tcp dport`); with it, nft refuses
  // rules that name the map in a later transaction (it re-reads the type from the
  // kernel as conflicting protocols), so the rules below never change after a full sync:
  // one per endpoint count, 1 … nftMapEndpointsMax, whether in use or not. Elements can
  // be added and deleted at any time.
  b.set('map', serviceEndpointsMap,
    `{ typeof ${ipX} daddr . meta l4proto . th dport . numgen random mod 1 : ${ipX} daddr . th dport ; comment ${quote('service IP . protocol . port . index: endpoint')} ; }`);
  b.set('map', nodePortEndpointsMap,
    `{ typeof meta l4proto . th dport . numgen random mod 1 : ${ipX} daddr . th dport ; comment ${quote('protocol . NodePort . index: endpoint')} ; }`);
  // The shared DNAT chains of map-endpoint service ports: masquerade as their service and
  // external chains would, then try each endpoint count: a key of another count is absent.
  if (ctx.masqueradeAll) b.rule(clusterIPDNATChain, `jump ${markMasqChain}`);
  else if (ctx.ifNotLocal) b.rule(clusterIPDNATChain, `${ctx.ifNotLocal} jump ${markMasqChain}`);
  b.rule(externalIPDNATChain, `jump ${markMasqChain}`);
  b.rule(nodePortDNATChain, `jump ${markMasqChain}`);
  for (let n = 1; n <= nftMapEndpointsMax; n++) {
    const pick = `numgen random mod ${n} offset ${classOffset(n)}`;
    b.rule(clusterIPDNATChain, `dnat ${ipX} to ${ipX} daddr . meta l4proto . th dport . ${pick} map @${serviceEndpointsMap}`);
    b.rule(externalIPDNATChain, `dnat ${ipX} to ${ipX} daddr . meta l4proto . th dport . ${pick} map @${serviceEndpointsMap}`);
    b.rule(nodePortDNATChain, `dnat ${ipX} to meta l4proto . th dport . ${pick} map @${nodePortEndpointsMap}`);
  }

  b.rule(servicesChain, `${ipX} daddr . meta l4proto . th dport vmap @${serviceIPsMap}`);
  b.rule(servicesChain, np.matchAll
    ? `fib daddr type local ${noLocalhost} meta l4proto . th dport vmap @${serviceNodePortsMap}`
    : `${ipX} daddr @${nodePortIPsSet} meta l4proto . th dport vmap @${serviceNodePortsMap}`);
  return b;
}

/** One service port's chains, affinity sets and map elements, for one family. */
function servicePortFragment(sp: ServicePortSnapshot, fam: ServicePortFamily, ctx: Ctx): Fragment {
  const b = new FragmentBuilder();
  const { ipX } = ctx;
  const protocol = sp.protocol.toLowerCase();
  const chains = nftServiceChains(sp.namespace, sp.service, protocol, sp.portName);
  const epNames = new Map<SnapshotEndpoint, ReturnType<typeof nftEndpointNames>>();
  const ep = (e: SnapshotEndpoint) => {
    let n = epNames.get(e);
    if (!n) {
      n = nftEndpointNames(sp.namespace, sp.service, protocol, sp.portName, e.ip, e.port);
      epNames.set(e, n);
    }
    return n;
  };

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

  // Map endpoints (see nftMapEndpointsMax): no chain of its own but the firewall one;
  // the shared DNAT chains do what its service and external chains would.
  const mapEndpoints = sp.sessionAffinity !== 'ClientIP' && !fam.internalPolicyLocal && !fam.externalPolicyLocal
    && fam.clusterEndpoints.length <= nftMapEndpointsMax && (fam.clusterEndpoints.length > 0 || !fam.hasEndpoints);
  const internalTarget = mapEndpoints ? clusterIPDNATChain : internalTrafficChain;
  const externalTarget = mapEndpoints ? externalIPDNATChain : chains.external;
  const nodePortTarget = mapEndpoints ? nodePortDNATChain : chains.external;
  const n = fam.clusterEndpoints.length;
  /** The service port's endpoints under one key prefix of an endpoint map (indexes T(n) … T(n)+n-1). */
  const mapEndpointsOf = (map: string, prefix: string) => {
    fam.clusterEndpoints.forEach((e, i) => b.element(map, `${prefix} . ${classOffset(n) + i}`, `${e.ip} . ${e.port}`));
  };

  if (usesExternalTrafficChain && !mapEndpoints) b.chain(chains.external);
  if (usesFWChain) b.chain(chains.firewall);
  if (usesClusterPolicyChain && !mapEndpoints) b.chain(chains.cluster);
  if (usesLocalPolicyChain && !mapEndpoints) b.chain(chains.local);
  for (const e of fam.reachableEndpoints) b.element(hairpinSet, `${e.ip} . ${e.ip}`);

  const key = (ip: string, port: number) => `${ip} . ${protocol} . ${port}`;
  b.element(clusterIPsSet, fam.clusterIP);
  if (fam.hasInternalEndpoints) {
    b.element(serviceIPsMap, key(fam.clusterIP, sp.port), `goto ${internalTarget}`);
    if (mapEndpoints) mapEndpointsOf(serviceEndpointsMap, key(fam.clusterIP, sp.port));
  } else {
    b.element(noEndpointServicesMap, key(fam.clusterIP, sp.port), internalVerdict, sp.name);
  }

  for (const ip of fam.externalIPs) {
    if (fam.hasEndpoints) b.element(serviceIPsMap, key(ip, sp.port), `goto ${externalTarget}`);
    if (mapEndpoints && fam.hasEndpoints && fam.hasExternalEndpoints) mapEndpointsOf(serviceEndpointsMap, key(ip, sp.port));
    // No endpoints at all (reject) or none for outside traffic (drop what EXT did not short-circuit).
    if (!fam.hasExternalEndpoints) b.element(noEndpointServicesMap, key(ip, sp.port), externalVerdict, sp.name);
  }
  for (const ip of fam.loadBalancerIPs) {
    if (fam.hasEndpoints) b.element(serviceIPsMap, key(ip, sp.port), `goto ${externalTarget}`);
    if (mapEndpoints && fam.hasEndpoints && fam.hasExternalEndpoints) mapEndpointsOf(serviceEndpointsMap, key(ip, sp.port));
    if (usesFWChain) b.element(firewallIPsMap, key(ip, sp.port), `goto ${chains.firewall}`);
  }
  if (!fam.hasExternalEndpoints) {
    for (const ip of fam.loadBalancerIPs) b.element(noEndpointServicesMap, key(ip, sp.port), externalVerdict, sp.name);
  }
  if (sp.nodePort !== 0) {
    // NodePorts are not subject to loadBalancerSourceRanges, for better or worse.
    if (fam.hasEndpoints) b.element(serviceNodePortsMap, `${protocol} . ${sp.nodePort}`, `goto ${nodePortTarget}`);
    if (mapEndpoints && fam.hasEndpoints && fam.hasExternalEndpoints) mapEndpointsOf(nodePortEndpointsMap, `${protocol} . ${sp.nodePort}`);
    if (!fam.hasExternalEndpoints) b.element(noEndpointNodePortsMap, `${protocol} . ${sp.nodePort}`, externalVerdict, sp.name);
  }

  if (usesFWChain) {
    const sources = [...fam.loadBalancerSourceRanges];
    // A VIP-style LB IP is often local to the node; the node's own requests then come from the VIP.
    if (ctx.nodeIP && fam.loadBalancerSourceRanges.some((c) => cidrHas(c, ctx.nodeIP!))) sources.push(...fam.loadBalancerIPs);
    b.rule(chains.firewall, `${ipX} saddr != { ${sources.join(', ')} } drop`);
  }
  if (mapEndpoints) return b;

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

  if (sp.sessionAffinity === 'ClientIP') {
    for (const e of fam.reachableEndpoints) {
      // Affinity is per client IP and ServicePort, whichever service IP was used (as in iptables mode).
      b.set('set', ep(e).affinitySet, `{ type ${ctx.addrType} ; flags dynamic,timeout ; timeout ${sp.stickyMaxAgeSeconds}s ; }`);
    }
  }

  const affinity = sp.sessionAffinity === 'ClientIP';
  // What choosing an endpoint does: remember the client (affinity), then DNAT.
  const toEndpoint = (e: SnapshotEndpoint) =>
    `${affinity ? `update @${ep(e).affinitySet} { ${ipX} saddr } ` : ''}meta l4proto ${protocol} dnat to ${e.key}`;
  const writeEndpointRules = (svcChain: string, endpoints: SnapshotEndpoint[]): void => {
    if (affinity) {
      for (const e of endpoints) b.rule(svcChain, `${ipX} saddr @${ep(e).affinitySet} ${toEndpoint(e)}`);
    }
    const n = endpoints.length;
    endpoints.forEach((e, i) => {
      b.rule(svcChain, i < n - 1 ? `numgen random mod ${n - i} == 0 ${toEndpoint(e)}` : toEndpoint(e));
    });
  };
  if (usesClusterPolicyChain) writeEndpointRules(chains.cluster, fam.clusterEndpoints);
  if (usesLocalPolicyChain) writeEndpointRules(chains.local, fam.localEndpoints);
  return b;
}

function tableFamilyOf(family: IPFamily): 'ip' | 'ip6' {
  return family === 'IPv6' ? 'ip6' : 'ip';
}

const baseChainByName = new Map(nftBaseChains.map((bc) => [bc.name, bc]));

function chainDecl(prefix: string, name: string, def: ChainDef): string {
  const base = baseChainByName.get(name);
  if (base) return `add chain ${prefix} ${name} { type ${base.type} hook ${base.hook} priority ${base.priority} ; }`;
  if (def.comment) return `add chain ${prefix} ${name} { comment ${quote(def.comment)} ; }`;
  return `add chain ${prefix} ${name}`;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------- renderer state

interface Claim {
  /** Service port id ('' for the fixed part). */
  id: string;
  /** Sort position of the service port: of two claims on one key, the later one wins (as a map set in order). */
  rank: string;
  text: string;
}

export interface NftRenderState {
  /** Options and node IPs the fragments were rendered with. */
  key: string;
  /** The snapshot this state describes. */
  snapshot: ProxySnapshot;
  fixed: Fragment;
  ports: Map<string, { sp: ServicePortSnapshot; frag: Fragment }>;
  /** container → key → the service ports that write this element. */
  claims: Map<string, Map<string, Claim[]>>;
  /** Every chain of the table. */
  allChains: Set<string>;
}

const rankOf = (sp: ServicePortSnapshot) => `${sp.name}\0${sp.protocol}`;

function effective(claims: Claim[] | undefined): string | undefined {
  if (!claims || claims.length === 0) return undefined;
  let best = claims[0]!;
  for (const c of claims) if (c.rank >= best.rank) best = c;
  return best.text;
}

function addClaims(st: NftRenderState, id: string, rank: string, frag: Fragment): void {
  for (const e of frag.elements.values()) {
    let byKey = st.claims.get(e.container);
    if (!byKey) st.claims.set(e.container, byKey = new Map());
    const list = byKey.get(e.key);
    if (list) list.push({ id, rank, text: e.text });
    else byKey.set(e.key, [{ id, rank, text: e.text }]);
  }
}

function removeClaims(st: NftRenderState, id: string, frag: Fragment): void {
  for (const e of frag.elements.values()) {
    const byKey = st.claims.get(e.container);
    const list = byKey?.get(e.key);
    if (!list) continue;
    const i = list.findIndex((c) => c.id === id);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) byKey!.delete(e.key);
  }
}

/**
 * Renders every fragment of `snapshot` (reusing those of `cache` whose service port is
 * unchanged) into a fresh state.
 */
function buildState(snapshot: ProxySnapshot, opts: RenderOptions, cache?: NftRenderState): NftRenderState {
  const { ctx, key } = contextOf(snapshot, opts);
  const reuse = cache && cache.key === key ? cache.ports : undefined;
  const st: NftRenderState = {
    key, snapshot, fixed: fixedFragment(snapshot, opts, ctx), ports: new Map(), claims: new Map(), allChains: new Set(),
  };
  addClaims(st, '', '', st.fixed);
  for (const c of st.fixed.chains.keys()) st.allChains.add(c);
  for (const { sp, fam } of familyServicePorts(snapshot, opts.family)) {
    const old = reuse?.get(sp.id);
    const frag = old && (old.sp === sp || servicePortEqual(old.sp, sp)) ? old.frag : servicePortFragment(sp, fam, ctx);
    st.ports.set(sp.id, { sp, frag });
    addClaims(st, sp.id, rankOf(sp), frag);
    for (const c of frag.chains.keys()) st.allChains.add(c);
  }
  return st;
}

function allChainsInOrder(st: NftRenderState): string[] {
  const out = [...st.fixed.chains.keys()];
  for (const { frag } of st.ports.values()) for (const c of frag.chains.keys()) out.push(c);
  return out;
}

/** Renders the nftables table of one IP family; incremental when `previous` is given. */
export function renderNftables(snapshot: ProxySnapshot, opts: NftablesRenderOptions): NftablesRuleset {
  const tableFamily = tableFamilyOf(opts.family);
  const prefix = `${tableFamily} ${kubeProxyTable}`;
  const lines: string[] = [];
  const tableDecl = `add table ${prefix} { comment ${quote('rules for kube-proxy')} ; }`;
  let staleChains: string[] = [];
  let st: NftRenderState;

  if (!opts.previous) {
    st = buildState(snapshot, opts, opts.state);
    const frags = [st.fixed, ...[...st.ports.values()].map((p) => p.frag)];
    lines.push(tableDecl, `delete table ${prefix}`, tableDecl);
    for (const f of frags) for (const [name, def] of f.chains) lines.push(chainDecl(prefix, name, def));
    for (const f of frags) for (const [name, s] of f.sets) lines.push(`add ${s.kind} ${prefix} ${name} ${s.spec}`);
    for (const f of frags) for (const [name, def] of f.chains) for (const r of def.rules) lines.push(`add rule ${prefix} ${name} ${r}`);
    // Elements grouped by map, each in the order first written, with the last value written.
    const byContainer = new Map<string, Map<string, string>>();
    for (const name of st.fixed.sets.keys()) byContainer.set(name, new Map());
    for (const f of frags) {
      for (const e of f.elements.values()) {
        let m = byContainer.get(e.container);
        if (!m) byContainer.set(e.container, m = new Map());
        m.set(e.key, e.text);
      }
    }
    // One element per line reads best; a large table's elements go 1,000 per command
    // (nft parses and sends them ~30 % faster at 10,000 services).
    let total = 0;
    for (const m of byContainer.values()) total += m.size;
    const batch = total > nftElementBatchThreshold ? 1000 : 1;
    for (const [name, m] of byContainer) {
      const texts = [...m.values()];
      for (let i = 0; i < texts.length; i += batch) lines.push(`add element ${prefix} ${name} { ${texts.slice(i, i + batch).join(', ')} }`);
    }
  } else {
    st = opts.state && opts.state.snapshot === opts.previous ? opts.state : buildState(opts.previous, opts, opts.state);
    const { ctx, key } = contextOf(snapshot, opts);
    const fixedNow = fixedFragment(snapshot, opts, ctx);
    // The rules naming the endpoint maps are written by full syncs only (see fixedFragment);
    // an option that changes them (e.g. --masquerade-all) takes a full sync.
    const sharedChanged = [clusterIPDNATChain, externalIPDNATChain, nodePortDNATChain]
      .some((c) => !sameList(st.fixed.chains.get(c)?.rules ?? [], fixedNow.chains.get(c)?.rules ?? []))
      || [serviceEndpointsMap, nodePortEndpointsMap].some((m) => st.fixed.sets.get(m)?.spec !== fixedNow.sets.get(m)?.spec);
    if (sharedChanged) {
      const { previous: _previous, pendingStaleChains: _pending, ...full } = opts;
      return renderNftables(snapshot, { ...full, state: st });
    }
    const everything = key !== st.key;
    const pending = new Set(opts.pendingStaleChains ?? []);

    // The service ports that changed: [id, old fragment, new fragment].
    const changes: { id: string; rank: string; sp?: ServicePortSnapshot; old?: Fragment; now?: Fragment }[] = [];
    changes.push({ id: '', rank: '', old: st.fixed, now: fixedNow });
    let kept = 0;
    // One pass over the snapshot without allocating per service port: at 10,000 service
    // ports the unchanged ones (same object, kept by the sync loop's SnapshotCache) cost a lookup.
    const family = opts.family;
    const current = () => familyServicePorts(snapshot, family);
    for (const sp of snapshot.servicePorts) {
      const e = st.ports.get(sp.id);
      if (e && e.sp === sp && !everything) {
        kept++;
        continue;
      }
      const fam = sp.families.find((f) => f.family === family);
      if (!fam) continue;
      if (!e) {
        changes.push({ id: sp.id, rank: rankOf(sp), sp, now: servicePortFragment(sp, fam, ctx) });
        continue;
      }
      kept++;
      if (!everything && (e.sp === sp || servicePortEqual(e.sp, sp))) {
        e.sp = sp;
        continue;
      }
      const now = servicePortFragment(sp, fam, ctx);
      changes.push({ id: sp.id, rank: rankOf(sp), sp, old: e.frag, now });
    }
    if (kept !== st.ports.size) {
      const ids = new Set(current().map((c) => c.sp.id));
      for (const [id, e] of st.ports) if (!ids.has(id)) changes.push({ id, rank: rankOf(e.sp), old: e.frag });
    }

    const newChains: [string, ChainDef][] = [];
    const changedChains: [string, ChainDef][] = [];
    /** New and changed chains, in the order of their service port's chains: they are (re)filled. */
    const filled: [string, ChainDef][] = [];
    const stale: string[] = [];
    const deletedSets: [string, SetDef][] = [];
    const addedSets: [string, SetDef][] = [];
    const touched = new Map<string, Map<string, string | undefined>>();
    const touch = (container: string, k: string) => {
      let m = touched.get(container);
      if (!m) touched.set(container, m = new Map());
      if (!m.has(k)) m.set(k, effective(st.claims.get(container)?.get(k)));
    };
    for (const c of changes) {
      const oldChains = c.old?.chains ?? new Map<string, ChainDef>();
      const nowChains = c.now?.chains ?? new Map<string, ChainDef>();
      const oldSets = c.old?.sets ?? new Map<string, SetDef>();
      const nowSets = c.now?.sets ?? new Map<string, SetDef>();
      // Sets and maps whose definition changed cannot be altered: they are deleted and
      // re-added, so every rule that names them has to be rewritten too.
      const recreated: string[] = [];
      for (const [name, s] of oldSets) {
        const n = nowSets.get(name);
        if (!n) deletedSets.push([name, s]);
        else if (n.spec !== s.spec || n.kind !== s.kind) {
          recreated.push(name);
          deletedSets.push([name, s]);
          addedSets.push([name, n]);
        }
      }
      for (const [name, s] of nowSets) if (!oldSets.has(name)) addedSets.push([name, s]);
      const namesRecreated = (rules: readonly string[]) =>
        recreated.length > 0 && rules.some((r) => recreated.some((set) => r.includes(`@${set} `) || r.endsWith(`@${set}`)));
      for (const [name, def] of nowChains) {
        const old = oldChains.get(name);
        if (!old) {
          newChains.push([name, def]);
          filled.push([name, def]);
          // A chain left stale earlier may still exist with no rules: refilling it is all it takes.
          pending.delete(name);
        } else if (!sameList(old.rules, def.rules) || namesRecreated(old.rules)) {
          changedChains.push([name, def]);
          filled.push([name, def]);
        }
      }
      for (const name of oldChains.keys()) if (!nowChains.has(name)) stale.push(name);

      for (const e of c.old?.elements.values() ?? []) touch(e.container, e.key);
      for (const e of c.now?.elements.values() ?? []) touch(e.container, e.key);
      if (c.old) removeClaims(st, c.id, c.old);
      if (c.now) addClaims(st, c.id, c.rank, c.now);
      for (const name of oldChains.keys()) st.allChains.delete(name);
      for (const name of nowChains.keys()) st.allChains.add(name);
      if (c.id === '') st.fixed = c.now!;
      else if (c.now) st.ports.set(c.id, { sp: c.sp!, frag: c.now });
      else st.ports.delete(c.id);
    }
    if (changes.some((c) => c.now && !c.old && c.id !== '')) {
      // Keep the service ports in snapshot order (the order of `chains` and of a later full render).
      const ordered = new Map<string, { sp: ServicePortSnapshot; frag: Fragment }>();
      for (const { sp } of current()) ordered.set(sp.id, st.ports.get(sp.id)!);
      st.ports = ordered;
    }
    const staleNow = new Set(stale);
    for (const ch of pending) if (!st.allChains.has(ch)) stale.push(ch);
    staleChains = [...new Set(stale)].sort();

    // The table exists (with its comment, from the full sync): a bare `add table` keeps the
    // transaction valid without making nft list every chain and set of it first.
    lines.push(`add table ${prefix}`);
    for (const [name, def] of newChains) lines.push(chainDecl(prefix, name, def));
    // Flush before deleting sets: the rules that reference a stale affinity set live in these chains.
    for (const [name] of changedChains) lines.push(`flush chain ${prefix} ${name}`);
    for (const name of staleChains) if (staleNow.has(name)) lines.push(`flush chain ${prefix} ${name}`);
    for (const [name, s] of deletedSets) lines.push(`delete ${s.kind} ${prefix} ${name}`);
    for (const [name, s] of addedSets) lines.push(`add ${s.kind} ${prefix} ${name} ${s.spec}`);
    const containerOrder = [...st.fixed.sets.keys()];
    for (const c of touched.keys()) if (!st.fixed.sets.has(c)) containerOrder.push(c);
    for (const name of containerOrder) {
      const keys = touched.get(name);
      if (!keys) continue;
      const after = new Map<string, string | undefined>();
      for (const k of keys.keys()) after.set(k, effective(st.claims.get(name)?.get(k)));
      for (const [k, before] of keys) if (before !== undefined && before !== after.get(k)) lines.push(`delete element ${prefix} ${name} { ${k} }`);
      for (const [k, before] of keys) {
        const now = after.get(k);
        if (now !== undefined && now !== before) lines.push(`add element ${prefix} ${name} { ${now} }`);
      }
    }
    for (const [name, def] of filled) for (const r of def.rules) lines.push(`add rule ${prefix} ${name} ${r}`);
    st.key = key;
    st.snapshot = snapshot;
  }

  const state = st;
  let chainList: string[] | undefined;
  return {
    family: opts.family,
    tableFamily,
    script: lines.join('\n') + '\n',
    partial: !!opts.previous,
    staleChains,
    get chains() { return chainList ??= allChainsInOrder(state); },
    hasChain: (name: string) => state.allChains.has(name),
    state,
  };
}

/**
 * The follow-up transaction that deletes chains an incremental sync left flushed. Chains
 * in use again in `current` are skipped; returns '' when nothing is left to delete.
 */
export function renderNftablesChainDeletion(family: IPFamily, staleChains: readonly string[], current: NftablesRuleset): string {
  const prefix = `${tableFamilyOf(family)} ${kubeProxyTable}`;
  const lines = [...new Set(staleChains)].filter((c) => !current.hasChain(c)).sort().map((c) => `delete chain ${prefix} ${c}`);
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** The command that removes everything of ours for one family (proxy cleanup / mode switch). */
export function renderNftablesCleanup(family: IPFamily): string {
  const prefix = `${tableFamilyOf(family)} ${kubeProxyTable}`;
  return `add table ${prefix}\ndelete table ${prefix}\n`;
}
