// One case per defaulting rule: what `kubectl get -o yaml` shows on a real
// cluster after the API server decoded the request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from 'kubernetes-types/core/v1.js';
import { withDefaults } from './index.js';
import { imageTag } from './pod.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function svc(spec: Obj, status?: Obj): Obj {
  const s: Obj = { metadata: { name: 's', namespace: 'default' }, spec };
  if (status) s.status = status;
  return withDefaults('Service', s as Service);
}

const serviceCases: { name: string; spec: Obj; status?: Obj; check: (s: Obj) => void }[] = [
  { name: 'type ClusterIP', spec: { ports: [{ port: 80 }] }, check: (s) => assert.equal(s.spec.type, 'ClusterIP') },
  { name: 'port protocol TCP', spec: { ports: [{ port: 80 }] }, check: (s) => assert.equal(s.spec.ports[0].protocol, 'TCP') },
  { name: 'targetPort = port', spec: { ports: [{ port: 80 }] }, check: (s) => assert.equal(s.spec.ports[0].targetPort, 80) },
  { name: 'targetPort 0 = port', spec: { ports: [{ port: 80, targetPort: 0 }] }, check: (s) => assert.equal(s.spec.ports[0].targetPort, 80) },
  { name: 'named targetPort kept', spec: { ports: [{ port: 80, targetPort: 'http' }] }, check: (s) => assert.equal(s.spec.ports[0].targetPort, 'http') },
  { name: 'sessionAffinity None', spec: {}, check: (s) => assert.equal(s.spec.sessionAffinity, 'None') },
  { name: 'sessionAffinityConfig dropped with None', spec: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } }, check: (s) => assert.equal(s.spec.sessionAffinityConfig, undefined) },
  { name: 'ClientIP timeout 10800', spec: { sessionAffinity: 'ClientIP' }, check: (s) => assert.deepEqual(s.spec.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } }) },
  { name: 'ClientIP timeout kept', spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }, check: (s) => assert.equal(s.spec.sessionAffinityConfig.clientIP.timeoutSeconds, 60) },
  { name: 'internalTrafficPolicy Cluster', spec: {}, check: (s) => assert.equal(s.spec.internalTrafficPolicy, 'Cluster') },
  { name: 'no internalTrafficPolicy for ExternalName', spec: { type: 'ExternalName', externalName: 'a.b' }, check: (s) => assert.equal(s.spec.internalTrafficPolicy, undefined) },
  { name: 'no externalTrafficPolicy for ClusterIP', spec: {}, check: (s) => assert.equal(s.spec.externalTrafficPolicy, undefined) },
  { name: 'externalTrafficPolicy Cluster for NodePort', spec: { type: 'NodePort' }, check: (s) => assert.equal(s.spec.externalTrafficPolicy, 'Cluster') },
  { name: 'externalTrafficPolicy Cluster for LoadBalancer', spec: { type: 'LoadBalancer' }, check: (s) => assert.equal(s.spec.externalTrafficPolicy, 'Cluster') },
  { name: 'externalTrafficPolicy Cluster for ClusterIP with externalIPs', spec: { externalIPs: ['192.0.2.1'] }, check: (s) => assert.equal(s.spec.externalTrafficPolicy, 'Cluster') },
  { name: 'allocateLoadBalancerNodePorts true for LoadBalancer', spec: { type: 'LoadBalancer' }, check: (s) => assert.equal(s.spec.allocateLoadBalancerNodePorts, true) },
  { name: 'allocateLoadBalancerNodePorts false kept', spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false }, check: (s) => assert.equal(s.spec.allocateLoadBalancerNodePorts, false) },
  { name: 'no allocateLoadBalancerNodePorts for NodePort', spec: { type: 'NodePort' }, check: (s) => assert.equal(s.spec.allocateLoadBalancerNodePorts, undefined) },
  {
    name: 'no clusterIP, ipFamilies or ipFamilyPolicy (allocation sets them)', spec: {},
    check: (s) => { assert.equal(s.spec.clusterIP, undefined); assert.equal(s.spec.ipFamilies, undefined); assert.equal(s.spec.ipFamilyPolicy, undefined); },
  },
  {
    name: 'ingress ipMode VIP', spec: { type: 'LoadBalancer' }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }, { hostname: 'lb.example' }] } },
    check: (s) => assert.deepEqual(s.status.loadBalancer.ingress, [{ ip: '192.0.2.1', ipMode: 'VIP' }, { hostname: 'lb.example' }]),
  },
];

for (const c of serviceCases) test(`SetDefaults_Service: ${c.name}`, () => c.check(svc(c.spec, c.status)));

test('SetDefaults_Pod: what a real cluster shows', () => {
  const p = withDefaults('Pod', {
    metadata: { name: 'p', namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80 }], readinessProbe: { httpGet: { port: 80 } } }] },
  }) as Obj;
  assert.deepEqual(p.spec, {
    containers: [{
      name: 'c', image: 'nginx', imagePullPolicy: 'Always',
      ports: [{ containerPort: 80, protocol: 'TCP' }],
      readinessProbe: { httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
      resources: {}, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
    }],
    dnsPolicy: 'ClusterFirst', restartPolicy: 'Always', securityContext: {}, terminationGracePeriodSeconds: 30,
    schedulerName: 'default-scheduler', enableServiceLinks: true, priority: 0, preemptionPolicy: 'PreemptLowerPriority',
  });
  assert.deepEqual(p.status, { phase: 'Pending', qosClass: 'BestEffort' });
});

test('SetDefaults_Container: imagePullPolicy by tag', () => {
  assert.equal(imageTag('nginx'), 'latest');
  assert.equal(imageTag('nginx:1.27'), '1.27');
  assert.equal(imageTag('localhost:5000/nginx'), 'latest');
  assert.equal(imageTag('nginx@sha256:abc'), '');
  const p = withDefaults('Pod', { spec: { containers: [{ name: 'a', image: 'nginx:1.27' }, { name: 'b', image: 'nginx:latest' }] } }) as Obj;
  assert.deepEqual(p.spec.containers.map((c: Obj) => c.imagePullPolicy), ['IfNotPresent', 'Always']);
});

test('SetDefaults_Pod: requests from limits, and the QoS class', () => {
  const p = withDefaults('Pod', { spec: { containers: [{ name: 'a', image: 'i', resources: { limits: { cpu: '1', memory: '1Gi' } } }] } }) as Obj;
  assert.deepEqual(p.spec.containers[0].resources.requests, { cpu: '1', memory: '1Gi' });
  assert.equal(p.status.qosClass, 'Guaranteed');
  const b = withDefaults('Pod', { spec: { containers: [{ name: 'a', image: 'i', resources: { requests: { cpu: '1' } } }] } }) as Obj;
  assert.equal(b.status.qosClass, 'Burstable');
});

test('SetDefaults_Pod: host network ports are host ports', () => {
  const p = withDefaults('Pod', { spec: { hostNetwork: true, containers: [{ name: 'a', image: 'i', ports: [{ containerPort: 53 }] }] } }) as Obj;
  assert.equal(p.spec.containers[0].ports[0].hostPort, 53);
});

test('SetDefaults_Deployment: replicas, strategy, history, deadline, template', () => {
  const d = withDefaults('Deployment', { spec: { selector: { matchLabels: { a: 'b' } }, template: { spec: { containers: [{ name: 'c', image: 'i:1' }] } } } }) as Obj;
  assert.equal(d.spec.replicas, 1);
  assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  assert.equal(d.spec.revisionHistoryLimit, 10);
  assert.equal(d.spec.progressDeadlineSeconds, 600);
  assert.equal(d.spec.template.spec.restartPolicy, 'Always');
  assert.equal(d.spec.template.spec.containers[0].imagePullPolicy, 'IfNotPresent');
  // Pod-only defaults stay out of templates.
  assert.equal(d.spec.template.spec.enableServiceLinks, undefined);
  const r = withDefaults('Deployment', { spec: { strategy: { type: 'Recreate' }, replicas: 0 } }) as Obj;
  assert.deepEqual(r.spec.strategy, { type: 'Recreate' });
  assert.equal(r.spec.replicas, 0);
});

test('SetDefaults_ReplicaSet: replicas 1', () => {
  const r = withDefaults('ReplicaSet', { spec: { selector: {} } }) as Obj;
  assert.equal(r.spec.replicas, 1);
});

test('SetDefaults_Namespace: name label and phase', () => {
  const n = withDefaults('Namespace', { metadata: { name: 'team-a' } }) as Obj;
  assert.deepEqual(n.metadata.labels, { 'kubernetes.io/metadata.name': 'team-a' });
  assert.deepEqual(n.status, { phase: 'Active' });
});

test('SetDefaults_Endpoints and EndpointSlice: port protocol TCP', () => {
  const e = withDefaults('Endpoints', { subsets: [{ ports: [{ port: 80 }] }] }) as Obj;
  assert.equal(e.subsets[0].ports[0].protocol, 'TCP');
  const s = withDefaults('EndpointSlice', { addressType: 'IPv4', endpoints: [], ports: [{ port: 80 }] }) as Obj;
  assert.deepEqual(s.ports[0], { port: 80, name: '', protocol: 'TCP' });
});

test('withDefaults does not modify its argument', () => {
  const input = { spec: { ports: [{ port: 80 }] } };
  withDefaults('Service', input);
  assert.deepEqual(input, { spec: { ports: [{ port: 80 }] } });
});
