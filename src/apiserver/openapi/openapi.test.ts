import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { groupVersion, resources } from '../../api/resources.js';
import {
  definition, documentHash, openapiDocument, openapiIndex, resolveSchema, schemaFor, strictDecodingMessage,
  unknownFields, type Schema,
} from './index.js';

interface Operation {
  operationId: string;
  parameters?: { name: string; in: string }[];
  'x-kubernetes-action': string;
  'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string };
}
type PathItem = Partial<Record<'get' | 'post' | 'put' | 'patch' | 'delete', Operation>> & { parameters?: { name: string }[] };
interface Doc { openapi: string; info: { version: string }; paths: Record<string, PathItem>; components: { schemas: Record<string, Schema> } }

const doc = (gvPath: string): Doc => {
  const d = openapiDocument(gvPath);
  assert.ok(d, `no document for ${gvPath}`);
  return JSON.parse(d.body) as Doc;
};
const gvPathOf = (group: string, version: string): string => (group === '' ? `api/${version}` : `apis/${group}/${version}`);

test('the index lists every group version with kube-openapi hashed URLs', () => {
  const index = openapiIndex();
  assert.deepEqual(Object.keys(index.paths), [
    'api', 'api/v1', 'apis', 'apis/apps', 'apis/apps/v1', 'apis/coordination.k8s.io', 'apis/coordination.k8s.io/v1',
    'apis/discovery.k8s.io', 'apis/discovery.k8s.io/v1', 'version',
  ]);
  for (const [key, { serverRelativeURL }] of Object.entries(index.paths)) {
    const d = openapiDocument(key)!;
    // handler3: hash = fmt.Sprintf("%X", sha512.Sum512(body))
    assert.equal(d.hash, createHash('sha512').update(d.body).digest('hex').toUpperCase());
    assert.match(d.hash, /^[0-9A-F]{128}$/);
    assert.equal(serverRelativeURL, `/openapi/v3/${key}?hash=${d.hash}`);
  }
  assert.deepEqual(openapiIndex(), index, 'stable across calls');
  assert.equal(openapiDocument('/api/v1/'), openapiDocument('api/v1'));
  assert.equal(openapiDocument('apis/batch/v1'), undefined);
  assert.equal(documentHash('x'), createHash('sha512').update('x').digest('hex').toUpperCase());
});

test('documents look like kube-apiserver v1.32 documents', () => {
  const d = doc('api/v1');
  assert.equal(d.openapi, '3.0.0');
  assert.equal(d.info.version, 'v1.32.4');
  assert.ok(d.paths['/api/v1/']?.get, 'APIResourceList path');
  const svc = d.components.schemas['io.k8s.api.core.v1.Service']!;
  assert.deepEqual(svc['x-kubernetes-group-version-kind'], [{ group: '', kind: 'Service', version: 'v1' }]);
  assert.ok(d.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.Status']);
  assert.ok(d.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions']);
  assert.ok(d.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent']);
  assert.equal(d.components.schemas['io.k8s.api.apps.v1.Deployment'], undefined, 'only what the document references');
  assert.ok(doc('apis/apps/v1').components.schemas['io.k8s.api.autoscaling.v1.Scale'], 'scale subresource');
  // Every $ref in a document resolves inside it.
  for (const key of Object.keys(openapiIndex().paths)) {
    const body = openapiDocument(key)!.body;
    const schemas = (JSON.parse(body) as Doc).components.schemas;
    for (const m of body.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) assert.ok(schemas[m[1]!], `${key}: ${m[1]}`);
  }
});

test('every resource has its paths, and a patch operation kubectl accepts for fieldValidation', () => {
  for (const r of resources) {
    const d = doc(gvPathOf(r.group, r.version));
    const prefix = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
    const scope = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.plural}` : `${prefix}/${r.plural}`;
    const item = d.paths[`${scope}/{name}`];
    assert.ok(d.paths[scope]?.get && d.paths[scope]?.post, `${r.kind} collection`);
    assert.ok(item?.get && item.put && item.delete, `${r.kind} item`);
    // cli-runtime query_param_verifier_v3: the first PATCH operation whose
    // x-kubernetes-group-version-kind is the GVK must list fieldValidation, so
    // every patch for the GVK (main resource and /status) carries it.
    const gvk = { group: r.group, kind: r.kind, version: r.version };
    const patches = Object.values(d.paths).map((p) => p.patch)
      .filter((op): op is Operation => op !== undefined && JSON.stringify(op['x-kubernetes-group-version-kind']) === JSON.stringify(gvk));
    assert.ok(patches.length >= 1, `${r.kind} patch`);
    for (const op of patches) {
      const names = (op.parameters ?? []).map((p) => p.name);
      for (const n of ['fieldValidation', 'dryRun', 'fieldManager', 'force']) assert.ok(names.includes(n), `${op.operationId} ${n}`);
    }
    for (const method of ['post', 'put'] as const) {
      const op = method === 'post' ? d.paths[scope]![method]! : item[method]!;
      assert.ok(op.parameters?.some((p) => p.name === 'fieldValidation' && p.in === 'query'), `${op.operationId}`);
    }
    if (r.subresources.includes('status')) assert.equal(d.paths[`${scope}/{name}/status`]?.patch?.['x-kubernetes-action'], 'patch');
    if (r.subresources.includes('scale')) {
      assert.deepEqual(d.paths[`${scope}/{name}/scale`]?.patch?.['x-kubernetes-group-version-kind'],
        { group: 'autoscaling', kind: 'Scale', version: 'v1' });
    }
    assert.ok(schemaFor(groupVersion(r), r.kind), `${r.kind} schema`);
    assert.ok(schemaFor(groupVersion(r), r.listKind), `${r.listKind} schema`);
  }
  const svc = doc('api/v1').paths['/api/v1/namespaces/{namespace}/services/{name}']!;
  assert.equal(svc.patch!.operationId, 'patchCoreV1NamespacedService');
  assert.deepEqual(svc.parameters!.map((p) => p.name), ['name', 'namespace', 'pretty']);
  assert.equal(doc('api/v1').paths['/api/v1/services']!.get!.operationId, 'listCoreV1ServiceForAllNamespaces');
  assert.equal(doc('apis/apps/v1').paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale']!.get!.operationId,
    'readAppsV1NamespacedDeploymentScale');
  assert.equal(doc('api/v1').paths['/api/v1/namespaces']!.delete, undefined, 'Namespace has no deletecollection');
});

test('Service schema: ports merge on port, list-map keys port+protocol, documented', () => {
  const spec = resolveSchema(schemaFor('v1', 'Service')!.properties!.spec!);
  const ports = spec.properties!.ports!;
  assert.equal(ports['x-kubernetes-patch-merge-key'], 'port');
  assert.equal(ports['x-kubernetes-patch-strategy'], 'merge');
  assert.equal(ports['x-kubernetes-list-type'], 'map');
  assert.deepEqual(ports['x-kubernetes-list-map-keys'], ['port', 'protocol']);
  assert.equal(ports.description, 'The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies');
  const port = resolveSchema(ports.items!);
  assert.deepEqual(port.required, ['port']);
  assert.equal(port.properties!.port!.format, 'int32');
  assert.deepEqual(port.properties!.targetPort!.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString' }]);
  assert.equal(spec.properties!.selector!['x-kubernetes-map-type'], 'atomic');
  assert.equal(spec.properties!.clusterIPs!['x-kubernetes-list-type'], 'atomic');
});

test('patch metadata of the other served types', () => {
  const field = (def: string, name: string): Schema => definition(def)!.properties![name]!;
  const core = (t: string): string => `io.k8s.api.core.v1.${t}`;
  const meta = (t: string): string => `io.k8s.apimachinery.pkg.apis.meta.v1.${t}`;
  assert.equal(field(core('PodSpec'), 'containers')['x-kubernetes-patch-merge-key'], 'name');
  assert.equal(field(core('PodSpec'), 'volumes')['x-kubernetes-patch-strategy'], 'merge,retainKeys');
  assert.equal(field(core('PodSpec'), 'tolerations')['x-kubernetes-list-type'], 'atomic');
  assert.equal(field(core('Container'), 'ports')['x-kubernetes-patch-merge-key'], 'containerPort');
  assert.deepEqual(field(core('Container'), 'ports')['x-kubernetes-list-map-keys'], ['containerPort', 'protocol']);
  assert.equal(field(core('Container'), 'env')['x-kubernetes-patch-merge-key'], 'name');
  assert.equal(field(core('Container'), 'volumeMounts')['x-kubernetes-patch-merge-key'], 'mountPath');
  assert.equal(field(core('NodeStatus'), 'addresses')['x-kubernetes-patch-merge-key'], 'type');
  assert.equal(field(core('NodeStatus'), 'conditions')['x-kubernetes-patch-merge-key'], 'type');
  assert.equal(field(core('PodStatus'), 'conditions')['x-kubernetes-patch-merge-key'], 'type');
  assert.equal(field(core('EndpointSubset'), 'addresses')['x-kubernetes-list-type'], 'atomic');
  assert.equal(field('io.k8s.api.discovery.v1.EndpointSlice', 'endpoints')['x-kubernetes-list-type'], 'atomic');
  assert.equal(field('io.k8s.api.apps.v1.DeploymentStatus', 'conditions')['x-kubernetes-patch-merge-key'], 'type');
  assert.equal(field(meta('ObjectMeta'), 'ownerReferences')['x-kubernetes-patch-merge-key'], 'uid');
  assert.equal(field(meta('ObjectMeta'), 'finalizers')['x-kubernetes-patch-strategy'], 'merge');
  assert.equal(field(meta('ObjectMeta'), 'finalizers')['x-kubernetes-list-type'], 'set');
  assert.equal(definition(meta('LabelSelector'))!['x-kubernetes-map-type'], 'atomic');
  assert.equal(field(meta('ObjectMeta'), 'generation').format, 'int64');
  assert.deepEqual(definition('io.k8s.apimachinery.pkg.util.intstr.IntOrString')!.oneOf, [{ type: 'integer' }, { type: 'string' }]);
  assert.equal(definition(meta('Time'))!.format, 'date-time');
  assert.ok(definition(meta('DeleteOptions'))!['x-kubernetes-group-version-kind']!.some((g) => g.group === 'apps'));
});

test('unknownFields reports nested unknown fields in document order, as strict decoding does', () => {
  const svc = {
    apiVersion: 'v1', kind: 'Service',
    metadata: {
      name: 'web', labels: { 'app.kubernetes.io/name': 'web' }, annotations: { a: 'b' }, bogus: true,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u', extra: 1 }],
      managedFields: [{ manager: 'm', fieldsV1: { 'f:spec': { 'f:anything': {} } } }],
    },
    spec: {
      ports: [{ port: 80, targetPort: 'http' }, { port: 443, targetPort: 8443, nodePrt: 30000 }],
      selector: { app: 'web' },
      foo: { bar: 1 },
    },
    status: { loadBalancer: { ingress: [{ ip: '1.2.3.4', ports: [{ port: 80, protocol: 'TCP', what: 'x' }] }] } },
    zzz: 1,
  };
  const paths = unknownFields(svc, 'v1', 'Service');
  assert.deepEqual(paths, [
    'metadata.bogus', 'metadata.ownerReferences[0].extra', 'spec.ports[1].nodePrt', 'spec.foo',
    'status.loadBalancer.ingress[0].ports[0].what', 'zzz',
  ]);
  assert.equal(strictDecodingMessage(paths.slice(2, 4)),
    'strict decoding error: unknown field "spec.ports[1].nodePrt", unknown field "spec.foo"');
});

test('unknownFields accepts every known field, quantities and int-or-strings', () => {
  const deploy = {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'd', namespace: 'default', finalizers: ['x'], creationTimestamp: null },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'd' }, matchExpressions: [{ key: 'app', operator: 'In', values: ['d'] }] },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
      template: {
        metadata: { labels: { app: 'd' } },
        spec: {
          containers: [{
            name: 'c', image: 'nginx', ports: [{ containerPort: 80, protocol: 'TCP' }],
            env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
            resources: { limits: { cpu: '100m', memory: 1073741824 }, requests: { cpu: 0.5 } },
            readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
          }],
          volumes: [{ name: 'v', emptyDir: { sizeLimit: '1Gi' } }],
        },
      },
    },
  };
  assert.deepEqual(unknownFields(deploy, 'apps/v1', 'Deployment'), []);
  const slice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's' }, addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true }, nodeName: 'n', zone: 'z', targetRef: { kind: 'Pod', name: 'p' } }],
    ports: [{ name: 'http', port: 80, protocol: 'TCP', appProtocol: 'http' }],
  };
  assert.deepEqual(unknownFields(slice, 'discovery.k8s.io/v1', 'EndpointSlice'), []);
  assert.deepEqual(unknownFields({ ...slice, endpoints: [{ addresses: [], hostname: 'h', bad: 1 }] }, 'discovery.k8s.io/v1', 'EndpointSlice'),
    ['endpoints[0].bad']);
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, status: { capacity: { cpu: '2', pods: 110 }, addresses: [{ type: 'InternalIP', address: '10.0.0.2' }] } };
  assert.deepEqual(unknownFields(node, 'v1', 'Node'), []);
  const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { holderIdentity: 'x', renewTime: '2025-01-01T00:00:00.000000Z', leaseDurationSeconds: 15 } };
  assert.deepEqual(unknownFields(lease, 'coordination.k8s.io/v1', 'Lease'), []);
  assert.deepEqual(unknownFields({ kind: 'Scale', spec: { replicas: 1, x: 1 } }, 'autoscaling/v1', 'Scale'), ['spec.x']);
  assert.deepEqual(unknownFields({ a: 1 }, 'v1', 'NoSuchKind'), []);
});
