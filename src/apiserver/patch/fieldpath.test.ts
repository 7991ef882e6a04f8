import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldSet, comparePathElements, pathString } from './fieldpath.js';
import { deploymentSchema, serviceSchema } from './fixtures.js';
import { noSchema } from './schema.js';
import type { JsonObject } from './json.js';

test('FieldsV1: parse and print round-trip, "." for members that have children', () => {
  const v1 = {
    'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
    'f:spec': {
      'f:ports': { '.': {}, 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {}, 'f:targetPort': {} } },
      'f:selector': {},
    },
  };
  const s = FieldSet.fromFieldsV1(v1);
  assert.deepEqual(s.toFieldsV1(), v1);
  assert.ok(s.has(['f:spec', 'f:ports']));
  assert.ok(s.has(['f:spec', 'f:ports', 'k:{"port":80,"protocol":"TCP"}']));
  assert.ok(!s.has(['f:spec']));
});

test('FieldsV1: elements are printed in fieldpath order (fields, keys, values, indices)', () => {
  const s = FieldSet.of(['i:1'], ['v:"b"'], ['v:"a"'], ['k:{"port":443}'], ['k:{"port":80}'], ['f:z'], ['f:a'], ['v:3']);
  assert.deepEqual(Object.keys(s.toFieldsV1()), ['f:a', 'f:z', 'k:{"port":80}', 'k:{"port":443}', 'v:3', 'v:"a"', 'v:"b"', 'i:1']);
  assert.ok(comparePathElements('k:{"port":80,"protocol":"TCP"}', 'k:{"port":80,"protocol":"UDP"}') < 0);
});

test('set algebra: difference keeps children of a removed member, recursiveDifference does not', () => {
  const a = FieldSet.of(['f:spec', 'f:ports'], ['f:spec', 'f:ports', 'k:{"port":80}']);
  const b = FieldSet.of(['f:spec', 'f:ports']);
  assert.deepEqual(a.difference(b).toFieldsV1(), { 'f:spec': { 'f:ports': { 'k:{"port":80}': {} } } });
  assert.deepEqual(a.recursiveDifference(b).toFieldsV1(), {});
  assert.deepEqual(a.intersection(b).toFieldsV1(), { 'f:spec': { 'f:ports': {} } });
  assert.deepEqual(b.union(FieldSet.of(['f:a'])).toFieldsV1(), { 'f:a': {}, 'f:spec': { 'f:ports': {} } });
});

test('paths print as kube prints them in conflicts', () => {
  assert.equal(pathString(['f:spec', 'f:ports', 'k:{"port":80,"protocol":"TCP"}', 'f:targetPort']), '.spec.ports[port=80,protocol="TCP"].targetPort');
  assert.equal(pathString(['f:metadata', 'f:finalizers', 'v:"a"']), '.metadata.finalizers[="a"]');
  assert.equal(pathString(['f:metadata', 'f:labels', 'f:app.kubernetes.io/name']), '.metadata.labels.app.kubernetes.io/name');
  assert.equal(pathString(['f:l', 'i:3']), '.l[3]');
});

test('schema: properties through allOf refs, maps, lists and their metadata', () => {
  const spec = serviceSchema.field('spec');
  assert.equal(spec?.name, 'io.k8s.api.core.v1.ServiceSpec');
  assert.equal(spec?.isStruct, true);
  const ports = spec?.field('ports');
  assert.deepEqual([ports?.type, ports?.patchStrategies, ports?.patchMergeKey, ports?.listType, ports?.listMapKeys],
    ['array', ['merge'], 'port', 'map', ['port', 'protocol']]);
  assert.equal(ports?.items()?.field('protocol')?.default, 'TCP');
  assert.equal(ports?.items()?.field('targetPort')?.type, 'scalar', 'IntOrString is a scalar');
  const selector = spec?.field('selector');
  assert.deepEqual([selector?.type, selector?.isStruct, selector?.mapType, selector?.field('anything')?.type], ['object', false, 'atomic', 'scalar']);
  assert.deepEqual(deploymentSchema.field('spec')?.field('strategy')?.patchStrategies, ['retainKeys']);
  assert.equal(serviceSchema.field('nope'), undefined);
  assert.equal(noSchema.field('x'), undefined);
});

test('fromFieldsV1 says whether its input is exactly what toFieldsV1 writes (so it can be written back as it is)', () => {
  const canonical = (v: JsonObject): boolean => {
    const form = { canonical: true };
    FieldSet.fromFieldsV1(v, form);
    return form.canonical;
  };
  const sets = [
    FieldSet.of(['f:spec', 'f:ports', 'k:{"port":80,"protocol":"TCP"}', 'f:port'], ['f:spec', 'f:ports', 'k:{"port":80,"protocol":"TCP"}'], ['f:spec', 'f:type']),
    FieldSet.of(['f:metadata', 'f:labels', 'f:app'], ['f:metadata', 'f:labels'], ['f:data', 'f:k'], ['f:data'], ['f:metadata', 'f:finalizers', 'v:"a"']),
    FieldSet.of(['f:status', 'f:conditions', 'k:{"type":"Ready"}', 'f:status'], ['f:status', 'f:conditions', 'k:{"type":"Ready"}', 'f:type'], ['f:status', 'f:podIP']),
  ];
  for (const s of sets) {
    const v = s.toFieldsV1();
    assert.ok(canonical(v), JSON.stringify(v));
    assert.equal(JSON.stringify(FieldSet.fromFieldsV1(v).toFieldsV1()), JSON.stringify(v));
  }
  // What the same sets look like written otherwise: accepted, but re-encoded.
  for (const v of [
    { 'f:spec': { 'f:type': {}, 'f:ports': {} } },            // keys out of order
    { 'f:data': { '.': {} } },                                 // a leaf written as {".": {}}
    { 'f:data': { 'f:k': {}, '.': {} } },                      // "." not first
    { 'f:data': { '.': { 'x': {} }, 'f:k': {} } },             // "." not empty
    { '.': {}, 'f:data': {} },                                 // "." at the top
    { 'f:data': { 'f:a': { 'f:b': { '.': {} } } } },           // a leaf written as {".": {}}, deeper
  ] as JsonObject[]) {
    assert.ok(!canonical(v), JSON.stringify(v));
    assert.notEqual(JSON.stringify(FieldSet.fromFieldsV1(v).toFieldsV1()), JSON.stringify(v));
  }
});
