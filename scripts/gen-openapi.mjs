#!/usr/bin/env node
// Generates src/apiserver/openapi/schemas.json: the OpenAPI v3 component schemas
// (kube-apiserver's names and shapes) for every definition reachable from the
// kinds in src/api/resources.ts, plus the meta types kube-apiserver puts in each
// group-version document (Status, DeleteOptions, WatchEvent, Patch, ...).
//
// Source of truth for fields and descriptions: the `kubernetes-types` .d.ts files,
// read with the TypeScript compiler API. They carry no Go-level facts (int32 vs
// int64, patch strategies, list types, pointer-ness), so those live in the tables
// below, copied from what kube-apiserver v1.32 publishes in /openapi/v3.
//
// Usage: node scripts/gen-openapi.mjs [--check]
//   --check: exit 1 if the committed schemas.json differs from what would be written.
// Output is deterministic: keys are sorted, as kube-apiserver's JSON is.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const typesDir = join(root, 'node_modules', 'kubernetes-types');
const outFile = join(root, 'src', 'apiserver', 'openapi', 'schemas.json');

// --- module file (relative to kubernetes-types) → Kubernetes definition prefix ---
const modulePrefix = {
  'core/v1': 'io.k8s.api.core.v1',
  'apps/v1': 'io.k8s.api.apps.v1',
  'discovery/v1': 'io.k8s.api.discovery.v1',
  'coordination/v1': 'io.k8s.api.coordination.v1',
  'autoscaling/v1': 'io.k8s.api.autoscaling.v1',
  'meta/v1': 'io.k8s.apimachinery.pkg.apis.meta.v1',
  'api/resource': 'io.k8s.apimachinery.pkg.api.resource',
  'runtime': 'io.k8s.apimachinery.pkg.runtime',
  'version': 'io.k8s.apimachinery.pkg.version',
};
const groupModule = { '': 'core/v1', apps: 'apps/v1', 'discovery.k8s.io': 'discovery/v1', 'coordination.k8s.io': 'coordination/v1' };

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';

// --- Go facts kubernetes-types cannot carry ---------------------------------

// Integer fields that are int64 in Go (every other integer is int32).
const INT64 = new Set([
  'meta.v1.ObjectMeta.generation', 'meta.v1.ObjectMeta.deletionGracePeriodSeconds',
  'meta.v1.DeleteOptions.gracePeriodSeconds', 'meta.v1.ListMeta.remainingItemCount',
  'meta.v1.Condition.observedGeneration',
  'core.v1.PodSpec.activeDeadlineSeconds', 'core.v1.PodSpec.terminationGracePeriodSeconds',
  'core.v1.Probe.terminationGracePeriodSeconds',
  'core.v1.PodSecurityContext.runAsUser', 'core.v1.PodSecurityContext.runAsGroup',
  'core.v1.PodSecurityContext.fsGroup', 'core.v1.PodSecurityContext.supplementalGroups',
  'core.v1.SecurityContext.runAsUser', 'core.v1.SecurityContext.runAsGroup',
  'core.v1.ContainerImage.sizeBytes', 'core.v1.Toleration.tolerationSeconds',
  'core.v1.ServiceAccountTokenProjection.expirationSeconds',
  'core.v1.LinuxContainerUser.uid', 'core.v1.LinuxContainerUser.gid', 'core.v1.LinuxContainerUser.supplementalGroups',
  'apps.v1.DeploymentStatus.observedGeneration', 'apps.v1.ReplicaSetStatus.observedGeneration',
  'apps.v1.StatefulSetStatus.observedGeneration', 'apps.v1.DaemonSetStatus.observedGeneration',
  'autoscaling.v1.HorizontalPodAutoscalerStatus.observedGeneration',
]);

// Patch and list metadata (x-kubernetes-*) per field, as kube-apiserver v1.32
// publishes it (from the +patchStrategy/+patchMergeKey/+listType/+listMapKey/
// +mapType markers in k8s.io/api). Arrays not listed here are `atomic`, which is
// what v1.32 says for nearly every remaining list of these groups.
const mapOn = (keys, merge = keys[0], strategy = 'merge') => ({
  'x-kubernetes-list-map-keys': keys, 'x-kubernetes-list-type': 'map',
  ...(merge ? { 'x-kubernetes-patch-merge-key': merge, 'x-kubernetes-patch-strategy': strategy } : {}),
});
const conditionsByType = mapOn(['type']);
const FIELD_EXT = {
  // meta
  'meta.v1.ObjectMeta.finalizers': { 'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': 'merge' },
  'meta.v1.ObjectMeta.ownerReferences': mapOn(['uid']),
  'meta.v1.APIResource.verbs': null, // no list type in v1.32
  'meta.v1.APIResourceList.resources': { 'x-kubernetes-list-type': 'atomic' },
  // core: pods and containers
  'core.v1.PodSpec.containers': mapOn(['name']),
  'core.v1.PodSpec.initContainers': mapOn(['name']),
  'core.v1.PodSpec.ephemeralContainers': mapOn(['name']),
  'core.v1.PodSpec.volumes': mapOn(['name'], 'name', 'merge,retainKeys'),
  'core.v1.PodSpec.imagePullSecrets': mapOn(['name']),
  'core.v1.PodSpec.hostAliases': mapOn(['ip']),
  'core.v1.PodSpec.topologySpreadConstraints': mapOn(['topologyKey', 'whenUnsatisfiable'], 'topologyKey'),
  'core.v1.PodSpec.schedulingGates': mapOn(['name']),
  'core.v1.PodSpec.resourceClaims': mapOn(['name'], 'name', 'merge,retainKeys'),
  'core.v1.PodStatus.conditions': conditionsByType,
  'core.v1.PodStatus.podIPs': mapOn(['ip']),
  'core.v1.PodStatus.hostIPs': { 'x-kubernetes-list-type': 'atomic', 'x-kubernetes-patch-merge-key': 'ip', 'x-kubernetes-patch-strategy': 'merge' },
  'core.v1.PodStatus.resourceClaimStatuses': mapOn(['name'], 'name', 'merge,retainKeys'),
  'core.v1.Container.ports': mapOn(['containerPort', 'protocol'], 'containerPort'),
  'core.v1.Container.env': mapOn(['name']),
  'core.v1.Container.volumeMounts': mapOn(['mountPath']),
  'core.v1.Container.volumeDevices': mapOn(['devicePath']),
  'core.v1.EphemeralContainer.ports': mapOn(['containerPort', 'protocol'], 'containerPort'),
  'core.v1.EphemeralContainer.env': mapOn(['name']),
  'core.v1.EphemeralContainer.volumeMounts': mapOn(['mountPath']),
  'core.v1.EphemeralContainer.volumeDevices': mapOn(['devicePath']),
  'core.v1.ContainerStatus.volumeMounts': mapOn(['mountPath']),
  'core.v1.ContainerStatus.allocatedResourcesStatus': mapOn(['name']),
  'core.v1.ResourceRequirements.claims': mapOn(['name'], null),
  'core.v1.PodSpec.nodeSelector': { 'x-kubernetes-map-type': 'atomic' },
  // core: services
  'core.v1.ServiceSpec.ports': mapOn(['port', 'protocol'], 'port'),
  'core.v1.ServiceSpec.selector': { 'x-kubernetes-map-type': 'atomic' },
  'core.v1.ServiceStatus.conditions': conditionsByType,
  // core: nodes and namespaces
  'core.v1.NodeSpec.podCIDRs': { 'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': 'merge' },
  'core.v1.NodeStatus.addresses': mapOn(['type']),
  'core.v1.NodeStatus.conditions': conditionsByType,
  'core.v1.NamespaceStatus.conditions': conditionsByType,
  // apps
  'apps.v1.DeploymentStatus.conditions': conditionsByType,
  'apps.v1.ReplicaSetStatus.conditions': conditionsByType,
  // discovery
  'discovery.v1.Endpoint.addresses': { 'x-kubernetes-list-type': 'set' },
};
// Arrays that kube-apiserver publishes without any list type.
const NO_LIST_TYPE = new Set(Object.entries(FIELD_EXT).filter(([, v]) => v === null).map(([k]) => k));

// Structs marked +structType=atomic: replaced as a whole by apply.
const ATOMIC_STRUCTS = new Set([
  'core.v1.ObjectReference', 'core.v1.LocalObjectReference', 'core.v1.TypedLocalObjectReference',
  'core.v1.SecretReference', 'core.v1.ConfigMapKeySelector', 'core.v1.SecretKeySelector',
  'core.v1.ObjectFieldSelector', 'core.v1.ResourceFieldSelector', 'core.v1.NodeSelector',
  'core.v1.NodeSelectorTerm', 'core.v1.TopologySelectorTerm', 'core.v1.EndpointAddress',
  'core.v1.EndpointPort', 'discovery.v1.EndpointPort', 'meta.v1.LabelSelector',
]);

// Non-pointer struct fields (Go values): kube-apiserver gives their refs `default: {}`.
// Required struct fields and metadata/spec/status of kinds are values too.
const VALUE_STRUCT_FIELDS = new Set([
  'core.v1.Container.resources', 'core.v1.EphemeralContainer.resources',
  'core.v1.ContainerStatus.state', 'core.v1.ContainerStatus.lastState',
  'core.v1.NodeStatus.daemonEndpoints', 'core.v1.NodeStatus.nodeInfo',
  'core.v1.NodeDaemonEndpoints.kubeletEndpoint', 'core.v1.ServiceStatus.loadBalancer',
  'core.v1.Event.involvedObject', 'core.v1.Event.source', 'core.v1.Event.metadata',
  'core.v1.PodAffinityTerm.labelSelector',
  'apps.v1.DeploymentSpec.template', 'apps.v1.DeploymentSpec.strategy', 'apps.v1.ReplicaSetSpec.template',
  'core.v1.PodTemplateSpec.metadata', 'core.v1.PodTemplateSpec.spec',
  'meta.v1.ManagedFieldsEntry.fieldsV1', 'meta.v1.WatchEvent.object',
]);

// Enumerated string values kube-apiserver lists (+enum types) for the Service API.
const ENUMS = {
  'core.v1.ServiceSpec.type': ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'],
  'core.v1.ServiceSpec.sessionAffinity': ['ClientIP', 'None'],
  'core.v1.ServiceSpec.externalTrafficPolicy': ['Cluster', 'Local'],
  'core.v1.ServiceSpec.internalTrafficPolicy': ['Cluster', 'Local'],
  'core.v1.ServiceSpec.ipFamilyPolicy': ['PreferDualStack', 'RequireDualStack', 'SingleStack'],
  'core.v1.ServicePort.protocol': ['SCTP', 'TCP', 'UDP'],
  'core.v1.ContainerPort.protocol': ['SCTP', 'TCP', 'UDP'],
  'core.v1.EndpointPort.protocol': ['SCTP', 'TCP', 'UDP'],
  'discovery.v1.EndpointPort.protocol': ['SCTP', 'TCP', 'UDP'],
  'discovery.v1.EndpointSlice.addressType': ['FQDN', 'IPv4', 'IPv6'],
  'core.v1.PodSpec.restartPolicy': ['Always', 'Never', 'OnFailure'],
  'core.v1.PodSpec.dnsPolicy': ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'],
  'core.v1.PodStatus.phase': ['Failed', 'Pending', 'Running', 'Succeeded', 'Unknown'],
  'core.v1.Container.imagePullPolicy': ['Always', 'IfNotPresent', 'Never'],
  'core.v1.NamespaceStatus.phase': ['Active', 'Terminating'],
  'apps.v1.DeploymentStrategy.type': ['Recreate', 'RollingUpdate'],
};

// Explicit non-zero defaults (+default markers).
const DEFAULTS = {
  'core.v1.ServicePort.protocol': 'TCP',
  'core.v1.ContainerPort.protocol': 'TCP',
};

// --- what to emit ----------------------------------------------------------

async function loadResources() {
  const src = readFileSync(join(root, 'src', 'api', 'resources.ts'), 'utf8');
  const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const mod = await import('data:text/javascript;base64,' + Buffer.from(js).toString('base64'));
  return mod.resources;
}

const resources = await loadResources();

// Group versions whose WatchEvent/DeleteOptions kube-apiserver registers: the
// ones we serve, plus autoscaling/v1 whose Scale our /scale subresources return.
const registeredGVs = [...new Set([...resources.map((r) => `${r.group}|${r.version}`), 'autoscaling|v1'])]
  .map((s) => { const [group, version] = s.split('|'); return { group, version }; })
  .sort((a, b) => (a.group === b.group ? (a.version < b.version ? -1 : 1) : a.group < b.group ? -1 : 1));

/** root definition name → x-kubernetes-group-version-kind */
const roots = new Map();
for (const r of resources) {
  const prefix = modulePrefix[groupModule[r.group]];
  if (!prefix) throw new Error(`no kubernetes-types module for group "${r.group}"`);
  roots.set(`${prefix}.${r.kind}`, [{ group: r.group, kind: r.kind, version: r.version }]);
  roots.set(`${prefix}.${r.listKind}`, [{ group: r.group, kind: r.listKind, version: r.version }]);
}
if (resources.some((r) => r.subresources.includes('scale'))) {
  roots.set('io.k8s.api.autoscaling.v1.Scale', [{ group: 'autoscaling', kind: 'Scale', version: 'v1' }]);
}
for (const kind of ['Status', 'APIResourceList', 'APIGroup', 'APIGroupList', 'APIVersions']) {
  roots.set(`${META}.${kind}`, [{ group: '', kind, version: 'v1' }]);
}
for (const kind of ['DeleteOptions', 'WatchEvent']) {
  roots.set(`${META}.${kind}`, registeredGVs.map(({ group, version }) => ({ group, kind, version })));
}
roots.set(`${META}.Patch`, null);
roots.set('io.k8s.apimachinery.pkg.version.Info', null);

// --- TypeScript reading ------------------------------------------------------

const files = Object.keys(modulePrefix).map((m) => join(typesDir, `${m}.d.ts`));
const program = ts.createProgram(files, { noEmit: true, strict: true, types: [] });
const checker = program.getTypeChecker();

/** definition name → declaration (interface or type alias) */
const declarations = new Map();
/** declaration node → definition name */
const nameOfDecl = new Map();
for (const file of files) {
  const sf = program.getSourceFile(file);
  const mod = relative(typesDir, file).split(sep).join('/').replace(/\.d\.ts$/, '');
  const prefix = modulePrefix[mod];
  for (const stmt of sf.statements) {
    if (ts.isInterfaceDeclaration(stmt) || ts.isTypeAliasDeclaration(stmt)) {
      const name = `${prefix}.${stmt.name.text}`;
      declarations.set(name, stmt);
      nameOfDecl.set(stmt, name);
    }
  }
}

/** Short key for the fact tables: 'core.v1.ServiceSpec' */
function shortName(defName) {
  return defName.replace(/^io\.k8s\.api\./, '').replace(/^io\.k8s\.apimachinery\.pkg\.apis\./, '');
}

function docOf(node) {
  const sym = node.name ? checker.getSymbolAtLocation(node.name) : undefined;
  if (!sym) return '';
  return ts.displayPartsToString(sym.getDocumentationComment(checker)).replace(/\*\\\//g, '*/').trim();
}

function resolveTypeRef(typeName) {
  let sym = checker.getSymbolAtLocation(typeName);
  if (!sym) throw new Error(`unresolved type ${typeName.getText()}`);
  if (sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
  const decl = sym.declarations?.find((d) => nameOfDecl.has(d));
  if (!decl) throw new Error(`type ${typeName.getText()} is declared outside the modules read`);
  return nameOfDecl.get(decl);
}

/** The definition names a type refers to, in order; IntOrString is synthetic. */
function refsOfType(node, out) {
  if (ts.isTypeReferenceNode(node)) {
    if (node.typeName.getText() === 'Array') { refsOfType(node.typeArguments[0], out); return; }
    out.push(resolveTypeRef(node.typeName));
  } else if (ts.isUnionTypeNode(node)) {
    out.push(INT_OR_STRING);
  } else if (ts.isTypeLiteralNode(node)) {
    for (const m of node.members) if (ts.isIndexSignatureDeclaration(m)) refsOfType(m.type, out);
  } else if (ts.isArrayTypeNode(node)) {
    refsOfType(node.elementType, out);
  }
}

// --- schema building ---------------------------------------------------------

function isObjectDefinition(defName) {
  const d = declarations.get(defName);
  return d !== undefined && ts.isInterfaceDeclaration(d);
}

function zeroOf(schema) {
  if (schema.type === 'string') return '';
  if (schema.type === 'integer' || schema.type === 'number') return 0;
  if (schema.type === 'boolean') return false;
  return undefined;
}

/** Schema of a type node in a given position: 'property', 'items' or 'map'. */
function typeSchema(node, owner, field, position) {
  if (node.kind === ts.SyntaxKind.StringKeyword) return { type: 'string' };
  if (node.kind === ts.SyntaxKind.BooleanKeyword) return { type: 'boolean' };
  if (node.kind === ts.SyntaxKind.NumberKeyword) {
    return { format: INT64.has(`${owner}.${field}`) ? 'int64' : 'int32', type: 'integer' };
  }
  if (ts.isLiteralTypeNode(node)) {
    if (ts.isStringLiteral(node.literal)) return { type: 'string' };
    throw new Error(`unexpected literal type in ${owner}.${field}`);
  }
  if (ts.isUnionTypeNode(node)) {
    const kinds = node.types.map((t) => t.kind).sort();
    if (kinds.length === 2 && kinds.includes(ts.SyntaxKind.NumberKeyword) && kinds.includes(ts.SyntaxKind.StringKeyword)) {
      return refSchema(INT_OR_STRING, position);
    }
    throw new Error(`unexpected union in ${owner}.${field}`);
  }
  if (ts.isTypeReferenceNode(node) && node.typeName.getText() === 'Array') {
    return { items: typeSchema(node.typeArguments[0], owner, field, 'items'), type: 'array' };
  }
  if (ts.isArrayTypeNode(node)) {
    return { items: typeSchema(node.elementType, owner, field, 'items'), type: 'array' };
  }
  if (ts.isTypeLiteralNode(node)) {
    const index = node.members.find(ts.isIndexSignatureDeclaration);
    if (!index || node.members.length !== 1) throw new Error(`unexpected object literal type in ${owner}.${field}`);
    return { additionalProperties: typeSchema(index.type, owner, field, 'map'), type: 'object' };
  }
  if (ts.isTypeReferenceNode(node)) return refSchema(resolveTypeRef(node.typeName), position);
  throw new Error(`unsupported type ${ts.SyntaxKind[node.kind]} in ${owner}.${field}`);
}

function refSchema(defName, position) {
  const $ref = `#/components/schemas/${defName}`;
  // kube-apiserver: map values are plain refs; list items of struct type are
  // values (default {}); a field is wrapped in allOf so its description can sit
  // beside the reference.
  if (position === 'map') return { $ref };
  if (position === 'items') return isObjectDefinition(defName) ? { allOf: [{ $ref }], default: {} } : { allOf: [{ $ref }] };
  return { allOf: [{ $ref }] };
}

function addItemDefaults(schema) {
  if (schema.items && schema.items.type && zeroOf(schema.items) !== undefined) schema.items.default = zeroOf(schema.items);
  if (schema.additionalProperties && zeroOf(schema.additionalProperties) !== undefined) {
    schema.additionalProperties.default = zeroOf(schema.additionalProperties);
  }
}

const isKindDefinition = (decl) => decl.members.some((m) => m.name?.getText() === 'kind') && decl.members.some((m) => m.name?.getText() === 'metadata');

function interfaceSchema(defName, decl) {
  const owner = shortName(defName);
  const properties = {};
  const required = [];
  for (const m of decl.members) {
    if (!ts.isPropertySignature(m)) throw new Error(`unexpected member in ${defName}`);
    const field = m.name.getText();
    const key = `${owner}.${field}`;
    const schema = typeSchema(m.type, owner, field, 'property');
    const optional = m.questionToken !== undefined;
    if (!optional) required.push(field);
    const description = docOf(m);
    if (description) schema.description = description;
    addItemDefaults(schema);
    if (schema.allOf) {
      const target = schema.allOf[0].$ref.split('/').pop();
      const valueStruct = !optional || VALUE_STRUCT_FIELDS.has(key) ||
        (isKindDefinition(decl) && ['metadata', 'spec', 'status'].includes(field));
      if (valueStruct && isObjectDefinition(target)) schema.default = {};
    } else if (!optional && zeroOf(schema) !== undefined && field !== 'apiVersion' && field !== 'kind') {
      schema.default = zeroOf(schema);
    }
    if (key in DEFAULTS) schema.default = DEFAULTS[key];
    if (key in ENUMS) schema.enum = ENUMS[key];
    if (schema.type === 'array') {
      const ext = FIELD_EXT[key];
      if (ext) Object.assign(schema, ext);
      else if (!NO_LIST_TYPE.has(key) && !(field === 'items' && /List$/.test(owner))) schema['x-kubernetes-list-type'] = 'atomic';
    } else if (FIELD_EXT[key]) {
      Object.assign(schema, FIELD_EXT[key]);
    }
    properties[field] = schema;
  }
  const out = { properties, type: 'object' };
  const description = docOf(decl);
  if (description) out.description = description;
  if (required.length) out.required = required;
  if (ATOMIC_STRUCTS.has(owner)) out['x-kubernetes-map-type'] = 'atomic';
  if (Object.keys(properties).length === 0) delete out.properties;
  return out;
}

function aliasSchema(defName, decl) {
  const description = docOf(decl);
  const withDoc = (s) => (description ? { description, ...s } : s);
  switch (defName) {
    case QUANTITY: return withDoc({ oneOf: [{ type: 'string' }, { type: 'number' }] });
    case `${META}.Time`:
    case `${META}.MicroTime`: return withDoc({ format: 'date-time', type: 'string' });
    default: throw new Error(`no schema rule for type alias ${defName}`);
  }
}

const schemas = {};
function emit(defName) {
  if (schemas[defName]) return;
  if (defName === INT_OR_STRING) {
    schemas[defName] = {
      description: 'IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.',
      format: 'int-or-string',
      oneOf: [{ type: 'integer' }, { type: 'string' }],
    };
    return;
  }
  const decl = declarations.get(defName);
  if (!decl) throw new Error(`no declaration for ${defName}`);
  schemas[defName] = {}; // placeholder: breaks cycles (JSONSchemaProps-like recursion)
  if (ts.isTypeAliasDeclaration(decl)) {
    schemas[defName] = aliasSchema(defName, decl);
    return;
  }
  schemas[defName] = interfaceSchema(defName, decl);
  const gvk = roots.get(defName);
  if (gvk) schemas[defName]['x-kubernetes-group-version-kind'] = gvk;
  const refs = [];
  for (const m of decl.members) refsOfType(m.type, refs);
  for (const r of refs) emit(r);
}
for (const name of [...roots.keys()].sort()) emit(name);

// --- output ------------------------------------------------------------------

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = sortKeys(v[k]);
    return o;
  }
  return v;
}

const text = JSON.stringify(sortKeys(schemas), null, 2) + '\n';
if (process.argv.includes('--check')) {
  let current = '';
  try { current = readFileSync(outFile, 'utf8'); } catch { /* missing */ }
  if (current !== text) {
    console.error(`${relative(root, outFile)} is out of date: run node scripts/gen-openapi.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(outFile, text);
  console.log(`wrote ${relative(root, outFile)}: ${Object.keys(schemas).length} definitions`);
}
