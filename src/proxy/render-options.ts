// Options shared by the kernel renderers: the kube-proxy flags that change the rules.

import { ipFamilyOf, parseCIDRSloppy, parseIPSloppy, cidrContains, formatCIDR, isLoopback } from '../api/validation/ip.js';
import type { IPFamily, ProxySnapshot } from './snapshot.js';

export interface DetectLocal {
  /**
   * kube-proxy --detect-local-mode: `ClusterCIDR` (the cluster's pod range, --cluster-cidr)
   * or `NodeCIDR` (this node's podCIDR). Traffic from these sources is "from a pod".
   */
  mode: 'ClusterCIDR' | 'NodeCIDR';
  /** One CIDR per IP family is used (the first of each family). */
  cidrs: string[];
}

export interface RenderOptions {
  family: IPFamily;
  /** --masquerade-all: SNAT every packet sent to a ClusterIP. */
  masqueradeAll?: boolean;
  /** --iptables-masquerade-bit / --nftables-masquerade-bit; 14 gives kube-proxy's 0x4000. */
  masqueradeBit?: number;
  /**
   * How pod traffic is told apart. Without it kube-proxy cannot masquerade off-cluster
   * traffic to ClusterIPs, nor short-circuit pod traffic to a Local external IP.
   */
  detectLocal?: DetectLocal;
  /** --nodeport-addresses CIDRs; unset (or a /0) means every local address accepts NodePorts. */
  nodePortAddresses?: string[];
  /** Service CIDRs: the nftables backend drops traffic to unallocated ClusterIPs in them. */
  serviceCIDRs?: string[];
}

export const defaultMasqueradeBit = 14;

/** `0x4000` for bit 14: the mark value as iptables-save and nft list print it. */
export function masqueradeMark(bit: number = defaultMasqueradeBit): string {
  return '0x' + (1 << bit).toString(16);
}

/** The pod CIDR used for local-traffic detection in this family, if any. */
export function localCIDR(opts: RenderOptions): string | undefined {
  for (const c of opts.detectLocal?.cidrs ?? []) {
    const parsed = parseCIDRSloppy(c.trim());
    if (parsed && parsed.network.family === opts.family) return formatCIDR(parsed);
  }
  return undefined;
}

export interface NodePortAddressing {
  /** Every local address accepts NodePorts (no --nodeport-addresses for this family). */
  matchAll: boolean;
  /** With !matchAll: the node's IPs that accept NodePorts (loopback excluded). */
  ips: string[];
}

/** kube-proxy's NodePortAddresses for one family, resolved against the node's IPs. */
export function nodePortAddressing(opts: RenderOptions, snapshot: ProxySnapshot): NodePortAddressing {
  const cidrs = (opts.nodePortAddresses ?? [])
    .map((c) => parseCIDRSloppy(c.trim()))
    .filter((c) => c !== undefined && c.network.family === opts.family);
  if (cidrs.length === 0 || cidrs.some((c) => c!.prefix === 0)) return { matchAll: true, ips: [] };
  const ips: string[] = [];
  for (const ip of snapshot.nodeIPs) {
    if (ipFamilyOf(ip) !== opts.family) continue;
    const parsed = parseIPSloppy(ip);
    if (!parsed || isLoopback(parsed)) continue;
    if (cidrs.some((c) => cidrContains(c!, parsed))) ips.push(ip);
  }
  return { matchAll: false, ips };
}

/** Whether ip lies in cidr (both strings); false when either does not parse. */
export function cidrHas(cidr: string, ip: string): boolean {
  const c = parseCIDRSloppy(cidr);
  const p = parseIPSloppy(ip);
  return !!c && !!p && c.network.family === p.family && cidrContains(c, p);
}

/** The node's IP of the family, used for loadBalancerSourceRanges "allow from node". */
export function nodeIPOf(snapshot: ProxySnapshot, family: IPFamily): string | undefined {
  return snapshot.nodeIPs.find((ip) => ipFamilyOf(ip) === family);
}
