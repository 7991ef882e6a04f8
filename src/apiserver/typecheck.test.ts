import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unknownFields } from './openapi/index.js';
import { typeError, wellFormed } from './typecheck.js';

// wellFormed is the cheap walk that lets a well-formed body skip typeError and
// unknownFields: true only when both find nothing (and, for ordinary keys,
// whenever they find nothing).
const agree = (o: unknown, apiVersion: string, kind: string, exact = true): void => {
  const clean = typeError(o, apiVersion, kind) === undefined && unknownFields(o, apiVersion, kind).length === 0;
  const ok = wellFormed(o, apiVersion, kind);
  if (ok) assert.ok(clean, JSON.stringify(o));
  if (exact) assert.equal(ok, clean, JSON.stringify(o));
};

const pod = () => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'p', namespace: 'default', labels: { app: 'web' }, annotations: { a: 'b' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u', controller: true }] },
  spec: {
    nodeName: 'node-1',
    containers: [{ name: 'app', image: 'nginx', ports: [{ containerPort: 80, protocol: 'TCP' }], resources: { limits: { cpu: '1', memory: '1Gi' } }, env: [{ name: 'A', value: 'b' }] }],
    tolerations: [{ key: 'k', operator: 'Exists', tolerationSeconds: 30 }],
  },
  status: { phase: 'Running', podIP: '10.0.0.1', podIPs: [{ ip: '10.0.0.1' }], conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null }] },
});

const service = () => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name: 's' },
  spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }], type: 'NodePort', ipFamilies: ['IPv4'] },
  status: { loadBalancer: { ingress: [{ ip: '1.2.3.4', ports: [{ port: 80, protocol: 'TCP' }] }] } },
});

test('wellFormed agrees with typeError and unknownFields', () => {
  agree(pod(), 'v1', 'Pod');
  agree(service(), 'v1', 'Service');
  agree({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'v' }, binaryData: { b: 'AA==' } }, 'v1', 'ConfigMap');
  agree({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', managedFields: [{ manager: 'm', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:x': {} } }] } }, 'v1', 'Pod');
  const variants: [string, (o: ReturnType<typeof pod>) => void][] = [
    ['unknown top-level field', (o) => { (o as Record<string, unknown>)['extra'] = 1; }],
    ['unknown nested field', (o) => { (o.spec.containers[0] as Record<string, unknown>)['imagePulPolicy'] = 'Always'; }],
    ['unknown field in a list item', (o) => { (o.status.podIPs[0] as Record<string, unknown>)['family'] = 'IPv4'; }],
    ['string for an integer', (o) => { (o.spec.containers[0]!.ports[0] as Record<string, unknown>)['containerPort'] = '80'; }],
    ['object for a string', (o) => { (o.metadata as Record<string, unknown>)['name'] = { a: 1 }; }],
    ['list for a map', (o) => { (o.metadata as Record<string, unknown>)['labels'] = ['a']; }],
    ['number in a map of strings', (o) => { (o.metadata.annotations as Record<string, unknown>)['n'] = 1; }],
    ['null where a struct goes', (o) => { (o as Record<string, unknown>)['spec'] = null; }],
    ['quantity as a number', (o) => { (o.spec.containers[0]!.resources.limits as Record<string, unknown>)['cpu'] = 2; }],
    ['float for an integer', (o) => { (o.spec.tolerations[0] as Record<string, unknown>)['tolerationSeconds'] = 1.5; }],
    ['key named like an Object method', (o) => { (o.spec as Record<string, unknown>)['constructor'] = 'x'; }],
    ['key named __proto__', (o) => { Object.defineProperty(o.spec, '__proto__', { value: { a: 1 }, enumerable: true }); }],
  ];
  for (const [what, change] of variants) {
    const o = pod();
    change(o);
    // Keys that name Object.prototype members go to the full walks, whatever they say.
    agree(o, 'v1', 'Pod', !what.startsWith('key named'));
  }
  const s = service();
  (s.spec.ports[0] as Record<string, unknown>)['targetPort'] = true;
  agree(s, 'v1', 'Service');
  agree({ kind: 'Unknown' }, 'v1', 'NoSuchKind');
});
