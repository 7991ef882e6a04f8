import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusError } from '../../api/errors.js';
import { serverSideApply, updateManagedFields, type ApplyOptions, type ManagedFieldsEntry } from './apply.js';
import { serviceSchema } from './fixtures.js';
import { openAPIPatchSchema } from './schema.js';
import type { JsonObject, JsonValue } from './json.js';

const T0 = new Date('2024-05-01T10:00:00Z');
const T1 = new Date('2024-05-01T11:00:00Z');
const LAST = 'kubectl.kubernetes.io/last-applied-configuration';
const P80 = 'k:{"port":80,"protocol":"TCP"}';
const P443 = 'k:{"port":443,"protocol":"TCP"}';

const opts = (fieldManager: string, more: Partial<ApplyOptions> = {}): ApplyOptions =>
  ({ fieldManager, schema: serviceSchema, apiVersion: 'v1', kind: 'Service', now: T0, ...more });
const upd = { schema: serviceSchema, apiVersion: 'v1', now: T0 };

/** A Service configuration as a user writes it. */
const config = (spec: JsonObject, metadata: JsonObject = {}): JsonObject => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default', ...metadata }, spec,
});

const managed = (o: JsonObject): ManagedFieldsEntry[] => (o.metadata as unknown as { managedFields: ManagedFieldsEntry[] }).managedFields;
const spec = (o: JsonObject): JsonObject => o.spec as JsonObject;
const entry = (manager: string, operation: 'Apply' | 'Update', fieldsV1: JsonObject, time = '2024-05-01T10:00:00Z'): ManagedFieldsEntry =>
  ({ manager, operation, apiVersion: 'v1', time, fieldsType: 'FieldsV1', fieldsV1 });

function statusOf(fn: () => unknown): { code?: number; reason?: string; message?: string; details?: unknown } {
  try { fn(); } catch (e) {
    assert.ok(e instanceof StatusError, String(e));
    return e.status;
  }
  assert.fail('expected a StatusError');
}

/** What `kubectl apply` (client-side) creates: the object and its kubectl-client-side-apply Update entry. */
function clientSideApplied(): JsonObject {
  const lastApplied = '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"labels":{"app":"web"},"name":"web","namespace":"default"},"spec":{"ports":[{"port":80,"targetPort":8080}],"selector":{"app":"web"}}}\n';
  const stored = config({ ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }], selector: { app: 'web' }, type: 'ClusterIP' },
    { labels: { app: 'web' }, annotations: { [LAST]: lastApplied } });
  return updateManagedFields(undefined, stored, 'kubectl-client-side-apply', upd);
}

test('update: a create records every field it set, lists and maps with "."', () => {
  const created = clientSideApplied();
  assert.deepEqual(managed(created), [entry('kubectl-client-side-apply', 'Update', {
    'f:metadata': {
      'f:annotations': { '.': {}, [`f:${LAST}`]: {} },
      'f:labels': { '.': {}, 'f:app': {} },
    },
    'f:spec': {
      'f:ports': { '.': {}, [P80]: { '.': {}, 'f:port': {}, 'f:protocol': {}, 'f:targetPort': {} } },
      'f:selector': {},
      'f:type': {},
    },
  })]);
});

test('apply: create records exactly the applied fields (name, kind… are never owned)', () => {
  const out = serverSideApply(undefined, config({ ports: [{ port: 80, targetPort: 8080 }], selector: { app: 'web' } }, { labels: { app: 'web' } }), opts('kubectl'));
  assert.deepEqual(spec(out), { ports: [{ port: 80, targetPort: 8080 }], selector: { app: 'web' } });
  assert.deepEqual(managed(out), [entry('kubectl', 'Apply', {
    'f:metadata': { 'f:labels': { 'f:app': {} } },
    'f:spec': { 'f:ports': { [P80]: { '.': {}, 'f:port': {}, 'f:targetPort': {} } }, 'f:selector': {} },
  })]);
});

test('apply: re-applying the same configuration changes nothing, not even the timestamp', () => {
  const cfg = config({ ports: [{ port: 80, targetPort: 8080 }] });
  const first = serverSideApply(undefined, cfg, opts('kubectl'));
  const again = serverSideApply(first, cfg, opts('kubectl', { now: T1 }));
  assert.deepEqual(again, first);
});

test('apply: changing a field another manager set is a 409 Conflict in kube\'s words', () => {
  const live = clientSideApplied();
  const st = statusOf(() => serverSideApply(live, config({ ports: [{ port: 80, targetPort: 9090 }] }), opts('deploy-tool')));
  assert.equal(st.code, 409);
  assert.equal(st.reason, 'Conflict');
  assert.equal(st.message, 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .spec.ports[port=80,protocol="TCP"].targetPort');
  assert.deepEqual(st.details, { causes: [{
    reason: 'FieldManagerConflict',
    message: 'conflict with "kubectl-client-side-apply" using v1',
    field: '.spec.ports[port=80,protocol="TCP"].targetPort',
  }] });
});

test('apply: several conflicts are listed per manager', () => {
  const live = clientSideApplied();
  const st = statusOf(() => serverSideApply(live, config({ ports: [{ port: 80, targetPort: 9090 }], selector: { app: 'api' } }), opts('deploy-tool')));
  assert.equal(st.message, 'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using v1:\n' +
    '- .spec.selector\n- .spec.ports[port=80,protocol="TCP"].targetPort');
  assert.equal((st.details as { causes: unknown[] }).causes.length, 2);
});

test('apply: the same value is no conflict; both managers own it', () => {
  const live = clientSideApplied();
  const out = serverSideApply(live, config({ ports: [{ port: 80, targetPort: 8080 }] }), opts('deploy-tool'));
  assert.deepEqual(spec(out), spec(live));
  const [apply, update] = managed(out);
  assert.deepEqual(apply.fieldsV1, { 'f:spec': { 'f:ports': { [P80]: { '.': {}, 'f:port': {}, 'f:targetPort': {} } } } });
  assert.deepEqual(update, managed(live)[0]);
});

test('apply: force takes the field over', () => {
  const live = clientSideApplied();
  const out = serverSideApply(live, config({ ports: [{ port: 80, targetPort: 9090 }] }), opts('deploy-tool', { force: true, now: T1 }));
  assert.deepEqual(spec(out).ports, [{ port: 80, protocol: 'TCP', targetPort: 9090 }]);
  assert.deepEqual(managed(out), [
    entry('deploy-tool', 'Apply', { 'f:spec': { 'f:ports': { [P80]: { '.': {}, 'f:port': {}, 'f:targetPort': {} } } } }, '2024-05-01T11:00:00Z'),
    entry('kubectl-client-side-apply', 'Update', {
      'f:metadata': { 'f:annotations': { '.': {}, [`f:${LAST}`]: {} }, 'f:labels': { '.': {}, 'f:app': {} } },
      'f:spec': { 'f:ports': { '.': {}, [P80]: { '.': {}, 'f:port': {}, 'f:protocol': {} } }, 'f:selector': {}, 'f:type': {} },
    }),
  ]);
});

test('apply: an atomic map conflicts as a whole; appliers are printed without a version', () => {
  const live = serverSideApply(undefined, config({ selector: { app: 'web' } }), opts('kubectl'));
  const st = statusOf(() => serverSideApply(live, config({ selector: { app: 'web', tier: 'fe' } }), opts('other')));
  assert.equal(st.message, 'Apply failed with 1 conflict: conflict with "kubectl": .spec.selector');
});

test('apply: a label left out of the configuration is removed', () => {
  const first = serverSideApply(undefined, config({}, { labels: { app: 'web', tier: 'fe' } }), opts('kubectl'));
  const out = serverSideApply(first, config({}, { labels: { app: 'web' } }), opts('kubectl'));
  assert.deepEqual((out.metadata as JsonObject).labels, { app: 'web' });
  assert.deepEqual(managed(out)[0].fieldsV1, { 'f:metadata': { 'f:labels': { 'f:app': {} } } });
});

test('apply: ... unless another manager owns it now', () => {
  const first = serverSideApply(undefined, config({}, { labels: { app: 'web', tier: 'fe' } }), opts('kubectl'));
  const relabeled = updateManagedFields(first, { ...first, metadata: { ...(first.metadata as JsonObject), labels: { app: 'web', tier: 'be' } } },
    'kubectl-label', { ...upd, now: T1 });
  const out = serverSideApply(relabeled, config({}, { labels: { app: 'web' } }), opts('kubectl'));
  assert.deepEqual((out.metadata as JsonObject).labels, { app: 'web', tier: 'be' });
});

test('apply: removing every label removes the map', () => {
  const first = serverSideApply(undefined, config({ type: 'ClusterIP' }, { labels: { app: 'web' } }), opts('kubectl'));
  const out = serverSideApply(first, config({ type: 'ClusterIP' }), opts('kubectl'));
  assert.deepEqual(out.metadata, { name: 'web', namespace: 'default', managedFields: managed(out) as unknown as JsonValue });
});

test('apply: a port left out is removed; the others keep their order', () => {
  const first = serverSideApply(undefined, config({ ports: [{ port: 80 }, { port: 443 }, { port: 8080 }] }), opts('kubectl'));
  const out = serverSideApply(first, config({ ports: [{ port: 80 }, { port: 8080 }] }), opts('kubectl'));
  assert.deepEqual(spec(out).ports, [{ port: 80 }, { port: 8080 }]);
});

test('apply: a port whose protocol is defaulted in the live object is the same item', () => {
  const live = updateManagedFields(undefined, config({ ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] }), 'creator', upd);
  const out = serverSideApply(live, config({ ports: [{ port: 80, targetPort: 8080, name: 'http' }] }), opts('kubectl'));
  assert.deepEqual(spec(out).ports, [{ port: 80, protocol: 'TCP', targetPort: 8080, name: 'http' }]);
  assert.deepEqual(managed(out)[0].fieldsV1, { 'f:spec': { 'f:ports': { [P80]: { '.': {}, 'f:name': {}, 'f:port': {}, 'f:targetPort': {} } } } });
});

test('apply: list-maps merge in the configuration\'s order, live-only items stay in place', () => {
  const live = updateManagedFields(undefined, config({ ports: [{ port: 80 }, { port: 9090 }] }), 'creator', upd);
  const out = serverSideApply(live, config({ ports: [{ port: 443 }, { port: 80 }] }), opts('kubectl'));
  assert.deepEqual(spec(out).ports, [{ port: 443 }, { port: 80 }, { port: 9090 }]);
  assert.deepEqual(managed(out)[0].fieldsV1, { 'f:spec': { 'f:ports': { [P80]: { '.': {}, 'f:port': {} }, [P443]: { '.': {}, 'f:port': {} } } } });
});

test('apply: atomic lists are replaced whole', () => {
  const live = updateManagedFields(undefined, config({ clusterIPs: ['10.96.0.1', 'fd00::1'] }), 'creator', upd);
  const out = serverSideApply(live, config({ clusterIPs: ['10.96.0.1'] }), opts('kubectl', { force: true }));
  assert.deepEqual(spec(out).clusterIPs, ['10.96.0.1']);
});

test('apply: sets own their values', () => {
  const out = serverSideApply(undefined, config({}, { finalizers: ['example.com/a'] }), opts('kubectl'));
  assert.deepEqual(managed(out)[0].fieldsV1, { 'f:metadata': { 'f:finalizers': { 'v:"example.com/a"': {} } } });
});

test('update: a write takes the fields it changes away from an applier', () => {
  const applied = serverSideApply(undefined, config({ ports: [{ port: 80, targetPort: 8080 }] }), opts('kubectl'));
  const edited = JSON.parse(JSON.stringify(applied)) as JsonObject;
  (spec(edited).ports as JsonObject[])[0].targetPort = 9090;
  const out = updateManagedFields(applied, edited, 'kubectl-edit', { ...upd, now: T1 });
  assert.deepEqual(managed(out), [
    entry('kubectl', 'Apply', { 'f:spec': { 'f:ports': { [P80]: { '.': {}, 'f:port': {} } } } }),
    entry('kubectl-edit', 'Update', { 'f:spec': { 'f:ports': { [P80]: { 'f:targetPort': {} } } } }, '2024-05-01T11:00:00Z'),
  ]);
  // And the applier now conflicts with kubectl edit.
  const st = statusOf(() => serverSideApply(out, config({ ports: [{ port: 80, targetPort: 8080 }] }), opts('kubectl')));
  assert.equal(st.message, 'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .spec.ports[port=80,protocol="TCP"].targetPort');
});

test('update: a write that changes nothing leaves managedFields alone', () => {
  const live = clientSideApplied();
  const out = updateManagedFields(live, JSON.parse(JSON.stringify(live)) as JsonObject, 'someone', { ...upd, now: T1 });
  assert.deepEqual(out, live);
});

test('update: a client that drops managedFields does not wipe them', () => {
  const live = clientSideApplied();
  const sent = JSON.parse(JSON.stringify(live)) as JsonObject;
  delete (sent.metadata as JsonObject).managedFields;
  assert.deepEqual(managed(updateManagedFields(live, sent, 'someone', upd)), managed(live));
});

test('apply: kubectl moving from client-side to server-side apply takes over what last-applied still describes', () => {
  const live = clientSideApplied();
  const cfg = config({ ports: [{ port: 80, targetPort: 9090 }], selector: { app: 'web' } }, { labels: { app: 'web' } });
  const out = serverSideApply(live, cfg, opts('kubectl', { now: T1 }));
  assert.equal((spec(out).ports as JsonObject[])[0].targetPort, 9090);
  // lastAppliedUpdater keeps the annotation in step, in encoding/json's form.
  assert.equal(((out.metadata as JsonObject).annotations as JsonObject)[LAST],
    '{"apiVersion":"v1","kind":"Service","metadata":{"labels":{"app":"web"},"name":"web","namespace":"default"},"spec":{"ports":[{"port":80,"targetPort":9090}],"selector":{"app":"web"}}}\n');
  // Another manager gets no such allowance.
  const st = statusOf(() => serverSideApply(live, cfg, opts('helm')));
  assert.equal(st.code, 409);
});

test('apply: an object nobody owns yet belongs to before-first-apply', () => {
  const live = config({ ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] });
  const st = statusOf(() => serverSideApply(live, config({ ports: [{ port: 80, targetPort: 9090 }] }), opts('x')));
  assert.equal(st.message, 'Apply failed with 1 conflict: conflict with "before-first-apply" using v1: .spec.ports[port=80,protocol="TCP"].targetPort');
});

test('apply: reset fields (status on the main resource) are never owned', () => {
  const out = serverSideApply(undefined, { ...config({ type: 'ClusterIP' }), status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } },
    opts('kubectl', { resetFields: [['status']] }));
  assert.deepEqual(managed(out)[0].fieldsV1, { 'f:spec': { 'f:type': {} } });
});

const errorCases: { name: string; cfg: JsonObject; code: number; message: string }[] = [
  { name: 'wrong kind', cfg: { ...config({}), kind: 'Pod' }, code: 400, message: 'invalid object type: /v1, Kind=Pod' },
  { name: 'wrong version', cfg: { ...config({}), apiVersion: 'apps/v1' }, code: 400, message: 'invalid object type: apps/v1, Kind=Service' },
  { name: 'managedFields in the configuration', cfg: config({}, { managedFields: [] }), code: 400, message: 'metadata.managedFields must be nil' },
  { name: 'duplicate list-map keys', cfg: config({ ports: [{ port: 80 }, { port: 80, protocol: 'TCP' }] }), code: 500,
    message: 'failed to create typed patch object (default/web; /v1, Kind=Service): .spec.ports: duplicate entries for key [port=80,protocol="TCP"]' },
];

for (const c of errorCases) {
  test(`apply fails: ${c.name}`, () => {
    const st = statusOf(() => serverSideApply(undefined, c.cfg, opts('kubectl')));
    assert.equal(st.code, c.code);
    assert.equal(st.message, c.message);
  });
}

test('apply: a list-map key left out takes its schema default (kube\'s OpenAPI gives ServicePort.port default 0)', () => {
  const out = serverSideApply(undefined, config({ ports: [{ targetPort: 80 }] }), opts('kubectl'));
  assert.deepEqual(managed(out)[0].fieldsV1, { 'f:spec': { 'f:ports': { 'k:{"port":0,"protocol":"TCP"}': { '.': {}, 'f:targetPort': {} } } } });
});

test('apply fails: a list-map key left out without a default', () => {
  const schema = openAPIPatchSchema({
    'x.Thing': { type: 'object', properties: {
      apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object', properties: { name: { type: 'string' } } },
      items: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, v: { type: 'string' } } },
        'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['id'] },
    } },
  }, 'x.Thing');
  const st = statusOf(() => serverSideApply(undefined, { apiVersion: 'x/v1', kind: 'Thing', metadata: { name: 't' }, items: [{ v: 'a' }] },
    { fieldManager: 'm', schema, apiVersion: 'x/v1', kind: 'Thing' }));
  assert.equal(st.code, 500);
  assert.equal(st.message, 'failed to create typed patch object (/t; x/v1, Kind=Thing): .items: element 0: associative list with keys has an element that omits key field "id" (and doesn\'t have default value)');
});
