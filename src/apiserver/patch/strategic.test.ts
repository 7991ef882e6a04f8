import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusError } from '../../api/errors.js';
import { strategicMergePatch } from './strategic.js';
import { deploymentSchema, podSchema, serviceSchema } from './fixtures.js';
import type { JsonObject, JsonValue } from './json.js';
import type { PatchSchema } from './schema.js';

interface Case { name: string; schema: PatchSchema; original: JsonObject; patch: JsonValue; want: JsonObject }

const LAST = 'kubectl.kubernetes.io/last-applied-configuration';
const svc = (ports: JsonValue[], extra: JsonObject = {}): JsonObject => ({
  apiVersion: 'v1', kind: 'Service',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web', tier: 'frontend' } },
  spec: { type: 'ClusterIP', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], selector: { app: 'web' }, ports, ...extra },
});
const http = { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 };
const https = { name: 'https', protocol: 'TCP', port: 443, targetPort: 8443 };
const metrics = { name: 'metrics', protocol: 'TCP', port: 9090, targetPort: 9090 };

const pod = (containers: JsonValue[]): JsonObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers } });

const cases: Case[] = [
  // Patches as `kubectl apply` (client-side, 1.32) sends them.
  {
    name: 'kubectl apply: change a port\'s targetPort, with the last-applied annotation',
    schema: serviceSchema, original: svc([http]),
    patch: {
      metadata: { annotations: { [LAST]: '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"web","namespace":"default"},"spec":{"ports":[{"name":"http","port":80,"targetPort":9090}],"selector":{"app":"web"}}}\n' } },
      spec: { '$setElementOrder/ports': [{ port: 80 }], ports: [{ port: 80, targetPort: 9090 }] },
    },
    want: {
      ...svc([{ ...http, targetPort: 9090 }]),
      metadata: {
        name: 'web', namespace: 'default', labels: { app: 'web', tier: 'frontend' },
        annotations: { [LAST]: '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"web","namespace":"default"},"spec":{"ports":[{"name":"http","port":80,"targetPort":9090}],"selector":{"app":"web"}}}\n' },
      },
    },
  },
  {
    name: 'kubectl apply: add a port after the existing one',
    schema: serviceSchema, original: svc([http]),
    patch: { spec: { '$setElementOrder/ports': [{ port: 80 }, { port: 443 }], ports: [{ name: 'https', port: 443, targetPort: 8443 }] } },
    want: svc([http, { name: 'https', port: 443, targetPort: 8443 }]),
  },
  {
    name: 'kubectl apply: add a port before the existing one',
    schema: serviceSchema, original: svc([http]),
    patch: { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }], ports: [{ name: 'https', port: 443, targetPort: 8443 }] } },
    want: svc([{ name: 'https', port: 443, targetPort: 8443 }, http]),
  },
  {
    name: 'kubectl apply: remove a port with $patch: delete',
    schema: serviceSchema, original: svc([http, https]),
    patch: { spec: { '$setElementOrder/ports': [{ port: 80 }], ports: [{ $patch: 'delete', port: 443 }] } },
    want: svc([http]),
  },
  {
    name: 'kubectl apply: a port nobody applied stays where the server had it',
    schema: serviceSchema, original: svc([http, metrics, https]),
    patch: { spec: { '$setElementOrder/ports': [{ port: 80 }], ports: [{ $patch: 'delete', port: 443 }] } },
    want: svc([http, metrics]),
  },
  {
    name: 'kubectl apply: reorder only',
    schema: serviceSchema, original: svc([http, https]),
    patch: { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }] } },
    want: svc([https, http]),
  },
  {
    name: 'kubectl apply: remove a label with null',
    schema: serviceSchema, original: svc([http]),
    patch: { metadata: { labels: { tier: null } } },
    want: { ...svc([http]), metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } } },
  },
  {
    name: 'kubectl apply: change the selector (a map, merged key by key)',
    schema: serviceSchema, original: svc([http]),
    patch: { spec: { selector: { app: 'api', version: 'v2' } } },
    want: svc([http], { selector: { app: 'api', version: 'v2' } }),
  },
  {
    name: 'kubectl apply: Deployment strategy RollingUpdate -> Recreate with $retainKeys',
    schema: deploymentSchema,
    original: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' },
      spec: { replicas: 2, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } } },
    patch: { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: null, type: 'Recreate' } } },
    want: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 2, strategy: { type: 'Recreate' } } },
  },
  {
    name: '$retainKeys clears what the patch does not list, even without nulls',
    schema: deploymentSchema,
    original: { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } },
    patch: { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } },
    want: { spec: { strategy: { type: 'Recreate' } } },
  },
  {
    name: 'kubectl apply: change an image and an env var, add a container port',
    schema: podSchema,
    original: pod([{ name: 'app', image: 'nginx:1.25', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80, protocol: 'TCP' }] },
      { name: 'sidecar', image: 'busybox' }]),
    patch: { spec: {
      '$setElementOrder/containers': [{ name: 'app' }, { name: 'sidecar' }],
      containers: [{
        '$setElementOrder/env': [{ name: 'A' }, { name: 'B' }], '$setElementOrder/ports': [{ containerPort: 80 }, { containerPort: 8080 }],
        name: 'app', image: 'nginx:1.27', env: [{ name: 'B', value: '3' }], ports: [{ containerPort: 8080 }],
      }],
    } },
    want: pod([{ name: 'app', image: 'nginx:1.27', env: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }],
      ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 8080 }] }, { name: 'sidecar', image: 'busybox' }]),
  },
  {
    name: 'kubectl apply: remove a container with $patch: delete',
    schema: podSchema,
    original: pod([{ name: 'app', image: 'nginx' }, { name: 'sidecar', image: 'busybox' }]),
    patch: { spec: { '$setElementOrder/containers': [{ name: 'app' }], containers: [{ $patch: 'delete', name: 'sidecar' }] } },
    want: pod([{ name: 'app', image: 'nginx' }]),
  },
  {
    name: 'kubectl apply: finalizers, a merged set of scalars',
    schema: serviceSchema,
    original: { metadata: { name: 'x', finalizers: ['a', 'b'] } },
    patch: { metadata: { '$deleteFromPrimitiveList/finalizers': ['b'], '$setElementOrder/finalizers': ['a', 'c'], finalizers: ['c'] } },
    want: { metadata: { name: 'x', finalizers: ['a', 'c'] } },
  },
  // Hand-written patches (kubectl patch, controllers).
  {
    name: 'a new port without $setElementOrder goes first (strategicpatch mergeSortedSlice)',
    schema: serviceSchema, original: svc([http, https]),
    patch: { spec: { ports: [{ name: 'metrics', port: 9090, targetPort: 9090 }] } },
    want: svc([{ name: 'metrics', port: 9090, targetPort: 9090 }, http, https]),
  },
  {
    name: 'an existing port merged without $setElementOrder keeps its place',
    schema: serviceSchema, original: svc([http, https]),
    patch: { spec: { ports: [{ port: 443, nodePort: 30443 }] } },
    want: svc([http, { ...https, nodePort: 30443 }]),
  },
  {
    name: 'a finalizer added without $setElementOrder goes first; duplicates collapse',
    schema: serviceSchema, original: { metadata: { finalizers: ['a', 'b'] } },
    patch: { metadata: { finalizers: ['c', 'a'] } },
    want: { metadata: { finalizers: ['c', 'a', 'b'] } },
  },
  {
    name: '$deleteFromPrimitiveList on its own',
    schema: serviceSchema, original: { metadata: { finalizers: ['a', 'b', 'c'] } },
    patch: { metadata: { '$deleteFromPrimitiveList/finalizers': ['b', 'x'] } },
    want: { metadata: { finalizers: ['a', 'c'] } },
  },
  {
    name: 'ownerReferences merge by uid',
    schema: serviceSchema,
    original: { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'a', uid: 'u1' }] } },
    patch: { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'b', uid: 'u2', controller: true }] } },
    want: { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'b', uid: 'u2', controller: true }, { apiVersion: 'v1', kind: 'X', name: 'a', uid: 'u1' }] } },
  },
  {
    name: '$patch: replace in a list replaces it',
    schema: serviceSchema, original: svc([http, https]),
    patch: { spec: { ports: [{ $patch: 'replace' }, { name: 'dns', port: 53, protocol: 'UDP' }] } },
    want: svc([{ name: 'dns', port: 53, protocol: 'UDP' }]),
  },
  {
    name: '$patch: replace on a map replaces it',
    schema: serviceSchema, original: svc([http], { selector: { app: 'web', tier: 'fe' } }),
    patch: { spec: { selector: { $patch: 'replace', app: 'api' } } },
    want: svc([http], { selector: { app: 'api' } }),
  },
  {
    name: 'lists without a merge strategy are replaced',
    schema: serviceSchema, original: svc([http]),
    patch: { spec: { clusterIPs: ['10.96.0.21'] } },
    want: svc([http], { clusterIPs: ['10.96.0.21'] }),
  },
  {
    name: 'fields the schema does not know are merged as JSON merge patch',
    schema: serviceSchema, original: { spec: { extra: { list: [1, 2], keep: true } } },
    patch: { spec: { extra: { list: [3], gone: null } } },
    want: { spec: { extra: { list: [3], keep: true } } },
  },
  {
    name: 'directives and nulls inside a newly added value are dropped',
    schema: podSchema, original: { spec: {} },
    patch: { spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'E', value: null }] }], nodeName: null } },
    want: { spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'E' }] }] } },
  },
  {
    name: 'a new list with $setElementOrder takes its order',
    schema: serviceSchema, original: { spec: {} },
    patch: { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }], ports: [{ port: 443 }, { port: 80 }] } },
    want: { spec: { ports: [{ port: 443 }, { port: 80 }] } },
  },
  {
    name: 'a null patch changes nothing',
    schema: serviceSchema, original: svc([http]), patch: null, want: svc([http]),
  },
];

for (const c of cases) {
  test(`strategic merge patch: ${c.name}`, () => {
    const before = JSON.stringify([c.original, c.patch]);
    assert.deepEqual(strategicMergePatch(c.original, c.patch, c.schema), c.want);
    assert.equal(JSON.stringify([c.original, c.patch]), before, 'inputs must not change');
  });
}

const failures: { name: string; original: JsonObject; patch: JsonValue; code: number; message: string }[] = [
  { name: 'unknown $patch directive', original: svc([http]), patch: { spec: { $patch: 'merge' } }, code: 500,
    message: 'unknown patch type: merge in map: map[$patch:merge]' },
  { name: '$patch: merge on a list item', original: svc([http]), patch: { spec: { ports: [{ $patch: 'merge', port: 80 }] } }, code: 500,
    message: 'merging lists cannot yet be specified in the patch' },
  { name: 'a list item without its merge key', original: svc([http]), patch: { spec: { ports: [{ targetPort: 1 }] } }, code: 500,
    message: 'map: map[targetPort:1] does not contain declared merge key: port' },
  { name: 'a key outside $retainKeys', original: { spec: { strategy: {} } }, patch: { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: {} } } },
    code: 400, message: 'invalid patch format of retainKeys' },
  { name: '$retainKeys that is not a list', original: { spec: { strategy: {} } }, patch: { spec: { strategy: { $retainKeys: 'type' } } },
    code: 400, message: 'invalid patch format of retainKeys' },
  { name: 'malformed $deleteFromPrimitiveList', original: { metadata: {} }, patch: { metadata: { $deleteFromPrimitiveList: ['a'] } },
    code: 400, message: 'invalid patch format of primitive list' },
  { name: 'patch list out of $setElementOrder\'s order', original: svc([http, https]),
    patch: { spec: { '$setElementOrder/ports': [{ port: 80 }, { port: 443 }], ports: [{ port: 443 }, { port: 80 }] } }, code: 500,
    message: 'the order in patch list:\n[map[port:443] map[port:80]]\n doesn\'t match $setElementOrder list:\n[map[port:80] map[port:443]]' },
  { name: 'a patch that is not an object', original: svc([http]), patch: [1], code: 400,
    message: 'json: cannot unmarshal array into Go value of type map[string]interface {}' },
];

for (const c of failures) {
  test(`strategic merge patch fails: ${c.name}`, () => {
    const schema = c.name.includes('retainKeys') ? deploymentSchema : serviceSchema;
    assert.throws(() => strategicMergePatch(c.original, c.patch, schema), (e: unknown) => {
      assert.ok(e instanceof StatusError);
      assert.equal(e.status.code, c.code);
      assert.equal(e.status.message, c.message);
      return true;
    });
  });
}

test('strategic merge patch: lists of lists are a bare 422', () => {
  assert.throws(() => strategicMergePatch({ metadata: { finalizers: [] } }, { metadata: { finalizers: [['b']] } }, serviceSchema),
    (e: unknown) => e instanceof StatusError && e.status.code === 422 && e.status.reason === 'Invalid');
});

// The schemas another engineer generates for /openapi/v3, when present.
test('strategic merge patch: works over the generated schemas.json', async (t) => {
  const { existsSync, readFileSync } = await import('node:fs');
  const file = 'src/apiserver/openapi/schemas.json';
  if (!existsSync(file)) { t.skip('no schemas.json'); return; }
  const { openAPIPatchSchemaForKind } = await import('./schema.js');
  const defs = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const schema = openAPIPatchSchemaForKind(defs, 'v1', 'Service');
  assert.equal(schema.name, 'io.k8s.api.core.v1.Service');
  const out = strategicMergePatch(svc([http]),
    { spec: { '$setElementOrder/ports': [{ port: 80 }, { port: 443 }], ports: [{ port: 443, targetPort: 8443 }] } }, schema);
  assert.deepEqual((out.spec as JsonObject).ports, [http, { port: 443, targetPort: 8443 }]);
});
