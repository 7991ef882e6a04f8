// The embedded cluster's "physical" network, built from network namespaces
// (DESIGN.md, "Topology of the embedded cluster"):
//
//   <prefix>-lan      bridge br0 = the LAN, 172.30.0.1/24 (the LAN's router)
//   <prefix>-client   eth0 172.30.0.2/24 on the LAN: the outside world
//   <prefix>-node-X   eth0 172.30.0.(10+i)/24 on the LAN (its InternalIP),
//                     podCIDR 10.244.i.0/24 with the pod gateway 10.244.i.1/32 on lo,
//                     ip_forward=1, send_redirects=0, a route to every other node's podCIDR via
//                     that node's LAN address (host-gw), default via 172.30.0.1
//
// Pods (made by the node agent) hang off their node by a veth each. Nothing
// here touches the namespace the process runs in: every operation names the
// namespace it acts in.
//
// planTopology is pure (names and addresses); createTopology applies the plan
// after removing whatever a previous run with the same prefix left
// (crash cleanup = destroy before create); destroyTopology removes exactly the
// namespaces and /etc/netns directories this prefix names.
import { cidrSize, formatCidr4, nthAddress, nthSubnet, parseCidr4 } from './ipv4.js';
import { clientNetnsName, isClusterNetns, isPodNetns, lanNetnsName, lanPortName, nodeNetnsName, validatePrefix } from './names.js';
import { IpNetns, type NetOp, type Netns } from './netns.js';
import { NodeError } from './errors.js';

export const DEFAULT_LAN_CIDR = '172.30.0.0/24';
export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16';
export const DEFAULT_NODE_CIDR_MASK_SIZE = 24;
/** Name of the LAN leg in node and client namespaces. */
export const LAN_LINK = 'eth0';
export const LAN_BRIDGE = 'br0';
const CLIENT_PORT = 'client0';

export interface TopologyOptions {
  prefix: string;
  /** Node names, in order: node i gets LAN address .(10+i) and the i-th podCIDR. */
  nodes: readonly string[];
  /** The LAN (default 172.30.0.0/24): .1 the bridge, .2 the client, .10+ the nodes. */
  lanCIDR?: string;
  /** Where node podCIDRs come from (default 10.244.0.0/16, kube-controller-manager's --cluster-cidr). */
  clusterCIDR?: string;
  /** Size of each node's podCIDR (default 24, --node-cidr-mask-size). */
  nodeCIDRMaskSize?: number;
  netns?: Netns;
}

export interface NodeTopology {
  name: string;
  netns: string;
  /** The node's InternalIP. */
  lanIP: string;
  podCIDR: string;
  /** First address of the podCIDR, on the node's lo: every pod's default gateway. */
  podGateway: string;
}

export interface Topology {
  prefix: string;
  lan: { netns: string; bridge: string; cidr: string; gatewayIP: string };
  client: { netns: string; ip: string };
  nodes: NodeTopology[];
}

/** Names and addresses of the topology, without touching anything. */
export function planTopology(o: Omit<TopologyOptions, 'netns'>): Topology {
  validatePrefix(o.prefix);
  const lan = parseCidr4(o.lanCIDR ?? DEFAULT_LAN_CIDR);
  const cluster = parseCidr4(o.clusterCIDR ?? DEFAULT_CLUSTER_CIDR);
  const mask = o.nodeCIDRMaskSize ?? DEFAULT_NODE_CIDR_MASK_SIZE;
  if (new Set(o.nodes).size !== o.nodes.length) throw new NodeError('BAD_NAME', 'node names must be unique');
  if (10 + o.nodes.length >= cidrSize(lan) - 1) throw new NodeError('BAD_CIDR', `LAN ${formatCidr4(lan)} is too small for ${o.nodes.length} nodes`);
  for (const n of o.nodes) {
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(n)) throw new NodeError('BAD_NAME', `invalid node name "${n}"`);
  }
  return {
    prefix: o.prefix,
    lan: { netns: lanNetnsName(o.prefix), bridge: LAN_BRIDGE, cidr: formatCidr4(lan), gatewayIP: nthAddress(lan, 1) },
    client: { netns: clientNetnsName(o.prefix), ip: nthAddress(lan, 2) },
    nodes: o.nodes.map((name, i) => {
      const pod = nthSubnet(cluster, mask, i);
      return {
        name, netns: nodeNetnsName(o.prefix, name), lanIP: nthAddress(lan, 10 + i),
        podCIDR: formatCidr4(pod), podGateway: nthAddress(pod, 1),
      };
    }),
  };
}

/** The per-namespace operations that build a planned topology, in the order they must run. */
export function topologyOps(t: Topology): { step: number; netns: string; ops: NetOp[] }[] {
  const lanPrefix = parseCidr4(t.lan.cidr).prefix;
  const steps: { step: number; netns: string; ops: NetOp[] }[] = [];
  steps.push({
    step: 1, netns: t.lan.netns, ops: [
      { op: 'setUp', link: 'lo' },
      { op: 'addBridge', name: t.lan.bridge },
      { op: 'setAddr', link: t.lan.bridge, cidr: `${t.lan.gatewayIP}/${lanPrefix}` },
      { op: 'setUp', link: t.lan.bridge },
    ],
  });
  const legs: { netns: string; ip: string; port: string; extra: NetOp[] }[] = [
    { netns: t.client.netns, ip: t.client.ip, port: CLIENT_PORT, extra: [] },
    ...t.nodes.map((n) => ({
      netns: n.netns, ip: n.lanIP, port: lanPortName(n.name),
      extra: [
        { op: 'setAddr', link: 'lo', cidr: `${n.podGateway}/32` } as NetOp,
        ...t.nodes.filter((m) => m !== n).map((m): NetOp => ({ op: 'addRoute', dst: m.podCIDR, via: m.lanIP, dev: LAN_LINK })),
      ],
    })),
  ];
  for (const leg of legs) {
    steps.push({
      step: 2, netns: leg.netns, ops: [
        { op: 'setUp', link: 'lo' },
        { op: 'addVeth', name: LAN_LINK, peer: leg.port, peerNetns: t.lan.netns },
        { op: 'setAddr', link: LAN_LINK, cidr: `${leg.ip}/${lanPrefix}` },
        { op: 'setUp', link: LAN_LINK },
        ...leg.extra,
      ],
    });
  }
  steps.push({
    step: 3, netns: t.lan.netns,
    ops: legs.flatMap((l): NetOp[] => [{ op: 'setMaster', link: l.port, master: t.lan.bridge }, { op: 'setUp', link: l.port }]),
  });
  // Default routes last: the gateway is reachable only once the LAN ports are up.
  for (const leg of legs) {
    steps.push({ step: 4, netns: leg.netns, ops: [{ op: 'addRoute', dst: 'default', via: t.lan.gatewayIP, dev: LAN_LINK }] });
  }
  return steps;
}

/**
 * No ICMP redirects from a node. A node that forwards a client's packet back
 * out of the LAN leg it came in on (its NodePort or LB IP → a pod on another
 * node) sends the client a redirect, "that node is closer". Useless here (the
 * DNAT had to happen on this node), and harmful: Linux charges redirects to the
 * per-host token bucket of the ICMP rate limit (net.ipv4.icmp_ratelimit, 1 s),
 * so the port-unreachable of a REJECT that follows is suppressed and the client
 * sees the refusal only on its SYN retransmitted a second later. The effective
 * value is conf/all OR conf/<link>: both go to 0, and conf/default for the
 * links made later (pod veths).
 */
export const NODE_SYSCTLS: readonly (readonly [string, string])[] = [
  ['net.ipv4.conf.all.send_redirects', '0'],
  ['net.ipv4.conf.default.send_redirects', '0'],
  [`net.ipv4.conf.${LAN_LINK}.send_redirects`, '0'],
];

/** Removes any leftover of `prefix`, then builds the topology. On failure, removes what it made. */
export async function createTopology(o: TopologyOptions): Promise<Topology> {
  const t = planTopology(o);
  const netns = o.netns ?? new IpNetns();
  await destroyTopology(o.prefix, { netns });
  try {
    await Promise.all([t.lan.netns, t.client.netns, ...t.nodes.map((n) => n.netns)].map((n) => netns.createNamespace(n)));
    const steps = topologyOps(t);
    for (const step of [1, 2, 3, 4]) {
      await Promise.all(steps.filter((s) => s.step === step).map((s) => netns.apply(s.netns, s.ops)));
    }
    await Promise.all(t.nodes.map(async (n) => {
      await netns.sysctl(n.netns, 'net.ipv4.ip_forward', '1');
      for (const [k, v] of NODE_SYSCTLS) await netns.sysctl(n.netns, k, v);
    }));
    return t;
  } catch (e) {
    await destroyTopology(o.prefix, { netns }).catch(() => undefined);
    throw e;
  }
}

/**
 * Removes every namespace this prefix names (pods first, so their processes
 * are gone before the nodes they hang off), killing what runs inside, and
 * their /etc/netns directories. Returns the namespaces removed.
 */
export async function destroyTopology(prefix: string, o: { netns?: Netns } = {}): Promise<{ removed: string[] }> {
  validatePrefix(prefix);
  const netns = o.netns ?? new IpNetns();
  const ours = (await netns.listNamespaces(`${prefix}-`)).filter((n) => isClusterNetns(prefix, n));
  const rank = (n: string): number => (isPodNetns(prefix, n) ? 0 : n === lanNetnsName(prefix) ? 2 : 1);
  for (const r of [0, 1, 2]) {
    await Promise.all(ours.filter((n) => rank(n) === r).map(async (n) => {
      await netns.killAll(n);
      await netns.deleteNamespace(n);
      await netns.removeEtcDir(n);
    }));
  }
  for (const d of await netns.listEtcDirs(`${prefix}-`)) if (isClusterNetns(prefix, d)) await netns.removeEtcDir(d);
  return { removed: ours };
}
