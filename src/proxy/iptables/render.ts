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
//   so, like kube-proxy, the applier checks each with `iptables -C` and inserts the
//   missing ones at the top (`-I CHAIN 1`, in reverse order so the listed order holds).

import { iptablesEndpointChain, iptablesServiceChains, isIptablesServiceChain } from '../names.js';
import { familyServicePorts, type IPFamily, type ProxySnapshot, type ServicePortFamily, type ServicePortSnapshot, type SnapshotEndpoint } from '../snapshot.js';
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
  /** Every chain this ruleset defines, per table (also those skipped by a partial sync). */
  chains: Record<IptablesTable, string[]>;
  /** Chains deleted by this restore. */
  deletedChains: string[];
  partial: boolean;
}

interface TableContent {
  /** Declaration order. */
  chains: string[];
  rules: Map<string, string[]>;
}

interface Built {
  filter: TableContent;
  nat: TableContent;
  /** Per-service chains (nat), which a partial sync may skip when unchanged. */
  serviceChains: Set<string>;
}

/** Quotes an argument for iptables-restore when it holds a space (kube-proxy writes comments this way). */
function q(s: string): string {
  return /[\s"]/.test(s) ? `"${s.replaceAll('"', '\\"')}"` : s;
}

class Table {
  readonly content: TableContent = { chains: [], rules: new Map() };
  declare(chain: string): void {
    if (!this.content.rules.has(chain)) {
      this.content.chains.push(chain);
      this.content.rules.set(chain, []);
    }
  }
  add(chain: string, ...args: (string | number)[]): void {
    this.declare(chain);
    this.content.rules.get(chain)!.push(['-A', chain, ...args.map(String)].join(' '));
  }
}

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

function probability(n: number): string {
  // kube-proxy: fmt.Sprintf("%0.10f", 1.0/float64(n)).
  return (1 / n).toFixed(10);
}

function build(snapshot: ProxySnapshot, opts: IptablesRenderOptions): Built {
  const family = opts.family;
  const mark = masqueradeMark(opts.masqueradeBit ?? defaultMasqueradeBit);
  const localhostNodePorts = (opts.localhostNodePorts ?? false) && family === 'IPv4';
  const podCIDR = localCIDR(opts);
  const ifLocal = podCIDR ? ['-s', podCIDR] : undefined;
  const ifNotLocal = podCIDR ? ['!', '-s', podCIDR] : undefined;
  const filter = new Table();
  const nat = new Table();
  const serviceChains = new Set<string>();

  for (const c of [kubeServicesChain, kubeExternalServicesChain, kubeForwardChain, kubeNodePortsChain, kubeProxyFirewallChain]) filter.declare(c);
  for (const c of [kubeServicesChain, kubeNodePortsChain, kubePostroutingChain, kubeMarkMasqChain]) nat.declare(c);

  nat.add(kubePostroutingChain, '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN');
  // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
  nat.add(kubePostroutingChain, '-j', 'MARK', '--xor-mark', mark);
  nat.add(kubePostroutingChain, '-m', 'comment', '--comment', q('kubernetes service traffic requiring SNAT'), '-j', 'MASQUERADE',
    ...((opts.randomFully ?? true) ? ['--random-fully'] : []));
  nat.add(kubeMarkMasqChain, '-j', 'MARK', '--or-mark', mark);

  if (localhostNodePorts) {
    // route_localnet opens 127.0.0.0/8 to the outside (https://issues.k8s.io/90259); kubelet's rule closes it.
    filter.declare(kubeletFirewallChain);
    filter.add(kubeletFirewallChain, '-m', 'comment', '--comment', q('block incoming localnet connections'),
      '-d', '127.0.0.0/8', '!', '-s', '127.0.0.0/8', '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'DROP');
  }

  const nodeIP = nodeIPOf(snapshot, family);
  for (const { sp, fam } of familyServicePorts(snapshot, family)) {
    writeServicePort(sp, fam, { filter, nat, serviceChains, mark, ifLocal, ifNotLocal, masqueradeAll: opts.masqueradeAll ?? false, nodeIP });
  }

  // The NodePort dispatch must stay the last rule of KUBE-SERVICES: ClusterIP, external
  // and LB rules match on a destination first.
  const np = nodePortAddressing(opts, snapshot);
  const npComment = q('kubernetes service nodeports; NOTE: this must be the last rule in this chain');
  if (np.matchAll) {
    const dest = ['-m', 'addrtype', '--dst-type', 'LOCAL'];
    if (family === 'IPv6') dest.push('!', '-d', '::1/128');
    else if (!localhostNodePorts) dest.push('!', '-d', '127.0.0.0/8');
    nat.add(kubeServicesChain, '-m', 'comment', '--comment', npComment, ...dest, '-j', kubeNodePortsChain);
  } else {
    for (const ip of np.ips) nat.add(kubeServicesChain, '-m', 'comment', '--comment', npComment, '-d', ip, '-j', kubeNodePortsChain);
  }

  if (!opts.conntrackTCPLiberal) {
    // Out-of-window packets would otherwise reach the pod un-NATed and reset the connection (issue 74839).
    filter.add(kubeForwardChain, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP');
  }
  filter.add(kubeForwardChain, '-m', 'comment', '--comment', q('kubernetes forwarding rules'), '-m', 'mark', '--mark', `${mark}/${mark}`, '-j', 'ACCEPT');
  filter.add(kubeForwardChain, '-m', 'comment', '--comment', q('kubernetes forwarding conntrack rule'), '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');

  return { filter: filter.content, nat: nat.content, serviceChains };
}

interface WriteCtx {
  filter: Table;
  nat: Table;
  serviceChains: Set<string>;
  mark: string;
  ifLocal?: string[];
  ifNotLocal?: string[];
  masqueradeAll: boolean;
  nodeIP?: string;
}

function writeServicePort(sp: ServicePortSnapshot, fam: ServicePortFamily, ctx: WriteCtx): void {
  const { filter, nat } = ctx;
  const protocol = sp.protocol.toLowerCase();
  const name = sp.name;
  const chains = iptablesServiceChains(name, protocol);
  const proto = ['-m', protocol, '-p', protocol];
  const epChain = (ep: SnapshotEndpoint): string => iptablesEndpointChain(name, protocol, ep.key);

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
    nat.add(kubeServicesChain, '-m', 'comment', '--comment', q(`${name} cluster IP`), ...proto,
      '-d', fam.clusterIP, '--dport', sp.port, '-j', internalTrafficChain);
  } else {
    filter.add(kubeServicesChain, '-m', 'comment', '--comment', internalFilterComment, ...proto,
      '-d', fam.clusterIP, '--dport', sp.port, '-j', internalFilterTarget);
  }

  for (const ip of fam.externalIPs) {
    if (fam.hasEndpoints) {
      nat.add(kubeServicesChain, '-m', 'comment', '--comment', q(`${name} external IP`), ...proto,
        '-d', ip, '--dport', sp.port, '-j', chains.external);
    }
    if (!fam.hasExternalEndpoints) {
      // No endpoints at all (REJECT) or none for external traffic (DROP what the EXT chain did not short-circuit).
      filter.add(kubeExternalServicesChain, '-m', 'comment', '--comment', externalFilterComment, ...proto,
        '-d', ip, '--dport', sp.port, '-j', externalFilterTarget);
    }
  }

  for (const ip of fam.loadBalancerIPs) {
    if (fam.hasEndpoints) {
      nat.add(kubeServicesChain, '-m', 'comment', '--comment', q(`${name} loadbalancer IP`), ...proto,
        '-d', ip, '--dport', sp.port, '-j', loadBalancerTrafficChain);
    }
    if (usesFWChain) {
      filter.add(kubeProxyFirewallChain, '-m', 'comment', '--comment', q(`${name} traffic not accepted by ${chains.firewall}`), ...proto,
        '-d', ip, '--dport', sp.port, '-j', 'DROP');
    }
  }
  if (!fam.hasExternalEndpoints) {
    for (const ip of fam.loadBalancerIPs) {
      filter.add(kubeExternalServicesChain, '-m', 'comment', '--comment', externalFilterComment, ...proto,
        '-d', ip, '--dport', sp.port, '-j', externalFilterTarget);
    }
  }

  if (sp.nodePort !== 0) {
    if (fam.hasEndpoints) {
      // NodePorts are not subject to loadBalancerSourceRanges, for better or worse.
      nat.add(kubeNodePortsChain, '-m', 'comment', '--comment', q(name), ...proto, '--dport', sp.nodePort, '-j', chains.external);
    }
    if (!fam.hasExternalEndpoints) {
      filter.add(kubeExternalServicesChain, '-m', 'comment', '--comment', externalFilterComment,
        '-m', 'addrtype', '--dst-type', 'LOCAL', ...proto, '--dport', sp.nodePort, '-j', externalFilterTarget);
    }
  }

  if (sp.healthCheckNodePort !== 0) {
    // Health checks must answer whether or not this node has endpoints.
    filter.add(kubeNodePortsChain, '-m', 'comment', '--comment', q(`${name} health check node port`),
      '-m', 'tcp', '-p', 'tcp', '--dport', sp.healthCheckNodePort, '-j', 'ACCEPT');
  }

  // Per-service chains, declared in a fixed order so the output is stable.
  const declare = (chain: string): void => {
    nat.declare(chain);
    ctx.serviceChains.add(chain);
  };
  if (usesExternalTrafficChain) declare(chains.external);
  if (usesFWChain) declare(chains.firewall);
  if (usesClusterPolicyChain) declare(chains.cluster);
  if (usesLocalPolicyChain) declare(chains.local);
  for (const ep of fam.reachableEndpoints) declare(epChain(ep));

  if (fam.hasInternalEndpoints) {
    const args = ['-m', 'comment', '--comment', q(`${name} cluster IP`), ...proto, '-d', fam.clusterIP, '--dport', String(sp.port)];
    if (ctx.masqueradeAll) {
      nat.add(internalTrafficChain, ...args, '-j', kubeMarkMasqChain);
    } else if (ctx.ifNotLocal) {
      // Off-cluster traffic to a ClusterIP (a static route to the service range via any
      // node) may bounce to another node; masquerade it so replies come back here.
      nat.add(internalTrafficChain, ...args, ...ctx.ifNotLocal, '-j', kubeMarkMasqChain);
    }
  }

  if (usesExternalTrafficChain) {
    if (!fam.externalPolicyLocal) {
      // Cluster policy may send the packet to another node: masquerade so it returns here.
      nat.add(chains.external, '-m', 'comment', '--comment', q(`masquerade traffic for ${name} external destinations`), '-j', kubeMarkMasqChain);
    } else {
      if (ctx.ifLocal) {
        // Pod → external IP of a Local service acts as if it went out to the LB and
        // back: neither policy applies, so short-circuit to the Cluster chain.
        nat.add(chains.external, '-m', 'comment', '--comment', q(`pod traffic for ${name} external destinations`), ...ctx.ifLocal, '-j', chains.cluster);
      }
      // The node's own traffic has a local source address (often the LB IP itself): it must be masqueraded.
      nat.add(chains.external, '-m', 'comment', '--comment', q(`masquerade LOCAL traffic for ${name} external destinations`),
        '-m', 'addrtype', '--src-type', 'LOCAL', '-j', kubeMarkMasqChain);
      nat.add(chains.external, '-m', 'comment', '--comment', q(`route LOCAL traffic for ${name} external destinations`),
        '-m', 'addrtype', '--src-type', 'LOCAL', '-j', chains.cluster);
    }
    if (fam.hasExternalEndpoints) nat.add(chains.external, '-j', externalPolicyChain);
  }

  if (usesFWChain) {
    const args = ['-m', 'comment', '--comment', q(`${name} loadbalancer IP`)];
    let allowFromNode = false;
    for (const cidr of fam.loadBalancerSourceRanges) {
      nat.add(chains.firewall, ...args, '-s', cidr, '-j', chains.external);
      if (ctx.nodeIP && cidrHas(cidr, ctx.nodeIP)) allowFromNode = true;
    }
    // A VIP-style LB IP is often local to the node; its own requests then come from the VIP.
    if (allowFromNode) for (const ip of fam.loadBalancerIPs) nat.add(chains.firewall, ...args, '-s', ip, '-j', chains.external);
    // What falls through is not DNATed and meets the KUBE-PROXY-FIREWALL DROP.
    nat.add(chains.firewall, '-m', 'comment', '--comment', q(`other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`));
  }

  const writeEndpointRules = (svcChain: string, endpoints: SnapshotEndpoint[]): void => {
    if (sp.sessionAffinity === 'ClientIP') {
      for (const ep of endpoints) {
        nat.add(svcChain, '-m', 'comment', '--comment', q(`${name} -> ${ep.key}`),
          '-m', 'recent', '--name', epChain(ep), '--rcheck', '--seconds', sp.stickyMaxAgeSeconds, '--reap', '-j', epChain(ep));
      }
    }
    const n = endpoints.length;
    endpoints.forEach((ep, i) => {
      const stat = i < n - 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(n - i)] : [];
      nat.add(svcChain, '-m', 'comment', '--comment', q(`${name} -> ${ep.key}`), ...stat, '-j', epChain(ep));
    });
  };
  if (usesClusterPolicyChain) writeEndpointRules(chains.cluster, fam.clusterEndpoints);
  if (usesLocalPolicyChain) writeEndpointRules(chains.local, fam.localEndpoints);

  for (const ep of fam.reachableEndpoints) {
    const chain = epChain(ep);
    const base = ['-m', 'comment', '--comment', q(name)];
    // Hairpin: a pod reaching itself through the service must be SNATed or the reply bypasses conntrack.
    nat.add(chain, ...base, '-s', ep.ip, '-j', kubeMarkMasqChain);
    const affinity = sp.sessionAffinity === 'ClientIP' ? ['-m', 'recent', '--name', chain, '--set'] : [];
    nat.add(chain, ...base, ...affinity, ...proto, '-j', 'DNAT', '--to-destination', ep.key);
  }
}

function tableText(name: IptablesTable, content: TableContent, skip: Set<string>, deleted: string[]): string {
  const lines = [`*${name}`];
  for (const c of content.chains) if (!skip.has(c)) lines.push(`:${c} - [0:0]`);
  for (const c of deleted) lines.push(`:${c} - [0:0]`);
  for (const c of content.chains) if (!skip.has(c)) lines.push(...content.rules.get(c)!);
  for (const c of deleted) lines.push(`-X ${c}`);
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}

function sameRules(a: string[] | undefined, b: string[] | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Renders the iptables rules of one IP family for the snapshot. */
export function renderIptables(snapshot: ProxySnapshot, opts: IptablesRenderOptions): IptablesRuleset {
  const built = build(snapshot, opts);
  const skip = new Set<string>();
  const staleCandidates = new Set<string>(opts.existingNatChains ?? []);
  let partial = false;
  if (opts.previous) {
    partial = true;
    const prev = build(opts.previous, { ...opts, previous: undefined });
    for (const c of built.serviceChains) {
      if (sameRules(prev.nat.rules.get(c), built.nat.rules.get(c))) skip.add(c);
    }
    for (const c of prev.serviceChains) staleCandidates.add(c);
  }
  const deleted = [...staleCandidates]
    .filter((c) => isIptablesServiceChain(c) && !built.nat.rules.has(c))
    .sort();
  const jumps = jumpList(opts.localhostNodePorts ?? false, opts.family).map((j) => ({
    ...j,
    line: ['-A', j.chain, ...j.args.map(q)].join(' '),
  }));
  const jumpsText = (['filter', 'nat'] as const)
    .map((t) => [`*${t}`, ...jumps.filter((j) => j.table === t).map((j) => j.line), 'COMMIT'].join('\n') + '\n')
    .join('');
  return {
    family: opts.family,
    restore: tableText('filter', built.filter, new Set(), []) + tableText('nat', built.nat, skip, deleted),
    jumps,
    jumpsText,
    chains: { filter: [...built.filter.chains], nat: [...built.nat.chains] },
    deletedChains: deleted,
    partial,
  };
}

/** Jumps, then restore input: the whole ruleset as one readable text (goldens, `svcnet rules`). */
export function formatIptablesRuleset(rs: IptablesRuleset): string {
  return `# built-in chain jumps (ensured with iptables -C / -I)\n${rs.jumpsText}# iptables-restore --noflush\n${rs.restore}`;
}
