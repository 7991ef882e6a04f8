// The Node object and its Lease as kubelet writes them (pkg/kubelet/
// kubelet_node_status.go, nodestatus/setters.go, nodelease). Pure: host facts
// are read once at the edge (agent.ts) and passed in.
import type { Node, NodeCondition, NodeStatus } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';

export const KUBELET_VERSION = 'v1.32.4-svcnet';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_DURATION_SECONDS = 40;
/** kubelet's nodeStatusUpdateFrequency and the lease's renewInterval (0.25 × duration). */
export const HEARTBEAT_MS = 10_000;

export interface HostFacts {
  cpus: number;
  memoryBytes: number;
  kernelVersion: string;
  osImage: string;
  architecture: string;
  machineID: string;
  bootID: string;
  systemUUID: string;
}

/**
 * Where the API server reaches this node's kubelet endpoint (cluster/kubelet-server.ts)
 * when it is not the node's InternalIP: a svcnet node's addresses live in its network
 * namespace, the agent process that serves the endpoint in the host's.
 */
export const KUBELET_ADDRESS_ANNOTATION = 'svcnet.io/kubelet-address';

export interface NodeIdentity {
  nodeName: string;
  internalIP: string;
  podCIDR: string;
  maxPods: number;
  /** The kubelet endpoint this agent serves (status.daemonEndpoints; kubelet's default port 10250 when none). */
  kubeletEndpoint?: { address: string; port: number };
}

/** Node labels kubelet sets on registration. */
export function nodeLabels(id: NodeIdentity, h: HostFacts): Record<string, string> {
  return {
    'beta.kubernetes.io/arch': h.architecture,
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': h.architecture,
    'kubernetes.io/hostname': id.nodeName,
    'kubernetes.io/os': 'linux',
  };
}

function condition(type: string, ok: boolean, reason: string, message: string, now: string, prev?: NodeCondition): NodeCondition {
  const status = ok ? 'True' : 'False';
  return {
    type, status, lastHeartbeatTime: now,
    lastTransitionTime: prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : now,
    reason, message,
  };
}

/** The status kubelet reports; lastTransitionTime kept from `prev` when a condition did not change. */
export function nodeStatus(id: NodeIdentity, h: HostFacts, now: string, prev?: NodeStatus): NodeStatus {
  const find = (t: string): NodeCondition | undefined => prev?.conditions?.find((c) => c.type === t);
  const memKi = `${Math.floor(h.memoryBytes / 1024)}Ki`;
  const resources = { cpu: String(h.cpus), 'ephemeral-storage': '0', memory: memKi, pods: String(id.maxPods) };
  return {
    addresses: [{ type: 'InternalIP', address: id.internalIP }, { type: 'Hostname', address: id.nodeName }],
    allocatable: { ...resources },
    capacity: { ...resources },
    conditions: [
      condition('MemoryPressure', false, 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available', now, find('MemoryPressure')),
      condition('DiskPressure', false, 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure', now, find('DiskPressure')),
      condition('PIDPressure', false, 'KubeletHasSufficientPID', 'kubelet has sufficient PID available', now, find('PIDPressure')),
      condition('Ready', true, 'KubeletReady', 'kubelet is posting ready status', now, find('Ready')),
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: id.kubeletEndpoint?.port ?? 10250 } },
    nodeInfo: {
      architecture: h.architecture, bootID: h.bootID, containerRuntimeVersion: 'svcnet://0.1.0',
      kernelVersion: h.kernelVersion, kubeProxyVersion: KUBELET_VERSION, kubeletVersion: KUBELET_VERSION,
      machineID: h.machineID, operatingSystem: 'linux', osImage: h.osImage, systemUUID: h.systemUUID,
    },
  };
}

export function nodeObject(id: NodeIdentity, h: HostFacts, now: string): Node {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: {
      name: id.nodeName, labels: nodeLabels(id, h),
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        ...(id.kubeletEndpoint ? { [KUBELET_ADDRESS_ANNOTATION]: id.kubeletEndpoint.address } : {}),
      },
    },
    spec: { podCIDR: id.podCIDR, podCIDRs: [id.podCIDR] },
    status: nodeStatus(id, h, now),
  };
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function leaseObject(nodeName: string, nodeUid: string | undefined, nowMs: number): Lease {
  const lease: Lease = {
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
    metadata: { name: nodeName, namespace: NODE_LEASE_NAMESPACE },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: microTime(nowMs) },
  };
  if (nodeUid) lease.metadata!.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }];
  return lease;
}
