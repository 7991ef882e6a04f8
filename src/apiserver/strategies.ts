// Per-kind registry strategies (kube-apiserver's pkg/registry/<group>/<kind>/strategy.go):
// what create resets, what update keeps, defaulting and validation hooks.
import type { FieldError } from '../api/errors.js';
import { applyDefaults, validateObject, validateObjectUpdate } from './kinds.js';
import { clone, nowTimestamp, type Obj, type Strategy } from './registry/generic.js';
import { serviceAllocation } from './registry/service.js';
import { ValidateServiceStatusUpdate } from '../api/validation/service.js';
import type { Service } from 'kubernetes-types/core/v1.js';

export interface ClusterConfig {
  /** --service-cluster-ip-range: one CIDR, or two (IPv4,IPv6) for dual stack. */
  serviceClusterIPRange: string;
  /** --service-node-port-range, e.g. 30000-32767. */
  serviceNodePortRange: string;
}

/** What the apiserver exposes to strategies: registries and the store, nothing else. */
export interface StrategyHost {
  readonly store: import('../storage/store.js').Store;
}

/** Status updates may change status only: metadata as kube's ResetObjectMetaForStatus, spec from the old object. */
function keepAllButStatus(obj: Obj, old: Obj): void {
  for (const k of Object.keys(obj)) if (k !== 'status' && k !== 'metadata' && k !== 'apiVersion' && k !== 'kind') delete obj[k];
  for (const k of Object.keys(old)) if (k !== 'status' && k !== 'metadata' && k !== 'apiVersion' && k !== 'kind') obj[k] = clone(old[k]);
  const md = obj.metadata;
  const o = old.metadata;
  md.labels = o.labels; md.annotations = o.annotations; md.finalizers = o.finalizers;
  md.ownerReferences = o.ownerReferences; md.generation = o.generation;
  for (const k of ['labels', 'annotations', 'finalizers', 'ownerReferences', 'generation'] as const) if (md[k] === undefined) delete md[k];
}

function keepStatus(obj: Obj, old: Obj): void {
  if (old['status'] !== undefined) obj['status'] = clone(old['status']);
  else delete obj['status'];
}

function validator(kind: string): Pick<Strategy, 'validate' | 'validateUpdate' | 'validateStatusUpdate'> {
  return {
    validate: (o: Obj): FieldError[] => validateObject(kind, o),
    validateUpdate: (o: Obj, old: Obj): FieldError[] => validateObjectUpdate(kind, o, old),
    validateStatusUpdate: (o: Obj, old: Obj): FieldError[] => validateObjectUpdate(kind, o, old),
  };
}

function defaulter(kind: string): Pick<Strategy, 'defaults'> {
  return { defaults: (o: Obj) => applyDefaults(kind, o) };
}

export function strategies(host: StrategyHost, config: ClusterConfig): Record<string, Strategy> {
  const withStatus = (kind: string, resetOnCreate: (o: Obj) => void, extra: Partial<Strategy> = {}): Strategy => ({
    ...validator(kind),
    ...defaulter(kind),
    prepareForCreate: resetOnCreate,
    prepareForUpdate: keepStatus,
    prepareForStatusUpdate: keepAllButStatus,
    ...extra,
  });
  const plain = (kind: string, extra: Partial<Strategy> = {}): Strategy => ({ ...validator(kind), ...defaulter(kind), ...extra });
  return {
    Namespace: withStatus('Namespace', (o) => {
      o['status'] = { phase: 'Active' };
      const spec = (o['spec'] ?? {}) as { finalizers?: string[] };
      if (!spec.finalizers) spec.finalizers = ['kubernetes'];
      o['spec'] = spec;
      if (!o.metadata.labels) o.metadata.labels = {};
      // Every namespace carries its own name as a label (NamespaceDefaultLabelName, k8s 1.21+).
      o.metadata.labels['kubernetes.io/metadata.name'] = o.metadata.name ?? '';
    }, {
      prepareForUpdate: (o, old) => {
        keepStatus(o, old);
        // spec.finalizers change only through /finalize.
        o['spec'] = clone(old['spec']);
        if (!o.metadata.labels) o.metadata.labels = {};
        o.metadata.labels['kubernetes.io/metadata.name'] = old.metadata.name ?? '';
      },
      gracefulDeletion: (o) => ((o['spec'] as { finalizers?: string[] } | undefined)?.finalizers?.length ? 1 : undefined),
    }),
    // A node's status is written by its agent at registration, so create keeps it.
    Node: withStatus('Node', () => undefined),
    Pod: withStatus('Pod', (o) => {
      o['status'] = { phase: 'Pending', qosClass: 'BestEffort' };
    }, {
      gracefulDeletion: (o, grace) => {
        const spec = o['spec'] as { nodeName?: string; terminationGracePeriodSeconds?: number } | undefined;
        // An unscheduled pod has nobody to stop it: it goes at once (kube's pod strategy CheckGracefulDelete).
        if (!spec?.nodeName) return undefined;
        const status = o['status'] as { phase?: string } | undefined;
        if (status?.phase === 'Succeeded' || status?.phase === 'Failed') return undefined;
        const g = grace ?? spec.terminationGracePeriodSeconds ?? 30;
        return g > 0 ? g : undefined;
      },
    }),
    Service: withStatus('Service', (o) => { o['status'] = { loadBalancer: {} }; }, {
      tracksGeneration: false,
      // kube-apiserver allocates before it validates (a Local-policy LoadBalancer is only
      // valid once its healthCheckNodePort exists): admitService in txnExtras does both.
      validate: undefined,
      validateUpdate: undefined,
      validateStatusUpdate: (o, old) => ValidateServiceStatusUpdate(o as unknown as Service, old as unknown as Service),
      txnExtras: serviceAllocation(host.store, config),
    }),
    Endpoints: plain('Endpoints'),
    EndpointSlice: plain('EndpointSlice'),
    Event: plain('Event'),
    ConfigMap: plain('ConfigMap'),
    Lease: plain('Lease'),
    Deployment: withStatus('Deployment', (o) => { delete o['status']; }, { tracksGeneration: true }),
    ReplicaSet: withStatus('ReplicaSet', (o) => { delete o['status']; }, { tracksGeneration: true }),
  };
}

export { nowTimestamp };
