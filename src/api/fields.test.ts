import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Event, Node, Pod } from 'kubernetes-types/core/v1.js';
import {
  parse, toString, matches, escapeValue, unescapeValue, convertFieldLabel, convertSelector, selectableFields,
  fieldValue, objectMatches, requiresExactMatch, selectorFromSet, FieldSelectorError,
} from './fields.js';

test('parse: =, ==, !=, comma-separated, sorted, empty terms skipped', () => {
  assert.deepEqual(parse(''), []);
  assert.deepEqual(parse('metadata.name=web'), [{ field: 'metadata.name', operator: '=', value: 'web' }]);
  assert.deepEqual(parse('status.phase!=Running,spec.nodeName==node-1,,'), [
    { field: 'spec.nodeName', operator: '==', value: 'node-1' },
    { field: 'status.phase', operator: '!=', value: 'Running' },
  ]);
  // The first operator splits; an empty value is allowed.
  assert.deepEqual(parse('spec.nodeName='), [{ field: 'spec.nodeName', operator: '=', value: '' }]);
  assert.equal(toString(parse('b=2,a!=1,c==3')), 'a!=1,b=2,c=3');
});

test('parse: escapes and error texts', () => {
  assert.deepEqual(parse('metadata.name=a\\,b\\=c\\\\d'), [{ field: 'metadata.name', operator: '=', value: 'a,b=c\\d' }]);
  assert.equal(toString(parse('metadata.name=a\\,b\\=c\\\\d')), 'metadata.name=a\\,b\\=c\\\\d');
  const cases: [string, string][] = [
    ['a', "invalid selector: 'a'; can't understand 'a'"],
    ['a=b,c', "invalid selector: 'a=b,c'; can't understand 'c'"],
    // Go prints the offending rune with %v: its code point.
    ['a=x=y', 'invalid field selector: unescaped character in value: 61'],
    ['a!==b', 'invalid field selector: unescaped character in value: 61'],
    ['a=\\q', 'invalid field selector: invalid escape sequence: \\q'],
    ['a=b\\', 'invalid field selector: invalid escape sequence: \\'],
  ];
  for (const [input, want] of cases) {
    assert.throws(() => parse(input), (e: unknown) => e instanceof FieldSelectorError && e.message === want, input);
  }
});

test('escapeValue / unescapeValue round trip', () => {
  for (const v of ['', 'plain', 'a,b', 'x=y', 'back\\slash', '\\,=\\=,']) {
    assert.equal(unescapeValue(escapeValue(v)), v);
    assert.deepEqual(parse(`f=${escapeValue(v)}`), [{ field: 'f', operator: '=', value: v }]);
  }
  assert.equal(escapeValue('a,b=c\\'), 'a\\,b\\=c\\\\');
});

test('matches: absent fields read as the empty string', () => {
  const fields = { 'metadata.name': 'web', 'spec.nodeName': '' };
  assert.equal(matches(parse('metadata.name=web'), fields), true);
  assert.equal(matches(parse('metadata.name!=web'), fields), false);
  assert.equal(matches(parse('spec.nodeName='), fields), true);
  assert.equal(matches(parse('status.phase='), fields), true);
  assert.equal(matches(parse('status.phase!=Running'), fields), true);
  assert.equal(matches(parse('metadata.name=web,spec.nodeName=node-1'), fields), false);
  assert.equal(matches([], fields), true);
  assert.equal(requiresExactMatch(parse('metadata.name==web,spec.nodeName!=x'), 'metadata.name'), 'web');
  assert.equal(requiresExactMatch(parse('spec.nodeName!=x'), 'spec.nodeName'), undefined);
  assert.equal(toString(selectorFromSet({ 'metadata.name': 'a,b' })), 'metadata.name=a\\,b');
});

test('convertFieldLabel: accepted paths per kind and kube-apiserver rejection texts', () => {
  assert.equal(convertFieldLabel('Pod', 'spec.nodeName'), 'spec.nodeName');
  assert.equal(convertFieldLabel('Pod', 'spec.host'), 'spec.nodeName');
  assert.equal(convertFieldLabel('Pod', 'status.podIP'), 'status.podIP');
  assert.equal(convertFieldLabel('Event', 'involvedObject.uid'), 'involvedObject.uid');
  assert.equal(convertFieldLabel('Node', 'spec.unschedulable'), 'spec.unschedulable');
  assert.equal(convertFieldLabel('Namespace', 'status.phase'), 'status.phase');
  assert.equal(convertFieldLabel('ReplicaSet', 'status.replicas'), 'status.replicas');
  for (const kind of ['Service', 'Endpoints', 'ConfigMap', 'EndpointSlice', 'Deployment', 'Lease', 'Pod', 'Event']) {
    assert.equal(convertFieldLabel(kind, 'metadata.name'), 'metadata.name', kind);
    assert.equal(convertFieldLabel(kind, 'metadata.namespace'), 'metadata.namespace', kind);
  }
  const rejects: [string, string, string][] = [
    ['Service', 'spec.clusterIP', '"spec.clusterIP" is not a known field selector: only "metadata.name", "metadata.namespace"'],
    ['ConfigMap', 'data.x', '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'],
    ['EndpointSlice', 'addressType', '"addressType" is not a known field selector: only "metadata.name", "metadata.namespace"'],
    ['Pod', 'spec.containers', 'field label not supported: spec.containers'],
    ['Event', 'message', 'field label not supported: message'],
    // Cluster-scoped kinds with their own conversion do not take metadata.namespace.
    ['Node', 'metadata.namespace', 'field label not supported: metadata.namespace'],
    ['Namespace', 'metadata.namespace', 'field label not supported: metadata.namespace'],
  ];
  for (const [kind, label, want] of rejects) {
    assert.throws(() => convertFieldLabel(kind, label), (e: unknown) => e instanceof FieldSelectorError && e.message === want, `${kind} ${label}`);
  }
  assert.deepEqual(convertSelector('Pod', parse('spec.host=node-1')), [{ field: 'spec.nodeName', operator: '=', value: 'node-1' }]);
  // The first bad term in selector order is the one reported.
  assert.throws(() => convertSelector('Service', parse('z=1,spec.type=NodePort')), { message: '"spec.type" is not a known field selector: only "metadata.name", "metadata.namespace"' });
});

test('selectableFields: pods', () => {
  const pod: Pod = {
    metadata: { name: 'web-1', namespace: 'shop' },
    spec: { nodeName: 'node-1', restartPolicy: 'Always', schedulerName: 'default-scheduler', serviceAccountName: 'default', containers: [{ name: 'c' }] },
    status: { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00::5' }] },
  };
  assert.deepEqual(selectableFields('Pod', pod), {
    'metadata.name': 'web-1',
    'metadata.namespace': 'shop',
    'spec.nodeName': 'node-1',
    'spec.restartPolicy': 'Always',
    'spec.schedulerName': 'default-scheduler',
    'spec.serviceAccountName': 'default',
    'spec.hostNetwork': 'false',
    'status.phase': 'Running',
    'status.podIP': '10.244.1.5',
    'status.nominatedNodeName': '',
  });
  assert.equal(fieldValue('Pod', { ...pod, spec: { ...pod.spec!, hostNetwork: true } }, 'spec.hostNetwork'), 'true');
  assert.equal(fieldValue('Pod', { metadata: { name: 'p' }, status: { podIP: '10.0.0.9' } }, 'status.podIP'), '10.0.0.9');
  assert.equal(fieldValue('Pod', pod, 'spec.containers'), undefined);
  assert.equal(objectMatches('Pod', pod, parse('spec.nodeName=node-1,status.phase!=Succeeded')), true);
  assert.equal(objectMatches('Pod', pod, convertSelector('Pod', parse('spec.host=node-2'))), false);
});

test('selectableFields: nodes, namespaces, replicasets, events, others', () => {
  const node: Node = { metadata: { name: 'node-1' }, spec: { unschedulable: true } };
  assert.deepEqual(selectableFields('Node', node), { 'metadata.name': 'node-1', 'spec.unschedulable': 'true' });
  assert.equal(fieldValue('Node', { metadata: { name: 'n' } }, 'spec.unschedulable'), 'false');
  assert.equal(fieldValue('Namespace', { metadata: { name: 'default' }, status: { phase: 'Active' } }, 'status.phase'), 'Active');
  assert.equal(fieldValue('Namespace', { metadata: { name: 'default' } }, 'metadata.namespace'), undefined);
  assert.equal(fieldValue('ReplicaSet', { metadata: { name: 'rs', namespace: 'd' }, status: { replicas: 3 } }, 'status.replicas'), '3');
  assert.equal(fieldValue('ReplicaSet', { metadata: { name: 'rs', namespace: 'd' } }, 'status.replicas'), '0');

  const event: Event = {
    metadata: { name: 'web-1.17a8', namespace: 'shop' },
    involvedObject: { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'u-1', apiVersion: 'v1', resourceVersion: '12', fieldPath: 'spec.containers{web}' },
    reason: 'Pulled', type: 'Normal', source: { component: 'kubelet', host: 'node-1' }, reportingComponent: 'kubelet',
  };
  assert.deepEqual(selectableFields('Event', event), {
    'metadata.name': 'web-1.17a8',
    'metadata.namespace': 'shop',
    'involvedObject.kind': 'Pod',
    'involvedObject.namespace': 'shop',
    'involvedObject.name': 'web-1',
    'involvedObject.uid': 'u-1',
    'involvedObject.apiVersion': 'v1',
    'involvedObject.resourceVersion': '12',
    'involvedObject.fieldPath': 'spec.containers{web}',
    'reason': 'Pulled',
    'reportingComponent': 'kubelet',
    'source': 'kubelet',
    'type': 'Normal',
  });
  // events.k8s.io-written events: "source" falls back to the reporting controller.
  const newStyle: Event = { metadata: { name: 'e', namespace: 'd' }, involvedObject: {}, reportingComponent: 'svcnet-lb' };
  assert.equal(fieldValue('Event', newStyle, 'source'), 'svcnet-lb');

  assert.deepEqual(selectableFields('Service', { metadata: { name: 'web', namespace: 'shop' }, spec: { type: 'NodePort' } }),
    { 'metadata.name': 'web', 'metadata.namespace': 'shop' });
  assert.deepEqual(selectableFields('ConfigMap', {}), { 'metadata.name': '', 'metadata.namespace': '' });
});
