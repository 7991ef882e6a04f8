// The other kinds' validators through the single entry point, one case per
// rule, with Kubernetes' texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorText } from '../errors.js';
import { withDefaults } from '../defaults/index.js';
import { validate } from './index.js';

const label1123 = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const sub1123 = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const portRange = 'must be between 1 and 65535, inclusive';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function pod(): Obj {
  return withDefaults('Pod', {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'default', resourceVersion: '1' },
    spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 80 }] }] },
  });
}

function deployment(): Obj {
  return withDefaults('Deployment', {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', resourceVersion: '1' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
    },
  });
}

interface Case { kind: string; name: string; make: () => Obj; tweak: (o: Obj) => void; old?: (o: Obj) => void; want: string[] }

const cases: Case[] = [
  // Namespace
  { kind: 'Namespace', name: 'valid', make: () => ({ metadata: { name: 'team-a' } }), tweak: () => {}, want: [] },
  { kind: 'Namespace', name: 'name is a DNS-1123 label', make: () => ({ metadata: { name: 'team.a' } }), tweak: () => {}, want: ['metadata.name: Invalid value: "team.a": must not contain dots'] },
  { kind: 'Namespace', name: 'cluster-scoped', make: () => ({ metadata: { name: 'a', namespace: 'b' } }), tweak: () => {}, want: ['metadata.namespace: Forbidden: not allowed on this type'] },
  {
    kind: 'Namespace', name: 'spec finalizers', make: () => ({ metadata: { name: 'a' }, spec: { finalizers: ['mine'] } }), tweak: () => {},
    want: ['spec.finalizers[0]: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified'],
  },
  // Node
  { kind: 'Node', name: 'valid', make: () => ({ metadata: { name: 'node-1.example' }, spec: { podCIDRs: ['10.244.1.0/24'] } }), tweak: () => {}, want: [] },
  {
    kind: 'Node', name: 'podCIDRs', make: () => ({ metadata: { name: 'n' }, spec: { podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'] } }), tweak: () => {},
    want: ['spec.podCIDRs: Invalid value: []string{"10.244.1.0/24", "10.244.2.0/24"}: may specify no more than one CIDR for each IP family'],
  },
  {
    kind: 'Node', name: 'podCIDRs cannot change', make: () => ({ metadata: { name: 'n', resourceVersion: '2' }, spec: { podCIDRs: ['10.244.2.0/24'] } }),
    old: (o) => { o.spec.podCIDRs = ['10.244.1.0/24']; }, tweak: () => {},
    want: ['spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid'],
  },
  // Pod
  { kind: 'Pod', name: 'valid', make: pod, tweak: () => {}, want: [] },
  { kind: 'Pod', name: 'name is a DNS-1123 subdomain', make: pod, tweak: (p) => { p.metadata.name = 'Web'; }, want: [`metadata.name: Invalid value: "Web": ${sub1123}`] },
  { kind: 'Pod', name: 'containers required', make: pod, tweak: (p) => { p.spec.containers = []; }, want: ['spec.containers: Required value'] },
  { kind: 'Pod', name: 'container name required', make: pod, tweak: (p) => { p.spec.containers[0].name = ''; }, want: ['spec.containers[0].name: Required value'] },
  { kind: 'Pod', name: 'container name is a DNS-1123 label', make: pod, tweak: (p) => { p.spec.containers[0].name = 'Web'; }, want: [`spec.containers[0].name: Invalid value: "Web": ${label1123}`] },
  {
    kind: 'Pod', name: 'container names unique', make: pod,
    tweak: (p) => { p.spec.containers.push({ ...p.spec.containers[0], ports: [] }); },
    want: ['spec.containers[1].name: Duplicate value: "web"'],
  },
  { kind: 'Pod', name: 'image required', make: pod, tweak: (p) => { delete p.spec.containers[0].image; }, want: ['spec.containers[0].image: Required value'] },
  { kind: 'Pod', name: 'image without surrounding spaces', make: pod, tweak: (p) => { p.spec.containers[0].image = ' nginx'; }, want: ['spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace'] },
  { kind: 'Pod', name: 'containerPort required', make: pod, tweak: (p) => { p.spec.containers[0].ports[0].containerPort = 0; }, want: ['spec.containers[0].ports[0].containerPort: Required value'] },
  { kind: 'Pod', name: 'containerPort range', make: pod, tweak: (p) => { p.spec.containers[0].ports[0].containerPort = 70000; }, want: [`spec.containers[0].ports[0].containerPort: Invalid value: 70000: ${portRange}`] },
  { kind: 'Pod', name: 'container port names are IANA_SVC_NAMEs', make: pod, tweak: (p) => { p.spec.containers[0].ports[0].name = 'http_1'; }, want: ['spec.containers[0].ports[0].name: Invalid value: "http_1": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'] },
  {
    kind: 'Pod', name: 'container port protocol', make: pod, tweak: (p) => { p.spec.containers[0].ports[0].protocol = 'tcp'; },
    want: ['spec.containers[0].ports[0].protocol: Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"'],
  },
  {
    kind: 'Pod', name: 'restartPolicy values', make: pod, tweak: (p) => { p.spec.restartPolicy = 'Sometimes'; },
    want: ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'],
  },
  {
    kind: 'Pod', name: 'dnsPolicy values', make: pod, tweak: (p) => { p.spec.dnsPolicy = 'Mine'; },
    want: ['spec.dnsPolicy: Unsupported value: "Mine": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'],
  },
  {
    kind: 'Pod', name: 'imagePullPolicy values', make: pod, tweak: (p) => { p.spec.containers[0].imagePullPolicy = 'Sometimes'; },
    want: ['spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"'],
  },
  { kind: 'Pod', name: 'image may change on update', make: pod, old: () => {}, tweak: (p) => { p.spec.containers[0].image = 'nginx:1.28'; }, want: [] },
  {
    kind: 'Pod', name: 'other spec fields may not change on update', make: pod, old: () => {}, tweak: (p) => { p.spec.restartPolicy = 'Never'; },
    want: ['spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\nchanged: spec.restartPolicy'],
  },
  // ConfigMap
  { kind: 'ConfigMap', name: 'valid', make: () => ({ metadata: { name: 'cfg', namespace: 'default' }, data: { 'a.b_c-d': 'x' } }), tweak: () => {}, want: [] },
  {
    kind: 'ConfigMap', name: 'keys', make: () => ({ metadata: { name: 'cfg', namespace: 'default' }, data: { 'a b': 'x' } }), tweak: () => {},
    want: ["data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"],
  },
  // Endpoints
  {
    kind: 'Endpoints', name: 'valid', make: () => ({ metadata: { name: 'web', namespace: 'default' }, subsets: [{ addresses: [{ ip: '10.244.1.5' }], ports: [{ port: 80, protocol: 'TCP' }] }] }),
    tweak: () => {}, want: [],
  },
  {
    kind: 'Endpoints', name: 'subsets need addresses', make: () => ({ metadata: { name: 'web', namespace: 'default' }, subsets: [{ ports: [{ port: 80, protocol: 'TCP' }] }] }),
    tweak: () => {}, want: ['subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`'],
  },
  {
    kind: 'Endpoints', name: 'addresses are usable IPs',
    make: () => ({ metadata: { name: 'web', namespace: 'default' }, subsets: [{ addresses: [{ ip: 'x' }, { ip: '127.0.0.1' }], notReadyAddresses: [{ ip: '10.0.0.1', hostname: 'A' }] }] }),
    tweak: () => {},
    want: [
      'subsets[0].addresses[0].ip: Invalid value: "x": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
      'subsets[0].addresses[1].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
      `subsets[0].notReadyAddresses[0].hostname: Invalid value: "A": ${label1123}`,
    ],
  },
  {
    kind: 'Endpoints', name: 'ports', make: () => ({ metadata: { name: 'web', namespace: 'default' }, subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 0, protocol: 'TCP' }, { name: 'b', port: 1 }] }] }),
    tweak: () => {},
    want: ['subsets[0].ports[0].name: Required value', `subsets[0].ports[0].port: Invalid value: 0: ${portRange}`, 'subsets[0].ports[1].protocol: Required value'],
  },
  // EndpointSlice
  {
    kind: 'EndpointSlice', name: 'valid',
    make: () => withDefaults('EndpointSlice', { metadata: { name: 'web-abc', namespace: 'default' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.244.1.5'] }], ports: [{ port: 80 }] }),
    tweak: () => {}, want: [],
  },
  {
    kind: 'EndpointSlice', name: 'addressType', make: () => ({ metadata: { name: 'e', namespace: 'default' }, addressType: 'IP', endpoints: [] }), tweak: () => {},
    want: ['addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"'],
  },
  {
    kind: 'EndpointSlice', name: 'endpoint addresses',
    make: () => ({ metadata: { name: 'e', namespace: 'default' }, addressType: 'IPv4', endpoints: [{ addresses: [] }, { addresses: ['2001:db8::1'] }] }), tweak: () => {},
    want: ['endpoints[0].addresses: Required value: must contain at least 1 address', 'endpoints[1].addresses[0]: Invalid value: "2001:db8::1": must be a valid IPv4 address'],
  },
  {
    kind: 'EndpointSlice', name: 'ports', make: () => ({ metadata: { name: 'e', namespace: 'default' }, addressType: 'IPv4', endpoints: [], ports: [{ name: 'a', protocol: 'TCP' }, { name: 'a' }] }),
    tweak: () => {}, want: ['ports[1].name: Duplicate value: "a"', 'ports[1].protocol: Required value'],
  },
  {
    kind: 'EndpointSlice', name: 'addressType immutable', make: () => ({ metadata: { name: 'e', namespace: 'default', resourceVersion: '1' }, addressType: 'IPv6', endpoints: [] }),
    old: (o) => { o.addressType = 'IPv4'; }, tweak: () => {}, want: ['addressType: Invalid value: "IPv6": field is immutable'],
  },
  // Deployment
  { kind: 'Deployment', name: 'valid', make: deployment, tweak: () => {}, want: [] },
  { kind: 'Deployment', name: 'replicas >= 0', make: deployment, tweak: (d) => { d.spec.replicas = -1; }, want: ['spec.replicas: Invalid value: -1: must be greater than or equal to 0'] },
  {
    kind: 'Deployment', name: 'selector must match template labels', make: deployment, tweak: (d) => { d.spec.template.metadata.labels = { app: 'api' }; },
    want: ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"api"}: `selector` does not match template `labels`'],
  },
  {
    kind: 'Deployment', name: 'selector required to be non-empty', make: deployment, tweak: (d) => { d.spec.selector = {}; },
    want: ['spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment'],
  },
  {
    kind: 'Deployment', name: 'template restartPolicy Always', make: deployment, tweak: (d) => { d.spec.template.spec.restartPolicy = 'Never'; },
    want: ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'],
  },
  {
    kind: 'Deployment', name: 'template containers are validated', make: deployment, tweak: (d) => { d.spec.template.spec.containers[0].name = ''; },
    want: ['spec.template.spec.containers[0].name: Required value'],
  },
  {
    kind: 'Deployment', name: 'rolling update cannot be all zeros', make: deployment, tweak: (d) => { d.spec.strategy.rollingUpdate = { maxSurge: 0, maxUnavailable: 0 }; },
    want: ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0'],
  },
  {
    kind: 'Deployment', name: 'selector immutable', make: deployment, old: () => {},
    tweak: (d) => { d.spec.selector = { matchLabels: { app: 'web', v: '2' } }; d.spec.template.metadata.labels.v = '2'; },
    want: ['spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable'],
  },
  // ReplicaSet
  {
    kind: 'ReplicaSet', name: 'selector must match template labels',
    make: () => withDefaults('ReplicaSet', { metadata: { name: 'web-1', namespace: 'default' }, spec: { selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } }),
    tweak: () => {},
    want: ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"api"}: `selector` does not match template `labels`'],
  },
  // Event
  {
    kind: 'Event', name: 'namespace must match the involved object', make: () => ({ metadata: { name: 'e.1', namespace: 'default' }, involvedObject: { kind: 'Pod', namespace: 'other', name: 'p' } }),
    tweak: () => {}, want: ['involvedObject.namespace: Invalid value: "other": does not match event.namespace'],
  },
  // Lease
  {
    kind: 'Lease', name: 'durations', make: () => ({ metadata: { name: 'l', namespace: 'kube-node-lease' }, spec: { leaseDurationSeconds: 0, leaseTransitions: -1 } }), tweak: () => {},
    want: ['spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0', 'spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0'],
  },
];

for (const c of cases) {
  test(`validate ${c.kind}: ${c.name}`, () => {
    const obj = c.make();
    let old: Obj | undefined;
    if (c.old) {
      old = structuredClone(obj);
      c.old(old!);
    }
    c.tweak(obj);
    assert.deepEqual(validate(c.kind, obj, old).map(fieldErrorText), c.want);
  });
}

test('validate: loopback endpoints can be allowed for the userspace data plane', () => {
  const ep = { metadata: { name: 'web', namespace: 'default' }, subsets: [{ addresses: [{ ip: '127.0.0.5' }] }] };
  assert.equal(validate('Endpoints', ep).length, 1);
  assert.deepEqual(validate('Endpoints', ep, undefined, { allowLoopback: true }), []);
});

test('validate: unknown kinds pass', () => {
  assert.deepEqual(validate('Secret', { metadata: {} }), []);
});
