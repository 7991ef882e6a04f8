import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeK8sProtobuf, decodeProtobufMessage, hasProtobufSchema, isProtobuf, ProtobufDecodeError, PROTOBUF_MAGIC,
} from './decode.js';
import { encodeK8sProtobuf, encodeProtobufMessage } from './encode.js';
import { protobufSchema, protobufSourceDir, SCALAR_TYPES, SPECIAL_MESSAGES } from './schema.js';
import { formatDuration, formatMicroTime, formatTime, parseDuration } from './wellknown.js';

const testdata = join(protobufSourceDir(), 'testdata');
const readJSON = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(testdata, name), 'utf8')) as Record<string, unknown>;
const clone = <T>(v: T): T => structuredClone(v);

// ---------------------------------------------------------------- tiny wire builder for hand-made bytes

function varint(v: bigint | number): number[] {
  let u = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do { let b = Number(u & 0x7fn); u >>= 7n; if (u) b |= 0x80; out.push(b); } while (u);
  return out;
}
const vf = (no: number, v: bigint | number): number[] => [...varint(no * 8), ...varint(v)];
const lf = (no: number, body: number[] | string): number[] => {
  const b = typeof body === 'string' ? [...Buffer.from(body)] : body;
  return [...varint(no * 8 + 2), ...varint(b.length), ...b];
};
const envelope = (apiVersion: string, kind: string, raw: number[]): Buffer =>
  Buffer.from([...PROTOBUF_MAGIC, ...lf(1, [...lf(1, apiVersion), ...lf(2, kind)]), ...lf(2, raw)]);

function decodeError(f: () => unknown, code: string, message?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ProtobufDecodeError, `expected a ProtobufDecodeError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  });
}

// ---------------------------------------------------------------- content type

test('isProtobuf recognises the media type with or without parameters', () => {
  assert.equal(isProtobuf('application/vnd.kubernetes.protobuf'), true);
  assert.equal(isProtobuf('Application/VND.Kubernetes.Protobuf; charset=utf-8'), true);
  assert.equal(isProtobuf('application/vnd.kubernetes.protobuf;stream=watch'), true);
  assert.equal(isProtobuf('application/json'), false);
  assert.equal(isProtobuf('application/vnd.kubernetes.protobuf+json'), false);
  assert.equal(isProtobuf(undefined), false);
  assert.equal(isProtobuf(''), false);
});

// ---------------------------------------------------------------- real kubectl bytes

interface Captures { captures: Record<string, { command: string; expected?: string }> }
const captures = (readJSON('captures.json') as unknown as Captures).captures;

for (const [name, { command }] of Object.entries(captures)) {
  if (name === 'debug-copy-to') continue;
  test(`kubectl capture ${name}: \`${command}\` decodes to kubectl's JSON`, () => {
    const body = readFileSync(join(testdata, `${name}.pb`));
    const expected = readJSON(`${name}.json`);
    const got = decodeK8sProtobuf(body);
    assert.equal(got.apiVersion, expected['apiVersion']);
    assert.equal(got.kind, expected['kind']);
    assert.deepEqual(got.object, expected);
    // And our encoder agrees with the table: JSON → protobuf → the same JSON.
    assert.deepEqual(decodeK8sProtobuf(encodeK8sProtobuf(expected)).object, expected);
  });
}

test('kubectl capture debug-copy-to: a rich Pod that went through Go and gogo comes back field for field', () => {
  const source = readJSON('debug-copy-to.source.json');
  const got = decodeK8sProtobuf(readFileSync(join(testdata, 'debug-copy-to.pb'))).object;
  const spec = clone(source['spec']) as { containers: Record<string, unknown>[]; nodeName?: string };
  delete spec.nodeName;
  const containers = (got['spec'] as { containers: Record<string, unknown>[] }).containers;
  const debuggerName = containers[1]?.['name'];
  assert.match(String(debuggerName), /^debugger-[a-z0-9]{5}$/);
  spec.containers.push({ name: debuggerName, image: 'busybox', resources: {}, terminationMessagePolicy: 'File' });
  const sourceMeta = source['metadata'] as { annotations: Record<string, string> };
  assert.deepEqual(got, {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'rich2', namespace: 'default', annotations: sourceMeta.annotations, creationTimestamp: null },
    spec, status: {},
  });
});

test('which request body each capture came from is recorded', () => {
  for (const name of Object.keys(captures)) readFileSync(join(testdata, `${name}.pb`));
  assert.ok(Object.keys(captures).length >= 15);
});

// ---------------------------------------------------------------- round trips through our encoder

const richPod = (): Record<string, unknown> => {
  const pod = readJSON('debug-copy-to.source.json');
  (pod['metadata'] as Record<string, unknown>)['managedFields'] = [{
    manager: 'kubectl-create', operation: 'Update', apiVersion: 'v1', time: '2026-11-23T10:00:00Z', fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {} } } } },
  }];
  (pod['metadata'] as Record<string, unknown>)['deletionTimestamp'] = '2026-11-23T10:05:00Z';
  (pod['metadata'] as Record<string, unknown>)['deletionGracePeriodSeconds'] = 0;
  (pod['status'] as Record<string, unknown>)['containerStatuses'] = [{
    name: 'app', state: { running: { startedAt: '2026-11-23T10:00:02Z' } },
    lastState: { terminated: { exitCode: -1, reason: 'Error', startedAt: '2026-11-23T09:00:00Z', finishedAt: '2026-11-23T09:59:59Z' } },
    ready: true, restartCount: 1, image: 'nginx:1.27', imageID: 'docker.io/library/nginx@sha256:0', started: true,
  }];
  return pod;
};

const fixtures: Record<string, () => Record<string, unknown>> = {
  'rich Pod with status and managedFields': richPod,
  Deployment: () => ({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' }, creationTimestamp: null },
    spec: {
      replicas: 0, selector: { matchLabels: { app: 'web' } }, revisionHistoryLimit: 10, progressDeadlineSeconds: 600,
      template: { metadata: { creationTimestamp: null, labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx', resources: {} }] } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: 1 } },
    },
    status: { observedGeneration: 2, replicas: 3, readyReplicas: 3, conditions: [{ type: 'Available', status: 'True', lastUpdateTime: '2026-11-23T10:00:00Z', lastTransitionTime: '2026-11-23T10:00:00Z', reason: 'MinimumReplicasAvailable', message: 'ok' }] },
  }),
  ReplicaSet: () => ({
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name: 'web-5d8', namespace: 'default', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true }], creationTimestamp: '2026-11-23T10:00:00Z' },
    spec: { replicas: 2, selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }, template: { metadata: { creationTimestamp: null }, spec: { containers: [{ name: 'c', image: 'i', resources: {} }] } } },
    status: { replicas: 2, fullyLabeledReplicas: 2, availableReplicas: 2 },
  }),
  Service: () => ({
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'web', namespace: 'default', creationTimestamp: null },
    spec: {
      ports: [{ name: 'http', protocol: 'TCP', appProtocol: 'http', port: 80, targetPort: 'http', nodePort: 30080 }, { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 }],
      selector: { app: 'web' }, clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20', 'fd00::20'], type: 'LoadBalancer',
      externalIPs: ['192.0.2.1'], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
      externalTrafficPolicy: 'Local', healthCheckNodePort: 31000, publishNotReadyAddresses: true,
      ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack', allocateLoadBalancerNodePorts: false,
      loadBalancerClass: 'example.com/lb', internalTrafficPolicy: 'Cluster', loadBalancerSourceRanges: ['0.0.0.0/0'],
    },
    status: { loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'VIP', ports: [{ port: 80, protocol: 'TCP', error: 'x' }] }] }, conditions: [{ type: 'Ready', status: 'True', observedGeneration: 1, lastTransitionTime: '2026-11-23T10:00:00Z', reason: 'R', message: '' }] },
  }),
  Endpoints: () => ({
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { name: 'web', namespace: 'default', annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-11-23T10:00:00Z' }, creationTimestamp: null },
    subsets: [{
      addresses: [{ ip: '10.244.1.5', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'u' } }],
      notReadyAddresses: [{ ip: '10.244.2.5', hostname: 'h' }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' }],
    }],
  }),
  EndpointSlice: () => ({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { generateName: 'web-', name: 'web-abcde', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' }, creationTimestamp: null },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', zone: 'a', targetRef: { kind: 'Pod', name: 'web-1', namespace: 'default', uid: 'u' }, hints: { forZones: [{ name: 'a' }] } },
      { addresses: ['10.244.2.5'], conditions: { ready: false }, deprecatedTopology: { 'kubernetes.io/hostname': 'n2' } },
    ],
    ports: [{ name: 'http', protocol: 'TCP', port: 8080, appProtocol: 'http' }, { name: '', port: 53 }],
  }),
  Namespace: () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo', creationTimestamp: null }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active', conditions: [{ type: 'NamespaceDeletionContentFailure', status: 'False', lastTransitionTime: null }] } }),
  ConfigMap: () => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default', creationTimestamp: null }, data: { a: 'b', empty: '', 'ü': 'ünïcode ✓' }, binaryData: { bin: Buffer.from([0, 1, 2, 255]).toString('base64') }, immutable: false }),
  Node: () => ({
    apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' }, creationTimestamp: '2026-11-23T10:00:00Z' },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'], taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule', timeAdded: '2026-11-23T10:00:00Z' }], unschedulable: true },
    status: {
      capacity: { cpu: '2', memory: '8Gi', pods: '110' }, allocatable: { cpu: '1900m', memory: '7Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-11-23T10:00:00Z', lastTransitionTime: '2026-11-23T09:00:00Z', reason: 'KubeletReady', message: 'ready' }],
      addresses: [{ type: 'InternalIP', address: '192.168.0.2' }, { type: 'Hostname', address: 'n1' }],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: { machineID: 'm', systemUUID: 's', bootID: 'b', kernelVersion: '6.1', osImage: 'Debian', containerRuntimeVersion: 'svcnet://0.1', kubeletVersion: 'v1.32.4', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' },
    },
  }),
  'Event (MicroTime, series)': () => ({
    apiVersion: 'v1', kind: 'Event', metadata: { name: 'web.1', namespace: 'default', creationTimestamp: null },
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web', uid: 'u', apiVersion: 'v1', resourceVersion: '1', fieldPath: 'spec.containers{app}' },
    reason: 'Started', message: 'Started container', source: { component: 'kubelet', host: 'n1' },
    firstTimestamp: '2026-11-23T10:00:00Z', lastTimestamp: '2026-11-23T10:01:00Z', count: 2, type: 'Normal',
    eventTime: '2026-11-23T10:00:00.123456Z', series: { count: 2, lastObservedTime: '2026-11-23T10:01:00.000001Z' },
    action: 'Start', reportingComponent: 'kubelet', reportingInstance: 'n1',
  }),
  'Lease (MicroTime)': () => ({
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'n1', namespace: 'kube-node-lease', creationTimestamp: null },
    spec: { holderIdentity: 'n1', leaseDurationSeconds: 40, acquireTime: '2026-11-23T10:00:00.000000Z', renewTime: '2026-11-23T10:00:30.500000Z', leaseTransitions: 0 },
  }),
  Scale: () => ({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: 'default', resourceVersion: '7', creationTimestamp: null }, spec: { replicas: 5 }, status: { replicas: 3, selector: 'app=web' } }),
  DeleteOptions: () => ({ apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: 'u', resourceVersion: '9' }, orphanDependents: false, propagationPolicy: 'Foreground', dryRun: ['All'] }),
  'DeleteOptions in meta.k8s.io/v1': () => ({ apiVersion: 'meta.k8s.io/v1', kind: 'DeleteOptions', propagationPolicy: 'Background' }),
  Eviction: () => ({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-1', namespace: 'default', creationTimestamp: null }, deleteOptions: { gracePeriodSeconds: 30 } }),
  Secret: () => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', creationTimestamp: null }, type: 'Opaque', data: { k: 'dg==' }, stringData: { plain: 'text' } }),
};

for (const [name, make] of Object.entries(fixtures)) {
  test(`round trip ${name}: encode then decode gives the object back`, () => {
    const obj = make();
    assert.deepEqual(decodeK8sProtobuf(encodeK8sProtobuf(obj)).object, obj);
    assert.deepEqual(decodeK8sProtobuf(encodeK8sProtobuf(obj, { packed: true })).object, obj, 'packed repeated scalars');
  });
}

// ---------------------------------------------------------------- gogo's zero values and Go's omitempty

test('zero values: pointers and non-omitempty fields stay, omitempty scalars go, empty Time is null', () => {
  // core.v1.Container: 1 name (no omitempty), 2 image (omitempty), 16 stdin (omitempty bool),
  // 10 livenessProbe {1 handler (inline) {2 httpGet {1 path, 2 port IntOrString}}, 7 terminationGracePeriodSeconds (*int64)}
  const container = [
    ...lf(1, ''), ...lf(2, ''), ...vf(16, 0), ...vf(17, 0),
    ...lf(10, [...lf(1, lf(2, [...lf(1, ''), ...lf(2, [...vf(1, 0), ...vf(2, 0), ...lf(3, '')])])), ...vf(2, 0), ...vf(7, 0)]),
    ...lf(8, []),
  ];
  const deployment = [
    ...lf(1, [...lf(1, 'web'), ...lf(3, ''), ...vf(7, 0), ...lf(8, []), ...lf(9, vf(1, 0))]),
    ...lf(2, [...vf(1, 0), ...vf(7, 0), ...lf(3, [...lf(1, []), ...lf(2, lf(2, container))])]),
  ];
  const got = decodeK8sProtobuf(envelope('apps/v1', 'Deployment', deployment)).object;
  assert.deepEqual(got, {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', creationTimestamp: null, deletionTimestamp: '1970-01-01T00:00:00Z' },
    spec: {
      replicas: 0,
      template: {
        metadata: {},
        spec: { containers: [{ name: '', livenessProbe: { httpGet: { port: 0 }, terminationGracePeriodSeconds: 0 }, resources: {} }] },
      },
    },
  });
});

test('ServicePort.port 0 is kept (no omitempty), nodePort 0 is dropped', () => {
  const svc = [...lf(2, [...lf(1, [...lf(1, ''), ...lf(2, 'TCP'), ...vf(3, 0), ...vf(5, 0), ...lf(4, [...vf(1, 1), ...vf(2, 0), ...lf(3, 'http')])])])];
  assert.deepEqual(decodeK8sProtobuf(envelope('v1', 'Service', svc)).object,
    { apiVersion: 'v1', kind: 'Service', spec: { ports: [{ protocol: 'TCP', port: 0, targetPort: 'http' }] } });
});

test('numbers: negative int32 and int64 (10-byte varints), large int64, bools', () => {
  // core.v1.PodSecurityContext 2 runAsUser (*int64), 5 fsGroup, 4 supplementalGroups (repeated int64), 3 runAsNonRoot (*bool)
  const sc = [...vf(2, -5n), ...vf(5, 2n ** 40n), ...vf(4, 1), ...vf(4, -2), ...vf(3, 1)];
  const pod = [...lf(2, [...lf(14, sc), ...vf(25, -100), ...vf(4, 2n ** 53n + 2n)])];
  assert.deepEqual(decodeK8sProtobuf(envelope('v1', 'Pod', pod)).object, {
    apiVersion: 'v1', kind: 'Pod',
    spec: { securityContext: { runAsUser: -5, fsGroup: 2 ** 40, supplementalGroups: [1, -2], runAsNonRoot: true }, priority: -100, terminationGracePeriodSeconds: 2 ** 53 + 2 },
  });
});

test('packed repeated scalars decode like unpacked ones, and both forms may mix', () => {
  const packed = [...varint(7), ...varint(-1), ...varint(300)];
  const sc = [...lf(4, packed), ...vf(4, 9)];
  assert.deepEqual(decodeProtobufMessage(Uint8Array.from(sc), 'core.v1.PodSecurityContext'), { supplementalGroups: [7, -1, 300, 9] });
});

test('unknown fields of every wire type are skipped', () => {
  const unknown = [...vf(99, 5), ...varint(98 * 8 + 1), 1, 2, 3, 4, 5, 6, 7, 8, ...lf(97, 'x'), ...varint(96 * 8 + 5), 1, 2, 3, 4];
  const ns = [...unknown, ...lf(1, [...unknown, ...lf(1, 'foo')]), ...lf(2, unknown)];
  const body = Buffer.concat([envelope('v1', 'Namespace', ns), Buffer.from(lf(7, 'envelope extension'))]);
  assert.deepEqual(decodeK8sProtobuf(body).object, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo' }, spec: {} });
});

test('a message field seen twice merges; a scalar seen twice keeps the last', () => {
  const ns = [...lf(1, [...lf(1, 'a'), ...lf(11, [...lf(1, 'x'), ...lf(2, '1')])]), ...lf(1, [...lf(1, 'b'), ...lf(11, [...lf(1, 'y'), ...lf(2, '2')])])];
  assert.deepEqual(decodeK8sProtobuf(envelope('v1', 'Namespace', ns)).object,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b', labels: { x: '1', y: '2' } } });
});

test('map entries: missing key or value are the zero values; __proto__ is an ordinary key', () => {
  const cm = [...lf(2, lf(1, 'k')), ...lf(2, lf(2, 'v')), ...lf(2, [...lf(1, '__proto__'), ...lf(2, 'p')])];
  const got = decodeK8sProtobuf(envelope('v1', 'ConfigMap', cm)).object;
  const data = got['data'] as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(data), Object.prototype);
  assert.deepEqual(Object.keys(data), ['k', '', '__proto__']);
  assert.equal(data['k'], '');
  assert.equal(data[''], 'v');
  assert.equal(Object.getOwnPropertyDescriptor(data, '__proto__')?.value, 'p');
  // Quantity map values default to "0" when absent.
  const rq = [...lf(2, lf(1, lf(1, 'cpu')))];
  assert.deepEqual(decodeK8sProtobuf(envelope('v1', 'ResourceQuota', rq)).object['spec'], { hard: { cpu: '0' } });
});

test('special types: Time drops nanos, MicroTime keeps microseconds, IntOrString, FieldsV1', () => {
  const meta = [...lf(8, [...vf(1, 1795428000), ...vf(2, 999_999_999)]), ...lf(17, [...lf(1, 'm'), ...lf(6, 'FieldsV1'), ...lf(7, lf(1, '{"f:metadata":{}}'))])];
  const lease = [...lf(1, meta), ...lf(2, [...lf(3, [...vf(1, 1795428000), ...vf(2, 123_456_789)]), ...lf(4, [])])];
  assert.deepEqual(decodeK8sProtobuf(envelope('coordination.k8s.io/v1', 'Lease', lease)).object, {
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
    metadata: { creationTimestamp: '2026-11-23T10:00:00Z', managedFields: [{ manager: 'm', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': {} } }] },
    spec: { acquireTime: '2026-11-23T10:00:00.123456Z', renewTime: null },
  });
  assert.equal(formatTime(-62135596800), '0001-01-01T00:00:00Z');
  assert.equal(formatMicroTime(0, 1000), '1970-01-01T00:00:00.000001Z');
});

test('Go durations format and parse like time.Duration', () => {
  const cases: [bigint, string][] = [[0n, '0s'], [1n, '1ns'], [1500n, '1.5µs'], [300_000_000n, '300ms'], [1_500_000_000n, '1.5s'],
    [90_000_000_000n, '1m30s'], [3_600_000_000_000n, '1h0m0s'], [-5_000_000_000n, '-5s'], [3_723_000_000_001n, '1h2m3.000000001s']];
  for (const [ns, text] of cases) {
    assert.equal(formatDuration(ns), text);
    assert.equal(parseDuration(text), ns);
  }
  assert.equal(parseDuration('1.5h'), 5_400_000_000_000n);
  assert.equal(parseDuration('x'), undefined);
});

test('the envelope: kind defaults from the caller, JSON raw, unsupported encodings', () => {
  const noKind = Buffer.from([...PROTOBUF_MAGIC, ...lf(1, []), ...lf(2, lf(1, lf(1, 'foo')))]);
  decodeError(() => decodeK8sProtobuf(noKind), 'ERR_PROTOBUF_MISSING_KIND', /Kind/);
  assert.deepEqual(decodeK8sProtobuf(noKind, { apiVersion: 'v1', kind: 'Namespace' }).object,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo' } });
  const json = Buffer.from([...PROTOBUF_MAGIC, ...lf(1, [...lf(1, 'v1'), ...lf(2, 'Namespace')]), ...lf(2, '{"metadata":{"name":"j"}}'), ...lf(4, 'application/json')]);
  assert.deepEqual(decodeK8sProtobuf(json).object, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'j' } });
  const gz = Buffer.from([...PROTOBUF_MAGIC, ...lf(1, [...lf(1, 'v1'), ...lf(2, 'Namespace')]), ...lf(3, 'gzip')]);
  decodeError(() => decodeK8sProtobuf(gz), 'ERR_PROTOBUF_UNSUPPORTED', /gzip/);
  assert.equal(hasProtobufSchema('v1', 'Pod'), true);
  assert.equal(hasProtobufSchema('apps/v1', 'DeleteOptions'), true);
  assert.equal(hasProtobufSchema('v1', 'Nope'), false);
});

// ---------------------------------------------------------------- malformed input

test('malformed bodies throw a ProtobufDecodeError with a clear message', () => {
  decodeError(() => decodeK8sProtobuf(Buffer.alloc(0)), 'ERR_PROTOBUF_MALFORMED', /empty data/);
  decodeError(() => decodeK8sProtobuf(Buffer.from('{"kind":"Pod"}')), 'ERR_PROTOBUF_PREFIX', /expected prefix \[107 56 115 0\]/);
  decodeError(() => decodeK8sProtobuf(Buffer.from([0x6b, 0x38, 0x73, 0x01, 0x0a, 0x00])), 'ERR_PROTOBUF_PREFIX');
  decodeError(() => decodeK8sProtobuf(Buffer.from(PROTOBUF_MAGIC)), 'ERR_PROTOBUF_MALFORMED', /empty body/);
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Frobnicator', [])), 'ERR_PROTOBUF_UNKNOWN_KIND', /Frobnicator/);
  decodeError(() => decodeK8sProtobuf(envelope('apps/v2', 'Deployment', [])), 'ERR_PROTOBUF_UNKNOWN_KIND');
  // a varint that never ends
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', [0x78, 0xff, 0xff])), 'ERR_PROTOBUF_MALFORMED', /EOF in a varint/);
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', [0x78, ...Array(11).fill(0xff), 0x01])), 'ERR_PROTOBUF_MALFORMED', /longer than 10 bytes/);
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', lf(1, [0x38, 0x80]))), 'ERR_PROTOBUF_MALFORMED', /Namespace\.metadata: unexpected EOF/);
  // a length past the end, inside metadata
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', [...lf(1, [0x0a, 0x7f, 0x61])])), 'ERR_PROTOBUF_MALFORMED', /Namespace\.metadata: length 127 runs past the end/);
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', [0x0a, ...varint(2n ** 40n)])), 'ERR_PROTOBUF_MALFORMED', /length/);
  // wrong wire types: metadata as a varint, name as fixed32
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', vf(1, 3))), 'ERR_PROTOBUF_MALFORMED', /wrong wire type 0 for field metadata/);
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', lf(1, [0x0d, 1, 2, 3, 4]))), 'ERR_PROTOBUF_MALFORMED', /wrong wire type 5/);
  // groups and tag 0
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', [0x53, 0x54])), 'ERR_PROTOBUF_MALFORMED', /wire type 3/);
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', [0x00, 0x00])), 'ERR_PROTOBUF_MALFORMED', /illegal tag 0/);
  // truncated fixed64 in an unknown field
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', [0x79, 1, 2])), 'ERR_PROTOBUF_MALFORMED', /fixed-size/);
  // broken embedded JSON, impossible IntOrString type, years Go cannot print
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', lf(1, lf(17, lf(7, lf(1, '{nope')))))), 'ERR_PROTOBUF_MALFORMED', /embedded JSON/);
  decodeError(() => decodeProtobufMessage(Uint8Array.from(lf(4, [...vf(1, 7)])), 'core.v1.ServicePort'), 'ERR_PROTOBUF_MALFORMED', /IntOrString/);
  decodeError(() => decodeK8sProtobuf(envelope('v1', 'Namespace', lf(1, lf(8, vf(1, 10n ** 12n))))), 'ERR_PROTOBUF_MALFORMED', /year/);
  decodeError(() => decodeProtobufMessage(new Uint8Array(0), 'core.v1.Nope'), 'ERR_PROTOBUF_UNKNOWN_KIND');
});

test('mutated real bodies either decode or throw ProtobufDecodeError, never anything else', () => {
  let seed = 42;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const bodies = Object.keys(captures).map((n) => readFileSync(join(testdata, `${n}.pb`)));
  let decoded = 0, rejected = 0;
  for (let i = 0; i < 3000; i++) {
    const src = bodies[i % bodies.length]!;
    const b = Buffer.from(src);
    const op = rand(3);
    let m: Buffer;
    if (op === 0) { b[4 + rand(b.length - 4)] = rand(256); m = b; }
    else if (op === 1) m = b.subarray(0, 4 + rand(b.length - 4));
    else { const at = 4 + rand(b.length - 4); m = Buffer.concat([b.subarray(0, at), Buffer.from([rand(256), rand(256)]), b.subarray(at)]); }
    try { decodeK8sProtobuf(m); decoded++; } catch (e) {
      if (!(e instanceof ProtobufDecodeError)) assert.fail(`mutation ${i} threw ${String(e)}`);
      rejected++;
    }
  }
  assert.ok(decoded > 0 && rejected > 0, `${decoded} decoded, ${rejected} rejected`);
});

// ---------------------------------------------------------------- the table itself

test('schema.json is consistent: every referenced message exists, kinds point at messages, flags are known', () => {
  const { kinds, messages } = protobufSchema();
  for (const [k, m] of Object.entries(kinds)) assert.ok(messages[m], `${k} → ${m}`);
  for (const [name, fields] of Object.entries(messages)) {
    const jsonNames = new Set<string>();
    for (const [no, [json, type, flags = '']] of Object.entries(fields)) {
      assert.match(no, /^[1-9]\d*$/);
      assert.match(flags, /^[rmio]*$/, `${name}.${json}`);
      assert.ok(SCALAR_TYPES.has(type) || SPECIAL_MESSAGES.has(type) || messages[type], `${name}.${json}: ${type}`);
      if (flags.includes('i')) assert.ok(messages[type], `${name}.${json} inlines a plain message`);
      if (flags.includes('o')) assert.ok(SCALAR_TYPES.has(type) && !/[rm]/.test(flags), `${name}.${json}: o only on single scalars`);
      if (!flags.includes('i')) { assert.ok(!jsonNames.has(json), `${name}: duplicate JSON name ${json}`); jsonNames.add(json); }
    }
  }
  for (const m of ['core.v1.PodSpec', 'core.v1.Container', 'core.v1.VolumeSource', 'core.v1.Probe', 'core.v1.Affinity', 'core.v1.Toleration',
    'core.v1.TopologySpreadConstraint', 'core.v1.SecurityContext', 'core.v1.ProjectedVolumeSource', 'core.v1.DownwardAPIVolumeSource',
    'meta.v1.ObjectMeta', 'meta.v1.OwnerReference', 'meta.v1.ManagedFieldsEntry', 'meta.v1.LabelSelector', 'meta.v1.DeleteOptions',
    'meta.v1.Preconditions', 'apps.v1.DeploymentSpec', 'discovery.v1.EndpointSlice', 'autoscaling.v1.Scale', 'coordination.v1.Lease']) {
    assert.ok(messages[m], m);
  }
  // Spot checks against k8s.io/api generated.proto.
  assert.deepEqual(messages['apps.v1.DeploymentSpec']?.['9'], ['progressDeadlineSeconds', 'int32']);
  assert.deepEqual(messages['core.v1.Volume']?.['2'], ['volumeSource', 'core.v1.VolumeSource', 'i']);
  assert.deepEqual(messages['core.v1.ServicePort']?.['4'], ['targetPort', 'util.intstr.IntOrString']);
  assert.deepEqual(messages['meta.v1.ObjectMeta']?.['17'], ['managedFields', 'meta.v1.ManagedFieldsEntry', 'r']);
});

test('encodeProtobufMessage and decodeProtobufMessage work without the envelope', () => {
  const spec = { replicas: 2, selector: { matchLabels: { a: 'b' } }, template: { metadata: { creationTimestamp: null }, spec: { containers: [] as unknown[] } } };
  const got = decodeProtobufMessage(encodeProtobufMessage(spec, 'apps.v1.DeploymentSpec'), 'apps.v1.DeploymentSpec');
  assert.deepEqual(got, { replicas: 2, selector: { matchLabels: { a: 'b' } }, template: { metadata: { creationTimestamp: null }, spec: {} } });
});
