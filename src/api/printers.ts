// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for
// (Accept: application/json;as=Table;v=v1;g=meta.k8s.io) and prints as is.
// Columns, cell texts and cell types follow kube-apiserver 1.32's
// pkg/printers/internalversion/printers.go.
//
// kube-apiserver always generates the wide form (printers/storage passes
// Wide: true): every row carries the priority-1 cells too, and kubectl hides
// those columns unless `-o wide`. The row functions here therefore always
// return all cells.
//
// The objects are v1 JSON objects (kubernetes-types); where printers.go reads a
// field of the internal type that v1 spells differently (podIPs vs podIP,
// clusterIPs vs clusterIP) the v1→internal conversion rule is applied here.
import type { ObjectMeta, LabelSelector } from 'kubernetes-types/meta/v1.js';
import type {
  ConfigMap, Endpoints, Event, Namespace, Node, Pod, ContainerStatus, Service,
} from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { ResourceInfo } from './resources.js';
import { groupVersion } from './resources.js';
import { humanDuration, parseTime, translateTimestampSince } from './duration.js';
import { formatLabelSelector, formatLabels, labelSelectorAsRequirements, toString as selectorString } from './labels.js';

// ---------------------------------------------------------------------------
// meta.k8s.io/v1 Table (kubernetes-types has no type for it)

export interface TableColumnDefinition {
  name: string;
  /** OpenAPI type: string, integer, number, boolean, date. */
  type: string;
  /** OpenAPI format; "name" marks the column holding the object's name. */
  format: string;
  description: string;
  /** 0: always shown; 1: shown by kubectl only with `-o wide`. */
  priority: number;
}

export interface TableRowCondition {
  type: 'Completed';
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

export type Cell = string | number | boolean;

export interface PartialObjectMetadata {
  kind: 'PartialObjectMetadata';
  apiVersion: string;
  metadata: ObjectMeta;
}

export interface TableRow {
  cells: Cell[];
  conditions?: TableRowCondition[];
  /** Per includeObject: the whole object, its PartialObjectMetadata, or null. */
  object: object | null;
}

export interface Table {
  kind: 'Table';
  apiVersion: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

export type IncludeObject = 'None' | 'Object' | 'Metadata';

/** How one kind is printed. */
export interface Printer {
  readonly columns: readonly TableColumnDefinition[];
  /** All cells, wide ones included, in column order. */
  row(obj: object, now: Date): Cell[];
  /** Row conditions (pods that completed or failed). */
  conditions?(obj: object): TableRowCondition[] | undefined;
}

// ---------------------------------------------------------------------------
// Column descriptions: the SwaggerDoc strings printers.go takes them from.

const doc = {
  name: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  creationTimestamp: 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
  podIP: 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.',
  nodeName: 'NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements.',
  nominatedNodeName: 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.',
  readinessGates: 'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates',
  serviceType: 'type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is "None", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. "NodePort" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. "LoadBalancer" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. "ExternalName" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types',
  clusterIP: 'clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are "None", empty string (""), or a valid IP address. Setting this to "None" makes a "headless service" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies',
  externalIPs: 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.',
  servicePorts: 'The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies',
  serviceSelector: 'Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/',
  subsets: 'The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.',
  kubeletVersion: 'Kubelet Version reported by the node.',
  addresses: "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/concepts/nodes/node/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).",
  osImage: 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).',
  kernelVersion: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
  containerRuntimeVersion: 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).',
  lastTimestamp: 'The time at which the most recent occurrence of this event was recorded.',
  eventType: 'Type of this event (Normal, Warning), new types could be added in the future',
  reason: "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
  involvedObject: 'The object that this event is about.',
  fieldPath: 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: "spec.containers{name}" (where "name" refers to the name of the container that triggered the event) or if no container name is specified "spec.containers[2]" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.',
  source: 'The component reporting this event. Should be a short machine understandable string.',
  message: 'A human-readable description of the status of this operation.',
  firstTimestamp: 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)',
  count: 'The number of times this event has occurred.',
  configMapData: "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
  addressType: 'addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.',
  slicePorts: 'ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates "all ports". Each slice may include a maximum of 100 ports.',
  sliceEndpoints: 'endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.',
  updatedReplicas: 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
  availableReplicas: 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
  deploymentSelector: "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
  rsReplicas: 'Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller',
  rsStatusReplicas: 'Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller',
  rsReadyReplicas: 'readyReplicas is the number of pods targeted by this ReplicaSet with a Ready Condition.',
  rsSelector: "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
  holderIdentity: 'holderIdentity contains the identity of the holder of a current lease.',
  containers: 'Names of each container in the template.',
  images: 'Images referenced by each container in the template.',
} as const;

function col(name: string, type: string, description: string, extra: { format?: string; priority?: number } = {}): TableColumnDefinition {
  return { name, type, format: extra.format ?? '', description, priority: extra.priority ?? 0 };
}
const nameCol = col('Name', 'string', doc.name, { format: 'name' });
const ageCol = col('Age', 'string', doc.creationTimestamp);
const wide = { priority: 1 } as const;

// ---------------------------------------------------------------------------
// Helpers shared by the printers

const age = (meta: ObjectMeta | undefined, now: Date): string => translateTimestampSince(meta?.creationTimestamp, now);
const nameOf = (meta: ObjectMeta | undefined): string => meta?.name ?? '';

/** "c1,c2" and "img1,img2" (layoutContainerCells). */
function layoutContainerCells(containers: readonly { name: string; image?: string }[] | undefined): [string, string] {
  const cs = containers ?? [];
  return [cs.map((c) => c.name).join(','), cs.map((c) => c.image ?? '').join(',')];
}

/** net.JoinHostPort: IPv6 literals get brackets. */
function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** First `max` items, then " + N more..."; `<unset>` for none (listWithMoreString). */
function listWithMore(list: string[], total: number, max: number): string {
  const ret = list.join(',');
  if (total > max) return `${ret} + ${total - max} more...`;
  return ret === '' ? '<unset>' : ret;
}

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---------------------------------------------------------------------------
// Namespace

const namespacePrinter: Printer = {
  columns: [nameCol, col('Status', 'string', 'The status of the namespace'), ageCol],
  row(obj, now) {
    const ns = obj as Namespace;
    return [nameOf(ns.metadata), ns.status?.phase ?? '', age(ns.metadata, now)];
  },
};

// ---------------------------------------------------------------------------
// Node

const labelNodeRolePrefix = 'node-role.kubernetes.io/';
const nodeLabelRole = 'kubernetes.io/role';

/** Roles from node-role.kubernetes.io/<role> keys and the older kubernetes.io/role=<role>. */
function findNodeRoles(node: Node): string[] {
  const roles: string[] = [];
  for (const [k, v] of Object.entries(node.metadata?.labels ?? {})) {
    if (k.startsWith(labelNodeRolePrefix)) {
      const role = k.slice(labelNodeRolePrefix.length);
      if (role) roles.push(role);
    } else if (k === nodeLabelRole && v !== '') {
      roles.push(v);
    }
  }
  return sortedUnique(roles);
}

function nodeAddress(node: Node, type: string): string {
  return node.status?.addresses?.find((a) => a.type === type)?.address ?? '<none>';
}

const nodePrinter: Printer = {
  columns: [
    nameCol,
    col('Status', 'string', 'The status of the node'),
    col('Roles', 'string', 'The roles of the node'),
    ageCol,
    col('Version', 'string', doc.kubeletVersion),
    col('Internal-IP', 'string', doc.addresses, wide),
    col('External-IP', 'string', doc.addresses, wide),
    col('OS-Image', 'string', doc.osImage, wide),
    col('Kernel-Version', 'string', doc.kernelVersion, wide),
    col('Container-Runtime', 'string', doc.containerRuntimeVersion, wide),
  ],
  row(obj, now) {
    const node = obj as Node;
    // Only the Ready condition counts; a later duplicate wins, as in a Go map.
    let ready: string | undefined;
    for (const c of node.status?.conditions ?? []) if (c.type === 'Ready') ready = c.status;
    const status: string[] = [ready === undefined ? 'Unknown' : ready === 'True' ? 'Ready' : 'NotReady'];
    if (node.spec?.unschedulable) status.push('SchedulingDisabled');
    const roles = findNodeRoles(node).join(',') || '<none>';
    const info = node.status?.nodeInfo;
    return [
      nameOf(node.metadata), status.join(','), roles, age(node.metadata, now), info?.kubeletVersion ?? '',
      nodeAddress(node, 'InternalIP'), nodeAddress(node, 'ExternalIP'),
      info?.osImage || '<unknown>', info?.kernelVersion || '<unknown>', info?.containerRuntimeVersion || '<unknown>',
    ];
  },
};

// ---------------------------------------------------------------------------
// Pod

const podSucceeded: TableRowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }];
const podFailed: TableRowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];

/** Sidecar containers: init containers with restartPolicy Always (KEP-753). */
function isRestartableInitContainer(c: { restartPolicy?: string } | undefined): boolean {
  return c?.restartPolicy === 'Always';
}

/** The later of `cur` and the container's last termination time. */
function laterRestart(cur: number | undefined, cs: ContainerStatus): number | undefined {
  const t = parseTime(cs.lastState?.terminated?.finishedAt);
  if (t === undefined) return cur;
  return cur === undefined || cur < t ? t : cur;
}

/** Name, READY, STATUS, RESTARTS and the wide cells, as printPod computes them. */
function podRow(pod: Pod, now: Date): Cell[] {
  const spec = pod.spec;
  const status = pod.status ?? {};
  let restarts = 0;
  let restartableInitRestarts = 0;
  let totalContainers = spec?.containers?.length ?? 0;
  let readyContainers = 0;
  let lastRestart: number | undefined;
  let lastRestartableInitRestart: number | undefined;

  const podPhase = status.phase ?? '';
  let reason = status.reason || podPhase;
  // A pod held back by scheduling gates says so rather than "Pending".
  for (const c of status.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }

  const initContainers = new Map<string, { restartPolicy?: string }>();
  for (const c of spec?.initContainers ?? []) {
    initContainers.set(c.name, c);
    if (isRestartableInitContainer(c)) totalContainers++;
  }

  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i]!;
    restarts += cs.restartCount ?? 0;
    lastRestart = laterRestart(lastRestart, cs);
    const restartable = isRestartableInitContainer(initContainers.get(cs.name));
    if (restartable) {
      restartableInitRestarts += cs.restartCount ?? 0;
      lastRestartableInitRestart = laterRestart(lastRestartableInitRestart, cs);
    }
    const terminated = cs.state?.terminated;
    const waiting = cs.state?.waiting;
    if (terminated && terminated.exitCode === 0) continue;
    if (restartable && cs.started === true) {
      if (cs.ready) readyContainers++;
      continue;
    }
    if (terminated) {
      // The init phase failed.
      if (!terminated.reason) {
        reason = terminated.signal ? `Init:Signal:${terminated.signal}` : `Init:ExitCode:${terminated.exitCode}`;
      } else {
        reason = `Init:${terminated.reason}`;
      }
    } else if (waiting?.reason && waiting.reason !== 'PodInitializing') {
      reason = `Init:${waiting.reason}`;
    } else {
      reason = `Init:${i}/${spec?.initContainers?.length ?? 0}`;
    }
    initializing = true;
    break;
  }

  const initializedTrue = (status.conditions ?? []).some((c) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initializedTrue) {
    restarts = restartableInitRestarts;
    lastRestart = lastRestartableInitRestart;
    let hasRunning = false;
    const statuses = status.containerStatuses ?? [];
    // Walked backwards so that the first container's state has the last word.
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i]!;
      restarts += cs.restartCount ?? 0;
      lastRestart = laterRestart(lastRestart, cs);
      const waiting = cs.state?.waiting;
      const terminated = cs.state?.terminated;
      if (waiting?.reason) {
        reason = waiting.reason;
      } else if (terminated?.reason) {
        reason = terminated.reason;
      } else if (terminated) {
        reason = terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode}`;
      } else if (cs.ready && cs.state?.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    // One container completed while another still runs: report the pod, not the container.
    if (reason === 'Completed' && hasRunning) {
      const podReady = (status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
      reason = podReady ? 'Running' : 'NotReady';
    }
  }

  const deleting = !!pod.metadata?.deletionTimestamp;
  if (deleting && status.reason === 'NodeLost') {
    reason = 'Unknown';
  } else if (deleting && podPhase !== 'Succeeded' && podPhase !== 'Failed') {
    reason = 'Terminating';
  }

  let restartsCell = String(restarts);
  if (restarts !== 0 && lastRestart !== undefined) {
    restartsCell = `${restarts} (${humanDuration(now.getTime() - lastRestart)} ago)`;
  }

  // v1 may carry only status.podIP; the internal type's podIPs[0] is that IP.
  const podIP = (status.podIPs && status.podIPs.length > 0 ? status.podIPs[0]!.ip : status.podIP) || '<none>';
  let readinessGates = '<none>';
  const gates = spec?.readinessGates ?? [];
  if (gates.length > 0) {
    let trueConditions = 0;
    for (const g of gates) {
      const c = (status.conditions ?? []).find((x) => x.type === g.conditionType);
      if (c?.status === 'True') trueConditions++;
    }
    readinessGates = `${trueConditions}/${gates.length}`;
  }

  return [
    nameOf(pod.metadata), `${readyContainers}/${totalContainers}`, reason, restartsCell, age(pod.metadata, now),
    podIP, spec?.nodeName || '<none>', status.nominatedNodeName || '<none>', readinessGates,
  ];
}

const podPrinter: Printer = {
  columns: [
    nameCol,
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    ageCol,
    col('IP', 'string', doc.podIP, wide),
    col('Node', 'string', doc.nodeName, wide),
    col('Nominated Node', 'string', doc.nominatedNodeName, wide),
    col('Readiness Gates', 'string', doc.readinessGates, wide),
  ],
  row: (obj, now) => podRow(obj as Pod, now),
  conditions(obj) {
    const phase = (obj as Pod).status?.phase;
    return phase === 'Succeeded' ? podSucceeded : phase === 'Failed' ? podFailed : undefined;
  },
};

// ---------------------------------------------------------------------------
// Service

/** Clipped width of the EXTERNAL-IP cell outside wide output. */
const loadBalancerWidth = 16;

/** Sorted, de-duplicated ingress IPs (or hostnames), clipped unless wide. */
function loadBalancerStatusString(svc: Service, isWide: boolean): string {
  const items: string[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    if (ing.ip) items.push(ing.ip);
    else if (ing.hostname) items.push(ing.hostname);
  }
  let r = sortedUnique(items).join(',');
  if (!isWide && r.length > loadBalancerWidth) r = `${r.slice(0, loadBalancerWidth - 3)}...`;
  return r;
}

function serviceExternalIP(svc: Service, isWide: boolean): string {
  const externalIPs = svc.spec?.externalIPs ?? [];
  switch (svc.spec?.type) {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = loadBalancerStatusString(svc, isWide);
      if (externalIPs.length > 0) return [...(lb ? lb.split(',') : []), ...externalIPs].join(',');
      return lb || '<pending>';
    }
    case 'ExternalName':
      return svc.spec.externalName ?? '';
    default:
      return '<unknown>';
  }
}

/** "80/TCP", "80:30080/TCP", joined by ",". */
function servicePorts(svc: Service): string {
  const pieces = (svc.spec?.ports ?? []).map((p) => {
    const protocol = p.protocol ?? 'TCP';
    return p.nodePort && p.nodePort > 0 ? `${p.port}:${p.nodePort}/${protocol}` : `${p.port}/${protocol}`;
  });
  return pieces.join(',') || '<none>';
}

const servicePrinter: Printer = {
  columns: [
    nameCol,
    col('Type', 'string', doc.serviceType),
    col('Cluster-IP', 'string', doc.clusterIP),
    col('External-IP', 'string', doc.externalIPs),
    col('Port(s)', 'string', doc.servicePorts),
    ageCol,
    col('Selector', 'string', doc.serviceSelector, wide),
  ],
  row(obj, now) {
    const svc = obj as Service;
    // The internal type only has clusterIPs; v1's clusterIP alone converts to [clusterIP].
    const clusterIPs = svc.spec?.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec?.clusterIP ? [svc.spec.clusterIP] : [];
    // kube-apiserver prints tables wide, so the load-balancer list is never clipped.
    return [
      nameOf(svc.metadata), svc.spec?.type ?? '', clusterIPs[0] ?? '<none>', serviceExternalIP(svc, true),
      servicePorts(svc), age(svc.metadata, now), formatLabels(svc.spec?.selector),
    ];
  },
};

// ---------------------------------------------------------------------------
// Endpoints and EndpointSlices

/** "ip:port" for every address and port, first three then " + N more...", `<none>` when no subsets. */
function formatEndpoints(ep: Endpoints): string {
  const subsets = ep.subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const list: string[] = [];
  let count = 0;
  for (const ss of subsets) {
    const addrs = ss.addresses ?? [];
    const ports = ss.ports ?? [];
    if (ports.length === 0) {
      // Headless services may have no ports at all: list the bare IPs.
      count += addrs.length;
      for (const a of addrs) { if (list.length === max) break; list.push(a.ip); }
      continue;
    }
    for (const p of ports) {
      count += addrs.length;
      for (const a of addrs) { if (list.length === max) break; list.push(joinHostPort(a.ip, p.port)); }
    }
  }
  const ret = list.join(',');
  return count > max ? `${ret} + ${count - max} more...` : ret;
}

const endpointsPrinter: Printer = {
  columns: [nameCol, col('Endpoints', 'string', doc.subsets), ageCol],
  row(obj, now) {
    const ep = obj as Endpoints;
    return [nameOf(ep.metadata), formatEndpoints(ep), age(ep.metadata, now)];
  },
};

const endpointSlicePrinter: Printer = {
  columns: [
    nameCol,
    col('AddressType', 'string', doc.addressType),
    col('Ports', 'string', doc.slicePorts),
    col('Endpoints', 'string', doc.sliceEndpoints),
    ageCol,
  ],
  row(obj, now) {
    const slice = obj as EndpointSlice;
    const max = 3;
    const ports = slice.ports ?? [];
    // A port without a number means "all ports": shown by name, or "*".
    const portList = ports.slice(0, max).map((p) => (p.port !== undefined && p.port !== null ? String(p.port) : p.name ?? '*'));
    const addresses = (slice.endpoints ?? []).flatMap((e) => e.addresses ?? []);
    return [
      nameOf(slice.metadata), slice.addressType ?? '', listWithMore(portList, ports.length, max),
      listWithMore(addresses.slice(0, max), addresses.length, max), age(slice.metadata, now),
    ];
  },
};

// ---------------------------------------------------------------------------
// Event

function eventRow(ev: Event, now: Date): Cell[] {
  let firstTimestamp = translateTimestampSince(ev.firstTimestamp, now);
  if (parseTime(ev.firstTimestamp) === undefined) firstTimestamp = translateTimestampSince(ev.eventTime, now);
  let lastTimestamp = translateTimestampSince(ev.lastTimestamp, now);
  if (parseTime(ev.lastTimestamp) === undefined) lastTimestamp = firstTimestamp;
  let count = ev.count ?? 0;
  if (ev.series) {
    lastTimestamp = translateTimestampSince(ev.series.lastObservedTime, now);
    count = ev.series.count ?? 0;
  } else if (count === 0) {
    // Singleton events written through events.k8s.io carry no count.
    count = 1;
  }
  const kind = (ev.involvedObject?.kind ?? '').toLowerCase();
  const target = ev.involvedObject?.name ? `${kind}/${ev.involvedObject.name}` : kind;
  // SOURCE falls back to the events.k8s.io reporter fields.
  const component = ev.source?.component || ev.reportingComponent || '';
  const instance = ev.source?.host || ev.reportingInstance || '';
  const source = instance ? `${component}, ${instance}` : component;
  return [
    lastTimestamp, ev.type ?? '', ev.reason ?? '', target, ev.involvedObject?.fieldPath ?? '', source,
    (ev.message ?? '').trim(), firstTimestamp, count, nameOf(ev.metadata),
  ];
}

const eventPrinter: Printer = {
  // Note the order: SUBOBJECT and SOURCE sit between OBJECT and MESSAGE, but are wide-only.
  columns: [
    col('Last Seen', 'string', doc.lastTimestamp),
    col('Type', 'string', doc.eventType),
    col('Reason', 'string', doc.reason),
    col('Object', 'string', doc.involvedObject),
    col('Subobject', 'string', doc.fieldPath, wide),
    col('Source', 'string', doc.source, wide),
    col('Message', 'string', doc.message),
    col('First Seen', 'string', doc.firstTimestamp, wide),
    col('Count', 'string', doc.count, wide),
    col('Name', 'string', doc.name, { priority: 1, format: 'name' }),
  ],
  row: (obj, now) => eventRow(obj as Event, now),
};

// ---------------------------------------------------------------------------
// ConfigMap, Lease

const configMapPrinter: Printer = {
  columns: [nameCol, col('Data', 'string', doc.configMapData), ageCol],
  row(obj, now) {
    const cm = obj as ConfigMap;
    return [nameOf(cm.metadata), Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length, age(cm.metadata, now)];
  },
};

const leasePrinter: Printer = {
  columns: [nameCol, col('Holder', 'string', doc.holderIdentity), ageCol],
  row(obj, now) {
    const lease = obj as Lease;
    return [nameOf(lease.metadata), lease.spec?.holderIdentity ?? '', age(lease.metadata, now)];
  },
};

// ---------------------------------------------------------------------------
// Deployment, ReplicaSet

/** Deployments print the selector bare: "" when empty, `<invalid>` when it does not convert. */
function deploymentSelector(sel: LabelSelector | undefined): string {
  try {
    const reqs = labelSelectorAsRequirements(sel);
    return reqs === null ? '' : selectorString(reqs);
  } catch {
    return '<invalid>';
  }
}

const deploymentPrinter: Printer = {
  columns: [
    nameCol,
    col('Ready', 'string', 'Number of the pod with ready state'),
    col('Up-to-date', 'string', doc.updatedReplicas),
    col('Available', 'string', doc.availableReplicas),
    ageCol,
    col('Containers', 'string', doc.containers, wide),
    col('Images', 'string', doc.images, wide),
    col('Selector', 'string', doc.deploymentSelector, wide),
  ],
  row(obj, now) {
    const d = obj as Deployment;
    // spec.replicas is defaulted to 1 on create; an undefaulted object reads the same.
    const desired = d.spec?.replicas ?? 1;
    const [names, images] = layoutContainerCells(d.spec?.template?.spec?.containers);
    return [
      nameOf(d.metadata), `${d.status?.readyReplicas ?? 0}/${desired}`, d.status?.updatedReplicas ?? 0,
      d.status?.availableReplicas ?? 0, age(d.metadata, now), names, images, deploymentSelector(d.spec?.selector),
    ];
  },
};

const replicaSetPrinter: Printer = {
  columns: [
    nameCol,
    col('Desired', 'integer', doc.rsReplicas),
    col('Current', 'integer', doc.rsStatusReplicas),
    col('Ready', 'integer', doc.rsReadyReplicas),
    ageCol,
    col('Containers', 'string', doc.containers, wide),
    col('Images', 'string', doc.images, wide),
    col('Selector', 'string', doc.rsSelector, wide),
  ],
  row(obj, now) {
    const rs = obj as ReplicaSet;
    const [names, images] = layoutContainerCells(rs.spec?.template?.spec?.containers);
    return [
      nameOf(rs.metadata), rs.spec?.replicas ?? 1, rs.status?.replicas ?? 0, rs.status?.readyReplicas ?? 0,
      age(rs.metadata, now), names, images, formatLabelSelector(rs.spec?.selector),
    ];
  },
};

// ---------------------------------------------------------------------------
// Registry and Table assembly

/** Printers by kind, for every resource in resources.ts. */
export const printers: Readonly<Record<string, Printer>> = Object.freeze({
  Namespace: namespacePrinter,
  Node: nodePrinter,
  Pod: podPrinter,
  Service: servicePrinter,
  Endpoints: endpointsPrinter,
  EndpointSlice: endpointSlicePrinter,
  Event: eventPrinter,
  ConfigMap: configMapPrinter,
  Deployment: deploymentPrinter,
  ReplicaSet: replicaSetPrinter,
  Lease: leasePrinter,
});

/**
 * kube-apiserver's default table convertor (registry/rest/table.go), for kinds
 * without a printer: NAME and CREATED AT.
 */
const defaultPrinter: Printer = {
  columns: [
    nameCol,
    col('Created At', 'date', doc.creationTimestamp),
  ],
  row(obj) {
    const meta = (obj as { metadata?: ObjectMeta }).metadata;
    const t = parseTime(meta?.creationTimestamp);
    // Go formats the time in UTC with RFC 3339 at second precision.
    return [nameOf(meta), t === undefined ? '' : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z')];
  },
};

export function printerFor(resource: Pick<ResourceInfo, 'kind'>): Printer {
  return Object.prototype.hasOwnProperty.call(printers, resource.kind) ? printers[resource.kind]! : defaultPrinter;
}

export interface TableOptions {
  now: Date;
  /**
   * What each row's `object` holds. kube-apiserver defaults to Metadata when
   * the request names none; kubectl asks for Object only with --sort-by.
   */
  includeObject: IncludeObject;
  /** List metadata to carry over (a single GET passes the object's resourceVersion). */
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
  /** TableOptions.noHeaders: leave out the column definitions. */
  noHeaders?: boolean;
  /** The Table's group version as negotiated: meta.k8s.io/v1 (default) or meta.k8s.io/v1beta1. */
  tableVersion?: 'meta.k8s.io/v1' | 'meta.k8s.io/v1beta1';
}

function rowObject(resource: ResourceInfo, obj: object, include: IncludeObject, tableVersion: string): object | null {
  switch (include) {
    case 'None':
      return null;
    case 'Object':
      // The row carries the object in the request's version, typed.
      return { apiVersion: groupVersion(resource), kind: resource.kind, ...obj };
    case 'Metadata':
    default: {
      const partial: PartialObjectMetadata = {
        kind: 'PartialObjectMetadata',
        apiVersion: tableVersion,
        metadata: (obj as { metadata?: ObjectMeta }).metadata ?? {},
      };
      return partial;
    }
  }
}

/**
 * A meta.k8s.io Table for `objs` of `resource`: all columns (wide included),
 * one row per object in the given order.
 */
export function tableFor(resource: ResourceInfo, objs: readonly object[], opts: TableOptions): Table {
  const printer = printerFor(resource);
  const tableVersion = opts.tableVersion ?? 'meta.k8s.io/v1';
  const metadata: Table['metadata'] = {};
  if (opts.resourceVersion) metadata.resourceVersion = opts.resourceVersion;
  if (opts.continue) metadata.continue = opts.continue;
  if (opts.remainingItemCount !== undefined) metadata.remainingItemCount = opts.remainingItemCount;
  const rows: TableRow[] = objs.map((obj) => {
    const row: TableRow = { cells: printer.row(obj, opts.now), object: rowObject(resource, obj, opts.includeObject, tableVersion) };
    const conditions = printer.conditions?.(obj);
    if (conditions) row.conditions = conditions;
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: tableVersion,
    metadata,
    columnDefinitions: opts.noHeaders ? [] : printer.columns.map((c) => ({ ...c })),
    rows,
  };
}
