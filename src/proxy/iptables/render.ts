// Snapshot → iptables-restore input, laid out the way kube-proxy's iptables mode lays
// it out (pkg/proxy/iptables/proxier.go syncProxyRules), for one IP family.
//
// The output has two parts:
// - `restore`: the filter and nat tables' KUBE-* chains, meant for
//   `iptables-restore --noflush` (`ip6tables-restore` for IPv6). Every chain it names is
//   flushed and refilled, so applying it twice gives the same kernel state; chains it
//   does not name (other software's, or unchanged service chains in a partial sync) are
//   left alone. It is one atomic transaction per table.
// - `jumps`: the rules in the built-in chains (PREROUTING, OUTPUT, …) that lead into
//   KUBE-*. iptables-restore cannot "ensure" a rule in a chain it does not own (with
//   --noflush it would append a duplicate each sync, without it would wipe the chain),
//   so the applier lists each built-in chain (`iptables -S CHAIN`) and inserts the
//   missing ones at the top (`-I CHAIN 1`, in reverse order so the listed order holds)
//   within the sync's own restore.
// - Partial (with `previous`, and the `state` of the last render): only the service
//   chains whose rules changed, and only the top-level chains (KUBE-SERVICES, …) whose
//   rules changed; a table with nothing to write is left out. Above 1,000 endpoints
//   the per-endpoint rules carry no comment (kube-proxy's largeClusterMode), and service
//   chains go to their endpoint chains with -g (see servicePortFragment).

import { iptablesEndpointChain, iptablesServiceChains, isIptablesServiceChain } from '../names.js';
import { familyServicePorts, servicePortEqual, type IPFamily, type ProxySnapshot, type ServicePortFamily, type ServicePortSnapshot, type SnapshotEndpoint } from '../snapshot.js';
import {
  cidrHas, defaultMasqueradeBit, localCIDR, masqueradeMark, nodeIPOf, nodePortAddressing, type RenderOptions,
} from '../render-options.js';

export const kubeServicesChain = 'KUBE-SERVICES';
export const kubeExternalServicesChain = 'KUBE-EXTERNAL-SERVICES';
export const kubeNodePortsChain = 'KUBE-NODEPORTS';
export const kubePostroutingChain = 'KUBE-POSTROUTING';
export const kubeMarkMasqChain = 'KUBE-MARK-MASQ';
export const kubeForwardChain = 'KUBE-FORWARD';
export const kubeProxyFirewallChain = 'KUBE-PROXY-FIREWALL';
export const kubeletFirewallChain = 'KUBE-FIREWALL';

export type IptablesTable = 'filter' | 'nat';

export interface IptablesRenderOptions extends RenderOptions {
  /**
   * --iptables-localhost-nodeports: NodePorts answer on 127.0.0.1 (needs route_localnet=1,
   * which svcnet does not set by default). Off: localhost is excluded from NodePorts.
   */
  localhostNodePorts?: boolean;
  /** MASQUERADE --random-fully (iptables ≥ 1.6.2). Default true. */
  randomFully?: boolean;
  /** net.netfilter.nf_conntrack_tcp_be_liberal is set: no INVALID-drop rule. */
  conntrackTCPLiberal?: boolean;
  /**
   * The snapshot last applied successfully with these same options. When given, only
   * the service chains whose rules changed are written (a partial sync); the top-level
   * chains are always rewritten.
   */
  previous?: ProxySnapshot;
  /**
   * Chains present in the kernel's nat table (from iptables-save). Service chains among
   * them that are no longer used are flushed and deleted.
   */
  existingNatChains?: string[];
  /**
   * The `state` of the last render with these options: a partial render then costs
   * O(changed service ports). Without it (or when it does not describe `previous`) it is
   * rebuilt from `previous`. Updated in place: after a failed apply, drop it.
   */
  state?: IptablesRenderState;
}

/** A rule in a built-in chain jumping into one of ours. */
export interface IptablesJump {
  table: IptablesTable;
  /** The built-in chain, e.g. PREROUTING. */
  chain: string;
  /** Rule arguments after `-A CHAIN`, as argv (no shell quoting). */
  args: string[];
  /** The same rule in iptables-save syntax, e.g. `-A PREROUTING -m comment --comment "…" -j KUBE-SERVICES`. */
  line: string;
}

export interface IptablesRuleset {
  family: IPFamily;
  /** iptables-restore input for `--noflush`. */
  restore: string;
  /** Built-in chain jumps, in the order they must end up in each chain. */
  jumps: IptablesJump[];
  /** The jumps as an iptables-save fragment (for reading and for the tracer). */
  jumpsText: string;
  /** Every chain this ruleset defines, per table (also those skipped by a partial sync; computed when read). */
  readonly chains: Record<IptablesTable, string[]>;
  /** Chains deleted by this restore. */
  deletedChains: string[];
  partial: boolean;
  /** Pass to the next render (`state`). */
  state: IptablesRenderState;
}

/** Quotes an argument for iptables-restore when it holds a space (kube-proxy writes comments this way). */
function q(s: string): string {
  return /[\s"]/.test(s) ? `"${s.replaceAll('"', '\\"')}"` : s;
}

function line(chain: string, args: (string | number)[]): string {
  // A plain concatenation: ~330,000 rules at 10,000 services, two arrays fewer each.
  let out = `-A ${chain}`;
  for (const a of args) out += ` ${a}`;
  return out;
}

/**
 * kube-proxy's largeClusterEndpointsThreshold: above this many endpoints, the rules of
 * the KUBE-SVC/SVL and KUBE-SEP chains carry no `-m comment` (40 % less to restore).
 */
export const largeClusterEndpointsThreshold = 1000;

function jumpList(localhostNodePorts: boolean, family: IPFamily): Omit<IptablesJump, 'line'>[] {
  const svcPortals = ['-m', 'comment', '--comment', 'kubernetes service portals'];
  const extPortals = ['-m', 'comment', '--comment', 'kubernetes externally-visible service portals'];
  const lbFirewall = ['-m', 'comment', '--comment', 'kubernetes load balancer firewall'];
  const ctNew = ['-m', 'conntrack', '--ctstate', 'NEW'];
  const kubelet = localhostNodePorts && family === 'IPv4';
  // The order each built-in chain ends up in after kube-proxy's EnsureRule(Prepend) calls.
  return [
    ...(kubelet ? [{ table: 'filter' as const, chain: 'INPUT', args: ['-j', kubeletFirewallChain] }] : []),
    { table: 'filter', chain: 'INPUT', args: [...ctNew, ...lbFirewall, '-j', kubeProxyFirewallChain] },
    { table: 'filter', chain: 'INPUT', args: ['-m', 'comment', '--comment', 'kubernetes health check service ports', '-j', kubeNodePortsChain] },
    { table: 'filter', chain: 'INPUT', args: [...ctNew, ...extPortals, '-j', kubeExternalServicesChain] },
    { table: 'filter', chain: 'FORWARD', args: [...ctNew, ...lbFirewall, '-j', kubeProxyFirewallChain] },
    { table: 'filter', chain: 'FORWARD', args: ['-m', 'comment', '--comment', 'kubernetes forwarding rules', '-j', kubeForwardChain] },
    { table: 'filter', chain: 'FORWARD', args: [...ctNew, ...svcPortals, '-j', kubeServicesChain] },
    { table: 'filter', chain: 'FORWARD', args: [...ctNew, ...extPortals, '-j', kubeExternalServicesChain] },
    ...(kubelet ? [{ table: 'filter' as const, chain: 'OUTPUT', args: ['-j', kubeletFirewallChain] }] : []),
    { table: 'filter', chain: 'OUTPUT', args: [...ctNew, ...lbFirewall, '-j', kubeProxyFirewallChain] },
    { table: 'filter', chain: 'OUTPUT', args: [...ctNew, ...svcPortals, '-j', kubeServicesChain] },
    { table: 'nat', chain: 'PREROUTING', args: [...svcPortals, '-j', kubeServicesChain] },
    { table: 'nat', chain: 'OUTPUT', args: [...svcPortals, '-j', kubeServicesChain] },
    { table: 'nat', chain: 'POSTROUTING', args: ['-m', 'comment', '--comment', 'kubernetes postrouting rules', '-j', kubePostroutingChain] },
  ];
}

const probabilities: string[] = [];
function probability(n: number): string {
  // kube-proxy: fmt.Sprintf("%0.10f", 1.0/float64(n)).
  return (probabilities[n] ??= (1 / n).toFixed(10));
}

/** The top-level chains service ports add rules to, as `table chain`. */
const topChains = [
  ['filter', kubeServicesChain], ['filter', kubeExternalServicesChain], ['filter', kubeForwardChain],
  ['filter', kubeNodePortsChain], ['filter', kubeProxyFirewallChain], ['filter', kubeletFirewallChain],
  ['nat', kubeServicesChain], ['nat', kubeNodePortsChain], ['nat', kubePostroutingChain], ['nat', kubeMarkMasqChain],
] as const;

/** One service port's share of the ruleset: its own nat chains, and rules in the top-level chains. */
interface Fragment {
  /** nat chains of this service port, in declaration order, with their rules. */
  chains: Map<string, string[]>;
  /** `table chain` → rules this service port adds there. */
  top: Map<string, string[]>;
}

/** The rules that do not belong to any service port. */
interface Fixed {
  /** Declaration order per table. */
  declared: Record<IptablesTable, string[]>;
  /** `table chain` → rules before / after the service ports' ones. */
  before: Map<string, string[]>;
  after: Map<string, string[]>;
}

interface Ctx {
  mark: string;
  ifLocal?: string[];
  ifNotLocal?: string[];
  masqueradeAll: boolean;
  nodeIP?: string;
  /** kube-proxy's largeClusterMode: no comments on per-endpoint rules. */
  large: boolean;
}

class FragmentBuilder implements Fragment {
  readonly chains = new Map<string, string[]>();
  readonly top = new Map<string, string[]>();
  declare(chain: string): void {
    if (!this.chains.has(chain)) this.chains.set(chain, []);
  }
  nat(chain: string, ...args: (string | number)[]): void {
    this.declare(chain);
    this.chains.get(chain)!.push(line(chain, args));
  }
  topRule(table: IptablesTable, chain: string, ...args: (string | number)[]): void {
    const k = `${table} ${chain}`;
    let l = this.top.get(k);
    if (!l) this.top.set(k, l = []);
    l.push(line(chain, args));
  }
}

function totalEndpoints(snapshot: ProxySnapshot, family: IPFamily): number {
  let n = 0;
  for (const sp of snapshot.servicePorts) for (const f of sp.families) if (f.family === family) n += f.endpoints.length;
  return n;
}

function contextOf(snapshot: ProxySnapshot, opts: IptablesRenderOptions): { ctx: Ctx; key: string } {
  const podCIDR = localCIDR(opts);
  const large = totalEndpoints(snapshot, opts.family) > largeClusterEndpointsThreshold;
  const ctx: Ctx = {
    mark: masqueradeMark(opts.masqueradeBit ?? defaultMasqueradeBit),
    ...(podCIDR ? { ifLocal: ['-s', podCIDR], ifNotLocal: ['!', '-s', podCIDR] } : {}),
    masqueradeAll: opts.masqueradeAll ?? false,
    ...(nodeIPOf(snapshot, opts.family) ? { nodeIP: nodeIPOf(snapshot, opts.family) } : {}),
    large,
  };
  const key = JSON.stringify([opts.family, opts.masqueradeAll ?? false, opts.masqueradeBit ?? defaultMasqueradeBit, opts.detectLocal ?? null,
    opts.nodePortAddresses ?? null, opts.localhostNodePorts ?? false, opts.randomFully ?? true, opts.conntrackTCPLiberal ?? false,
    snapshot.nodeIPs, large]);
  return { ctx, key };
}

function fixedPart(snapshot: ProxySnapshot, opts: IptablesRenderOptions, ctx: Ctx): Fixed {
  const family = opts.family;
  const mark = ctx.mark;
  const localhostNodePorts = (opts.localhostNodePorts ?? false) && family === 'IPv4';
  const fixed: Fixed = {
    declared: {
      filter: [kubeServicesChain, kubeExternalServicesChain, kubeForwardChain, kubeNodePortsChain, kubeProxyFirewallChain],
      nat: [kubeServicesChain, kubeNodePortsChain, kubePostroutingChain, kubeMarkMasqChain],
    },
    before: new Map(),
    after: new Map(),
  };
  const add = (where: Map<string, string[]>, table: IptablesTable, chain: string, ...args: (string | number)[]) => {
    const k = `${table} ${chain}`;
    let l = where.get(k);
    if (!l) where.set(k, l = []);
    l.push(line(chain, args));
  };

  add(fixed.before, 'nat', kubePostroutingChain, '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN');
  // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
  add(fixed.before, 'nat', kubePostroutingChain, '-j', 'MARK', '--xor-mark', mark);
  add(fixed.before, 'nat', kubePostroutingChain, '-m', 'comment', '--comment', q('kubernetes service traffic requiring SNAT'), '-j', 'MASQUERADE',
    ...((opts.randomFully ?? true) ? ['--random-fully'] : []));
  add(fixed.before, 'nat', kubeMarkMasqChain, '-j', 'MARK', '--or-mark', mark);

  if (localhostNodePorts) {
    // route_localnet opens 127.0.0.0/8 to the outside (https://issues.k8s.io/90259); kubelet's rule closes it.
    fixed.declared.filter.push(kubeletFirewallChain);
    add(fixed.before, 'filter', kubeletFirewallChain, '-m', 'comment', '--comment', q('block incoming localnet connections'),
      '-d', '127.0.0.0/8', '!', '-s', '127.0.0.0/8', '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'DROP');
  }

  // The NodePort dispatch must stay the last rule of KUBE-SERVICES: ClusterIP, external
  // and LB rules match on a destination first.
  const np = nodePortAddressing(opts, snapshot);
  const npComment = q('kubernetes service nodeports; NOTE: this must be the last rule in this chain');
  if (np.matchAll) {
    const dest = ['-m', 'addrtype', '--dst-type', 'LOCAL'];
    if (family === 'IPv6') dest.push('!', '-d', '::1/128');
    else if (!localhostNodePorts) dest.push('!', '-d', '127.0.0.0/8');
    add(fixed.after, 'nat', kubeServicesChain, '-m', 'comment', '--comment', npComment, ...dest, '-j', kubeNodePortsChain);
  } else {
    for (const ip of np.ips) add(fixed.after, 'nat', kubeServicesChain, '-m', 'comment', '--comment', npComment, '-d', ip, '-j', kubeNodePortsChain);
  }

  if (!opts.conntrackTCPLiberal) {
    // Out-of-window packets would otherwise reach the pod un-NATed and reset the connection (issue 74839).
    add(fixed.after, 'filter', kubeForwardChain, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP');
  }
  add(fixed.after, 'filter', kubeForwardChain, '-m', 'comment', '--comment', q('kubernetes forwarding rules'), '-m', 'mark', '--mark', `${mark}/${mark}`, '-j', 'ACCEPT');
  add(fixed.after, 'filter', kubeForwardChain, '-m', 'comment', '--comment', q('kubernetes forwarding conntrack rule'), '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');
  return fixed;
}

function servicePortFragment(sp: ServicePortSnapshot, fam: ServicePortFamily, ctx: Ctx): Fragment {
  const b = new FragmentBuilder();
  const protocol = sp.protocol.toLowerCase();
  const name = sp.name;
  const chains = iptablesServiceChains(name, protocol);
  const proto = ['-m', protocol, '-p', protocol];
  const epChains = new Map<SnapshotEndpoint, string>();
  const epChain = (ep: SnapshotEndpoint): string => {
    let c = epChains.get(ep);
    if (c === undefined) epChains.set(ep, c = iptablesEndpointChain(name, protocol, ep.key));
    return c;
  };
  // kube-proxy's appendServiceCommentLocked: per-endpoint rules lose their comment in large clusters.
  const comment = (text: string): string[] => (ctx.large ? [] : ['-m', 'comment', '--comment', q(text)]);

  const usesClusterPolicyChain = fam.clusterEndpoints.length > 0 && fam.usesClusterEndpoints;
  const usesLocalPolicyChain = fam.localEndpoints.length > 0 && fam.usesLocalEndpoints;
  const internalTrafficChain = fam.internalPolicyLocal ? chains.local : chains.cluster;
  const externalPolicyChain = fam.externalPolicyLocal ? chains.local : chains.cluster;
  const usesExternalTrafficChain = fam.hasEndpoints && fam.externallyAccessible;
  const usesFWChain = fam.hasEndpoints && fam.loadBalancerIPs.length > 0 && fam.loadBalancerSourceRanges.length > 0;
  const loadBalancerTrafficChain = usesFWChain ? chains.firewall : chains.external;

  let internalFilterTarget = '';
  let internalFilterComment = '';
  let externalFilterTarget = '';
  let externalFilterComment = '';
  if (!fam.hasEndpoints) {
    // No endpoints anywhere: nothing in nat, REJECT in filter so clients fail fast.
    internalFilterTarget = externalFilterTarget = 'REJECT';
    internalFilterComment = externalFilterComment = q(`${name} has no endpoints`);
  } else {
    if (!fam.hasInternalEndpoints) {
      internalFilterTarget = 'DROP';
      internalFilterComment = q(`${name} has no local endpoints`);
    }
    if (!fam.hasExternalEndpoints) {
      externalFilterTarget = 'DROP';
      externalFilterComment = q(`${name} has no local endpoints`);
    }
  }

  // Capture the clusterIP.
  if (fam.hasInternalEndpoints) {
    b.topRule('nat', kubeServicesChain, '-m', 'comment', '--comment', q(`${name} cluster IP`), ...proto,
      '-d', fam.clusterIP, '--dport', sp.port, '-j', internalTrafficChain);
  } else {
    b.topRule('filter', kubeServicesChain, '-m', 'comment', '--comment', internalFilterComment, ...proto,
      '-d', fam.clusterIP, '--dport', sp.port, '-j', internalFilterTarget);
  }

  for (const ip of fam.externalIPs) {
    if (fam.hasEndpoints) {
      b.topRule('nat', kubeServicesChain, '-m', 'comment', '--comment', q(`${name} external IP`), ...proto,
        '-d', ip, '--dport', sp.port, '-j', chains.external);
    }
    if (!fam.hasExternalEndpoints) {
      // No endpoints at all (REJECT) or none for external traffic (DROP what the EXT chain did not short-circuit).
      b.topRule('filter', kubeExternalServicesChain, '-m', 'comment', '--comment', externalFilterComment, ...proto,
        '-d', ip, '--dport', sp.port, '-j', externalFilterTarget);
    }
  }

  for (const ip of fam.loadBalancerIPs) {
    if (fam.hasEndpoints) {
      b.topRule('nat', kubeServicesChain, '-m', 'comment', '--comment', q(`${name} loadbalancer IP`), ...proto,
        '-d', ip, '--dport', sp.port, '-j', loadBalancerTrafficChain);
    }
    if (usesFWChain) {
      b.topRule('filter', kubeProxyFirewallChain, '-m', 'comment', '--comment', q(`${name} traffic not accepted by ${chains.firewall}`), ...proto,
        '-d', ip, '--dport', sp.port, '-j', 'DROP');
    }
  }
  if (!fam.hasExternalEndpoints) {
    for (const ip of fam.loadBalancerIPs) {
      b.topRule('filter', kubeExternalServicesChain, '-m', 'comment', '--comment', externalFilterComment, ...proto,
        '-d', ip, '--dport', sp.port, '-j', externalFilterTarget);
    }
  }

  if (sp.nodePort !== 0) {
    if (fam.hasEndpoints) {
      // NodePorts are not subject to loadBalancerSourceRanges, for better or worse.
      b.topRule('nat', kubeNodePortsChain, '-m', 'comment', '--comment', q(name), ...proto, '--dport', sp.nodePort, '-j', chains.external);
    }
    if (!fam.hasExternalEndpoints) {
      b.topRule('filter', kubeExternalServicesChain, '-m', 'comment', '--comment', externalFilterComment,
        '-m', 'addrtype', '--dst-type', 'LOCAL', ...proto, '--dport', sp.nodePort, '-j', externalFilterTarget);
    }
  }

  if (sp.healthCheckNodePort !== 0) {
    // Health checks must answer whether or not this node has endpoints.
    b.topRule('filter', kubeNodePortsChain, '-m', 'comment', '--comment', q(`${name} health check node port`),
      '-m', 'tcp', '-p', 'tcp', '--dport', sp.healthCheckNodePort, '-j', 'ACCEPT');
  }

  // Per-service chains, declared in a fixed order so the output is stable.
  if (usesExternalTrafficChain) b.declare(chains.external);
  if (usesFWChain) b.declare(chains.firewall);
  if (usesClusterPolicyChain) b.declare(chains.cluster);
  if (usesLocalPolicyChain) b.declare(chains.local);
  for (const ep of fam.reachableEndpoints) b.declare(epChain(ep));

  if (fam.hasInternalEndpoints) {
    const args = ['-m', 'comment', '--comment', q(`${name} cluster IP`), ...proto, '-d', fam.clusterIP, '--dport', String(sp.port)];
    if (ctx.masqueradeAll) {
      b.nat(internalTrafficChain, ...args, '-j', kubeMarkMasqChain);
    } else if (ctx.ifNotLocal) {
      // Off-cluster traffic to a ClusterIP (a static route to the service range via any
      // node) may bounce to another node; masquerade it so replies come back here.
      b.nat(internalTrafficChain, ...args, ...ctx.ifNotLocal, '-j', kubeMarkMasqChain);
    }
  }

  if (usesExternalTrafficChain) {
    if (!fam.externalPolicyLocal) {
      // Cluster policy may send the packet to another node: masquerade so it returns here.
      b.nat(chains.external, '-m', 'comment', '--comment', q(`masquerade traffic for ${name} external destinations`), '-j', kubeMarkMasqChain);
    } else {
      if (ctx.ifLocal) {
        // Pod → external IP of a Local service acts as if it went out to the LB and
        // back: neither policy applies, so short-circuit to the Cluster chain.
        b.nat(chains.external, '-m', 'comment', '--comment', q(`pod traffic for ${name} external destinations`), ...ctx.ifLocal, '-j', chains.cluster);
      }
      // The node's own traffic has a local source address (often the LB IP itself): it must be masqueraded.
      b.nat(chains.external, '-m', 'comment', '--comment', q(`masquerade LOCAL traffic for ${name} external destinations`),
        '-m', 'addrtype', '--src-type', 'LOCAL', '-j', kubeMarkMasqChain);
      b.nat(chains.external, '-m', 'comment', '--comment', q(`route LOCAL traffic for ${name} external destinations`),
        '-m', 'addrtype', '--src-type', 'LOCAL', '-j', chains.cluster);
    }
    if (fam.hasExternalEndpoints) b.nat(chains.external, '-j', externalPolicyChain);
  }

  if (usesFWChain) {
    const args = ['-m', 'comment', '--comment', q(`${name} loadbalancer IP`)];
    let allowFromNode = false;
    for (const cidr of fam.loadBalancerSourceRanges) {
      b.nat(chains.firewall, ...args, '-s', cidr, '-j', chains.external);
      if (ctx.nodeIP && cidrHas(cidr, ctx.nodeIP)) allowFromNode = true;
    }
    // A VIP-style LB IP is often local to the node; its own requests then come from the VIP.
    if (allowFromNode) for (const ip of fam.loadBalancerIPs) b.nat(chains.firewall, ...args, '-s', ip, '-j', chains.external);
    // What falls through is not DNATed and meets the KUBE-PROXY-FIREWALL DROP.
    b.nat(chains.firewall, '-m', 'comment', '--comment', q(`other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`));
  }

  // Large clusters: the service chain goes to (-g) its endpoint chains instead of jumping
  // (-j). The same packets take the same path, as an endpoint chain always ends in DNAT for
  // the service's protocol; but iptables(-legacy)-restore looks up every `-j NAME` in a
  // 512-bucket hash of the chain names it has seen (notargets), which at 100,000 endpoint
  // chains walks ~200 names per rule: -23 % restore time at 10,000 services (a goto is
  // not looked up).
  const toEndpoint = ctx.large ? '-g' : '-j';
  const writeEndpointRules = (svcChain: string, endpoints: SnapshotEndpoint[]): void => {
    if (sp.sessionAffinity === 'ClientIP') {
      for (const ep of endpoints) {
        b.nat(svcChain, ...comment(`${name} -> ${ep.key}`),
          '-m', 'recent', '--name', epChain(ep), '--rcheck', '--seconds', sp.stickyMaxAgeSeconds, '--reap', toEndpoint, epChain(ep));
      }
    }
    const n = endpoints.length;
    endpoints.forEach((ep, i) => {
      const stat = i < n - 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(n - i)] : [];
      b.nat(svcChain, ...comment(`${name} -> ${ep.key}`), ...stat, toEndpoint, epChain(ep));
    });
  };
  if (usesClusterPolicyChain) writeEndpointRules(chains.cluster, fam.clusterEndpoints);
  if (usesLocalPolicyChain) writeEndpointRules(chains.local, fam.localEndpoints);

  for (const ep of fam.reachableEndpoints) {
    const chain = epChain(ep);
    const base = comment(name);
    // Hairpin: a pod reaching itself through the service must be SNATed or the reply bypasses conntrack.
    b.nat(chain, ...base, '-s', ep.ip, '-j', kubeMarkMasqChain);
    const affinity = sp.sessionAffinity === 'ClientIP' ? ['-m', 'recent', '--name', chain, '--set'] : [];
    b.nat(chain, ...base, ...affinity, ...proto, '-j', 'DNAT', '--to-destination', ep.key);
  }
  return b;
}

function sameRules(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------- renderer state

/** What a render remembers for the next one (pass `IptablesRuleset.state` as `state`). */
export interface IptablesRenderState {
  key: string;
  /** kube-proxy's largeClusterMode was on. */
  large: boolean;
  /** The snapshot it describes. */
  snapshot: ProxySnapshot;
  fixed: Fixed;
  ports: Map<string, { sp: ServicePortSnapshot; frag: Fragment }>;
  /** Every nat service chain (KUBE-SVC/SVL/EXT/FW/SEP) in the ruleset. */
  serviceChains: Set<string>;
}

function buildState(snapshot: ProxySnapshot, opts: IptablesRenderOptions, cache?: IptablesRenderState): IptablesRenderState {
  const { ctx, key } = contextOf(snapshot, opts);
  const reuse = cache && cache.key === key ? cache.ports : undefined;
  const st: IptablesRenderState = { key, large: ctx.large, snapshot, fixed: fixedPart(snapshot, opts, ctx), ports: new Map(), serviceChains: new Set() };
  for (const { sp, fam } of familyServicePorts(snapshot, opts.family)) {
    const old = reuse?.get(sp.id);
    const frag = old && (old.sp === sp || servicePortEqual(old.sp, sp)) ? old.frag : servicePortFragment(sp, fam, ctx);
    st.ports.set(sp.id, { sp, frag });
    for (const c of frag.chains.keys()) st.serviceChains.add(c);
  }
  return st;
}

/** The rules of a top-level chain: fixed ones, then each service port's, then the fixed closing ones. */
function topRules(st: IptablesRenderState, k: string): string[] {
  const out = [...(st.fixed.before.get(k) ?? [])];
  for (const { frag } of st.ports.values()) {
    const r = frag.top.get(k);
    if (r) for (const x of r) out.push(x);
  }
  for (const x of st.fixed.after.get(k) ?? []) out.push(x);
  return out;
}

function tableText(name: IptablesTable, chains: [string, readonly string[]][], deleted: readonly string[], large = false): string {
  const lines = [`*${name}`];
  const declared = [...chains.map(([c]) => c), ...deleted];
  // libiptc (iptables-legacy) inserts each new chain into a name-sorted list, walking from
  // its index bucket: declared in descending order, each lands at once (30 % less
  // restore time at 100k chains). Small rulesets keep the readable order.
  if (large) declared.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  for (const c of declared) lines.push(`:${c} - [0:0]`);
  for (const [, rules] of chains) for (const r of rules) lines.push(r);
  for (const c of deleted) lines.push(`-X ${c}`);
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}

/** Renders the iptables rules of one IP family for the snapshot. */
export function renderIptables(snapshot: ProxySnapshot, opts: IptablesRenderOptions): IptablesRuleset {
  const staleCandidates = new Set<string>(opts.existingNatChains ?? []);
  const written: Record<IptablesTable, [string, readonly string[]][]> = { filter: [], nat: [] };
  let st: IptablesRenderState;
  let restore: string;
  let deleted: string[];

  if (!opts.previous) {
    st = buildState(snapshot, opts, opts.state);
    for (const table of ['filter', 'nat'] as const) {
      for (const c of st.fixed.declared[table]) written[table].push([c, topRules(st, `${table} ${c}`)]);
    }
    for (const { frag } of st.ports.values()) for (const [c, rules] of frag.chains) written.nat.push([c, rules]);
    deleted = [...staleCandidates].filter((c) => isIptablesServiceChain(c) && !st.serviceChains.has(c)).sort();
    restore = tableText('filter', written.filter, []) + tableText('nat', written.nat, deleted, st.large);
  } else {
    // Partial: only the service chains that changed, and the top-level chains whose rules changed.
    st = opts.state && opts.state.snapshot === opts.previous ? opts.state : buildState(opts.previous, opts, opts.state);
    const { ctx, key } = contextOf(snapshot, opts);
    const everything = key !== st.key;
    const oldFixed = st.fixed;
    const newFixed = everything ? fixedPart(snapshot, opts, ctx) : oldFixed;
    const touchedTop = new Set<string>();
    if (everything) for (const [table, c] of topChains) touchedTop.add(`${table} ${c}`);
    const changes: { id: string; sp?: ServicePortSnapshot; old?: Fragment; now?: Fragment }[] = [];
    let kept = 0;
    const current = familyServicePorts(snapshot, opts.family);
    for (const { sp, fam } of current) {
      const e = st.ports.get(sp.id);
      if (!e) {
        changes.push({ id: sp.id, sp, now: servicePortFragment(sp, fam, ctx) });
        continue;
      }
      kept++;
      if (!everything && (e.sp === sp || servicePortEqual(e.sp, sp))) {
        e.sp = sp;
        continue;
      }
      changes.push({ id: sp.id, sp, old: e.frag, now: servicePortFragment(sp, fam, ctx) });
    }
    if (kept !== st.ports.size) {
      const ids = new Set(current.map((c) => c.sp.id));
      for (const [id, e] of st.ports) if (!ids.has(id)) changes.push({ id, old: e.frag });
    }
    const removedChains: string[] = [];
    let reordered = false;
    for (const c of changes) {
      const oldTop = c.old?.top ?? new Map<string, string[]>();
      const nowTop = c.now?.top ?? new Map<string, string[]>();
      for (const [k, r] of nowTop) if (!sameRules(oldTop.get(k), r)) touchedTop.add(k);
      for (const k of oldTop.keys()) if (!nowTop.has(k)) touchedTop.add(k);
      for (const [chain, rules] of c.now?.chains ?? []) {
        if (!sameRules(c.old?.chains.get(chain), rules)) written.nat.push([chain, rules]);
        st.serviceChains.add(chain);
      }
      for (const chain of c.old?.chains.keys() ?? []) {
        if (!c.now?.chains.has(chain)) {
          removedChains.push(chain);
          st.serviceChains.delete(chain);
        }
      }
      if (c.now) {
        if (!c.old) reordered = true;
        st.ports.set(c.id, { sp: c.sp!, frag: c.now });
      } else st.ports.delete(c.id);
    }
    if (reordered) {
      // A new service port goes to its place in the sorted order (top-level rule order).
      const ordered = new Map<string, { sp: ServicePortSnapshot; frag: Fragment }>();
      for (const { sp } of current) ordered.set(sp.id, st.ports.get(sp.id)!);
      st.ports = ordered;
    }
    st.fixed = newFixed;
    for (const c of removedChains) staleCandidates.add(c);
    deleted = [...staleCandidates].filter((c) => isIptablesServiceChain(c) && !st.serviceChains.has(c)).sort();
    const top: Record<IptablesTable, [string, readonly string[]][]> = { filter: [], nat: [] };
    for (const table of ['filter', 'nat'] as const) {
      for (const c of st.fixed.declared[table]) if (touchedTop.has(`${table} ${c}`)) top[table].push([c, topRules(st, `${table} ${c}`)]);
    }
    written.nat.unshift(...top.nat);
    written.filter = top.filter;
    // A table with nothing to change is left out: iptables-legacy rewrites a whole table per COMMIT.
    restore = (written.filter.length ? tableText('filter', written.filter, []) : '')
      + (written.nat.length || deleted.length ? tableText('nat', written.nat, deleted, ctx.large) : '');
    st.key = key;
    st.large = ctx.large;
    st.snapshot = snapshot;
  }

  const jumps = jumpList(opts.localhostNodePorts ?? false, opts.family).map((j) => ({
    ...j,
    line: ['-A', j.chain, ...j.args.map(q)].join(' '),
  }));
  const jumpsText = (['filter', 'nat'] as const)
    .map((t) => [`*${t}`, ...jumps.filter((j) => j.table === t).map((j) => j.line), 'COMMIT'].join('\n') + '\n')
    .join('');
  const state = st;
  let chains: Record<IptablesTable, string[]> | undefined;
  return {
    family: opts.family,
    restore,
    jumps,
    jumpsText,
    get chains() {
      if (!chains) {
        const nat = [...state.fixed.declared.nat];
        for (const { frag } of state.ports.values()) for (const c of frag.chains.keys()) nat.push(c);
        chains = { filter: [...state.fixed.declared.filter], nat };
      }
      return chains;
    },
    deletedChains: deleted,
    partial: !!opts.previous,
    state,
  };
}

/** Jumps, then restore input: the whole ruleset as one readable text (goldens, `svcnet rules`). */
export function formatIptablesRuleset(rs: IptablesRuleset): string {
  return `# built-in chain jumps (ensured with iptables -C / -I)\n${rs.jumpsText}# iptables-restore --noflush\n${rs.restore}`;
}
