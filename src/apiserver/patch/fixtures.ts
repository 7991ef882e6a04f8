// A small hand-written slice of kube-apiserver's /openapi/v3
// components.schemas, in its exact shape, for the patch engine tests.
import { openAPIPatchSchema, type PatchSchema } from './schema.js';

const ref = (name: string): Record<string, unknown> => ({ allOf: [{ $ref: `#/components/schemas/${name}` }], default: {} });
const str = { type: 'string', default: '' };
const int = { type: 'integer', format: 'int32', default: 0 };
const stringMap = { type: 'object', additionalProperties: { type: 'string', default: '' } };
const gvk = (group: string, version: string, kind: string): Record<string, unknown> =>
  ({ 'x-kubernetes-group-version-kind': [{ group, version, kind }] });

export const definitions: Record<string, unknown> = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': {
    description: 'IntOrString is a type that can hold an int32 or a string.',
    format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }],
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': {
    type: 'object',
    properties: {
      name: str, namespace: str, uid: str, resourceVersion: str, generateName: str,
      creationTimestamp: { type: 'string', format: 'date-time' },
      labels: stringMap, annotations: stringMap,
      finalizers: {
        type: 'array', items: str,
        'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': 'merge',
      },
      ownerReferences: {
        type: 'array', items: ref('io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference'),
        'x-kubernetes-list-map-keys': ['uid'], 'x-kubernetes-list-type': 'map',
        'x-kubernetes-patch-merge-key': 'uid', 'x-kubernetes-patch-strategy': 'merge',
      },
      managedFields: { type: 'array', items: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry') },
    },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry': {
    type: 'object',
    properties: { manager: str, operation: str, apiVersion: str, time: { type: 'string', format: 'date-time' }, fieldsType: str, fieldsV1: { type: 'object' }, subresource: str },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference': {
    type: 'object', required: ['apiVersion', 'kind', 'name', 'uid'],
    properties: { apiVersion: str, kind: str, name: str, uid: str, controller: { type: 'boolean' } },
    'x-kubernetes-map-type': 'atomic',
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector': {
    type: 'object',
    properties: {
      matchLabels: stringMap,
      matchExpressions: { type: 'array', items: { type: 'object' }, 'x-kubernetes-list-type': 'atomic' },
    },
    'x-kubernetes-map-type': 'atomic',
  },
  'io.k8s.api.core.v1.Service': {
    type: 'object',
    properties: {
      apiVersion: { type: 'string' }, kind: { type: 'string' },
      metadata: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'),
      spec: ref('io.k8s.api.core.v1.ServiceSpec'),
      status: ref('io.k8s.api.core.v1.ServiceStatus'),
    },
    ...gvk('', 'v1', 'Service'),
  },
  'io.k8s.api.core.v1.ServiceSpec': {
    type: 'object',
    properties: {
      ports: {
        type: 'array', items: ref('io.k8s.api.core.v1.ServicePort'),
        'x-kubernetes-list-map-keys': ['port', 'protocol'], 'x-kubernetes-list-type': 'map',
        'x-kubernetes-patch-merge-key': 'port', 'x-kubernetes-patch-strategy': 'merge',
      },
      selector: { ...stringMap, 'x-kubernetes-map-type': 'atomic' },
      clusterIP: str,
      clusterIPs: { type: 'array', items: str, 'x-kubernetes-list-type': 'atomic' },
      type: str, sessionAffinity: str,
    },
  },
  'io.k8s.api.core.v1.ServicePort': {
    type: 'object', required: ['port'],
    properties: {
      name: str,
      protocol: { type: 'string', default: 'TCP', enum: ['SCTP', 'TCP', 'UDP'] },
      port: int,
      targetPort: { allOf: [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString' }] },
      nodePort: { type: 'integer', format: 'int32' },
    },
  },
  'io.k8s.api.core.v1.ServiceStatus': {
    type: 'object',
    properties: { loadBalancer: { type: 'object', properties: { ingress: { type: 'array', items: { type: 'object' }, 'x-kubernetes-list-type': 'atomic' } } } },
  },
  'io.k8s.api.core.v1.Pod': {
    type: 'object',
    properties: {
      apiVersion: { type: 'string' }, kind: { type: 'string' },
      metadata: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'),
      spec: ref('io.k8s.api.core.v1.PodSpec'),
    },
    ...gvk('', 'v1', 'Pod'),
  },
  'io.k8s.api.core.v1.PodTemplateSpec': {
    type: 'object',
    properties: {
      metadata: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'),
      spec: ref('io.k8s.api.core.v1.PodSpec'),
    },
  },
  'io.k8s.api.core.v1.PodSpec': {
    type: 'object',
    properties: {
      containers: {
        type: 'array', items: ref('io.k8s.api.core.v1.Container'),
        'x-kubernetes-list-map-keys': ['name'], 'x-kubernetes-list-type': 'map',
        'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge',
      },
      volumes: {
        type: 'array', items: ref('io.k8s.api.core.v1.Volume'),
        'x-kubernetes-list-map-keys': ['name'], 'x-kubernetes-list-type': 'map',
        'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge,retainKeys',
      },
      nodeName: str,
    },
  },
  'io.k8s.api.core.v1.Volume': {
    type: 'object',
    properties: { name: str, emptyDir: { type: 'object', properties: { medium: str } }, configMap: { type: 'object', properties: { name: str } } },
  },
  'io.k8s.api.core.v1.Container': {
    type: 'object', required: ['name'],
    properties: {
      name: str, image: str,
      args: { type: 'array', items: str, 'x-kubernetes-list-type': 'atomic' },
      ports: {
        type: 'array', items: ref('io.k8s.api.core.v1.ContainerPort'),
        'x-kubernetes-list-map-keys': ['containerPort', 'protocol'], 'x-kubernetes-list-type': 'map',
        'x-kubernetes-patch-merge-key': 'containerPort', 'x-kubernetes-patch-strategy': 'merge',
      },
      env: {
        type: 'array', items: ref('io.k8s.api.core.v1.EnvVar'),
        'x-kubernetes-list-map-keys': ['name'], 'x-kubernetes-list-type': 'map',
        'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge',
      },
    },
  },
  'io.k8s.api.core.v1.ContainerPort': {
    type: 'object', required: ['containerPort'],
    properties: { name: str, containerPort: int, protocol: { type: 'string', default: 'TCP' } },
  },
  'io.k8s.api.core.v1.EnvVar': {
    type: 'object', required: ['name'],
    properties: { name: str, value: str, valueFrom: { type: 'object', properties: { fieldRef: { type: 'object', properties: { fieldPath: str } } } } },
  },
  'io.k8s.api.apps.v1.Deployment': {
    type: 'object',
    properties: {
      apiVersion: { type: 'string' }, kind: { type: 'string' },
      metadata: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'),
      spec: ref('io.k8s.api.apps.v1.DeploymentSpec'),
    },
    ...gvk('apps', 'v1', 'Deployment'),
  },
  'io.k8s.api.apps.v1.DeploymentSpec': {
    type: 'object',
    properties: {
      replicas: { type: 'integer', format: 'int32' },
      selector: { allOf: [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector' }] },
      strategy: { ...ref('io.k8s.api.apps.v1.DeploymentStrategy'), 'x-kubernetes-patch-strategy': 'retainKeys' },
      template: ref('io.k8s.api.core.v1.PodTemplateSpec'),
    },
  },
  'io.k8s.api.apps.v1.DeploymentStrategy': {
    type: 'object',
    properties: { type: str, rollingUpdate: { allOf: [{ $ref: '#/components/schemas/io.k8s.api.apps.v1.RollingUpdateDeployment' }] } },
  },
  'io.k8s.api.apps.v1.RollingUpdateDeployment': {
    type: 'object',
    properties: {
      maxSurge: { allOf: [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString' }] },
      maxUnavailable: { allOf: [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString' }] },
    },
  },
};

export const serviceSchema: PatchSchema = openAPIPatchSchema(definitions, 'io.k8s.api.core.v1.Service');
export const podSchema: PatchSchema = openAPIPatchSchema(definitions, 'io.k8s.api.core.v1.Pod');
export const deploymentSchema: PatchSchema = openAPIPatchSchema(definitions, 'io.k8s.api.apps.v1.Deployment');
