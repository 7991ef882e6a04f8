// Service defaulting, as kube-apiserver's pkg/apis/core/v1 SetDefaults_Service
// applies it when it decodes a request (~v1.32). Note what is *not* here:
// clusterIP(s), ipFamilies and ipFamilyPolicy are filled at allocation time by
// the registry (registry/allocator/service.ts), never by defaulting.
import type { Service, ServiceStatus } from 'kubernetes-types/core/v1.js';

/** v1.DefaultClientIPServiceAffinitySeconds: three hours. */
export const DefaultClientIPServiceAffinitySeconds = 10800;

/** Mutates `svc` in place, like the generated Go defaulters. */
export function SetDefaults_Service(svc: Service): void {
  const spec = (svc.spec ??= {});
  if (!spec.sessionAffinity) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP') {
    const cfg = spec.sessionAffinityConfig;
    if (cfg?.clientIP?.timeoutSeconds === undefined || cfg.clientIP.timeoutSeconds === null) {
      spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: DefaultClientIPServiceAffinitySeconds } };
    }
  }
  if (!spec.type) spec.type = 'ClusterIP';
  for (const sp of spec.ports ?? []) {
    if (!sp.protocol) sp.protocol = 'TCP';
    // An unset IntOrString is int 0 (or ""): it means "the same as port".
    if (sp.targetPort === undefined || sp.targetPort === null || sp.targetPort === 0 || sp.targetPort === '') sp.targetPort = sp.port;
  }
  // Externally-accessible services (NodePort, LoadBalancer, or ClusterIP with
  // externalIPs) get externalTrafficPolicy Cluster.
  const externallyAccessible = spec.type === 'NodePort' || spec.type === 'LoadBalancer' ||
    (spec.type === 'ClusterIP' && (spec.externalIPs?.length ?? 0) > 0);
  if (externallyAccessible && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if (spec.internalTrafficPolicy === undefined || spec.internalTrafficPolicy === null) {
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || spec.type === 'ClusterIP') spec.internalTrafficPolicy = 'Cluster';
  }
  if (spec.type === 'LoadBalancer') {
    if (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null) spec.allocateLoadBalancerNodePorts = true;
    // LoadBalancerIPMode: an ingress IP without a mode is a VIP.
    const status = svc.status as ServiceStatus | undefined;
    for (const ing of status?.loadBalancer?.ingress ?? []) {
      if (ing.ip && !ing.ipMode) ing.ipMode = 'VIP';
    }
  }
}
