// One case per rule of ValidateService / ValidateServiceUpdate, each with the
// exact text kube-apiserver prints for it (field.Error.Error()).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, ServiceSpec } from 'kubernetes-types/core/v1.js';
import { errors, fieldErrorText } from '../errors.js';
import { ValidateService, ValidateServiceStatusUpdate, ValidateServiceUpdate } from './service.js';

const label1123 = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const sub1123 = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const label1035 = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const labelValue = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const qnameName = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const portRange = 'must be between 1 and 65535, inclusive';

/** A Service as it is after defaulting and allocation: valid. */
function valid(): Service {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'valid', namespace: 'default', resourceVersion: '1' },
    spec: {
      type: 'ClusterIP',
      selector: { key: 'val' },
      sessionAffinity: 'None',
      ports: [{ name: 'p', protocol: 'TCP', port: 8675, targetPort: 8675 }],
      clusterIP: '1.2.3.4',
      clusterIPs: ['1.2.3.4'],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster',
    },
  };
}

function lb(s: ServiceSpec): void {
  s.type = 'LoadBalancer';
  s.allocateLoadBalancerNodePorts = true;
  s.externalTrafficPolicy = 'Cluster';
  s.ports![0].nodePort = 30001;
}

function headless(s: ServiceSpec): void {
  s.clusterIP = 'None';
  s.clusterIPs = ['None'];
}

function externalName(s: ServiceSpec): void {
  s.type = 'ExternalName';
  s.externalName = 'foo.example.com';
  delete s.clusterIP;
  delete s.clusterIPs;
  delete s.ipFamilies;
  delete s.ipFamilyPolicy;
  delete s.internalTrafficPolicy;
}

interface Case { name: string; tweak: (svc: Service) => void; want: string[] }

const createCases: Case[] = [
  { name: 'valid ClusterIP service', tweak: () => {}, want: [] },
  { name: 'valid LoadBalancer service', tweak: (s) => lb(s.spec!), want: [] },
  { name: 'valid headless service without ports', tweak: (s) => { headless(s.spec!); delete s.spec!.ports; }, want: [] },
  { name: 'valid ExternalName service with a trailing dot', tweak: (s) => { externalName(s.spec!); s.spec!.externalName = 'foo.example.com.'; }, want: [] },
  { name: 'missing name', tweak: (s) => { delete s.metadata!.name; }, want: ['metadata.name: Required value: name or generateName is required'] },
  { name: 'name is not a DNS-1035 label', tweak: (s) => { s.metadata!.name = '1abc'; }, want: [`metadata.name: Invalid value: "1abc": ${label1035}`] },
  { name: 'name too long', tweak: (s) => { s.metadata!.name = 'a'.repeat(64); }, want: [`metadata.name: Invalid value: "${'a'.repeat(64)}": must be no more than 63 characters`] },
  { name: 'bad generateName', tweak: (s) => { s.metadata!.generateName = '9x-'; }, want: [`metadata.generateName: Invalid value: "9x-": ${label1035}`] },
  { name: 'missing namespace', tweak: (s) => { delete s.metadata!.namespace; }, want: ['metadata.namespace: Required value'] },
  { name: 'bad namespace', tweak: (s) => { s.metadata!.namespace = 'a.b'; }, want: ['metadata.namespace: Invalid value: "a.b": must not contain dots'] },
  { name: 'bad label value', tweak: (s) => { s.metadata!.labels = { app: 'a b' }; }, want: [`metadata.labels: Invalid value: "a b": ${labelValue}`] },
  { name: 'bad label key', tweak: (s) => { s.metadata!.labels = { '-a': 'x' }; }, want: [`metadata.labels: Invalid value: "-a": ${qnameName}`] },
  { name: 'bad annotation key', tweak: (s) => { s.metadata!.annotations = { 'a/b/c': 'x' }; }, want: ["metadata.annotations: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"] },
  { name: 'annotations too large', tweak: (s) => { s.metadata!.annotations = { a: 'x'.repeat(256 * 1024) }; }, want: ['metadata.annotations: Too long: must have at most 262144 bytes'] },
  { name: 'finalizer neither standard nor qualified', tweak: (s) => { s.metadata!.finalizers = ['custom']; }, want: ['metadata.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified'] },
  {
    name: 'topology annotations disagree',
    tweak: (s) => { s.metadata!.annotations = { 'service.kubernetes.io/topology-mode': 'Auto', 'service.kubernetes.io/topology-aware-hints': 'auto' }; },
    want: ['metadata.annotations[service.kubernetes.io/topology-mode]: Invalid value: "Auto": must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified'],
  },
  { name: 'ports required', tweak: (s) => { delete s.spec!.ports; }, want: ['spec.ports: Required value'] },
  {
    name: 'LoadBalancer may not be headless',
    tweak: (s) => { lb(s.spec!); headless(s.spec!); },
    want: ['spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for LoadBalancer services'],
  },
  {
    name: 'NodePort may not be headless',
    tweak: (s) => { s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Cluster'; headless(s.spec!); },
    want: ['spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for NodePort services'],
  },
  {
    name: 'ExternalName with clusterIPs, ipFamilies and ipFamilyPolicy',
    tweak: (s) => { externalName(s.spec!); s.spec!.clusterIPs = ['1.2.3.4']; s.spec!.ipFamilies = ['IPv4']; s.spec!.ipFamilyPolicy = 'SingleStack'; },
    want: [
      'spec.clusterIPs: Forbidden: may not be set for ExternalName services',
      'spec.ipFamilies: Forbidden: may not be set for ExternalName services',
      'spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services',
    ],
  },
  { name: 'ExternalName requires externalName', tweak: (s) => { externalName(s.spec!); s.spec!.externalName = ''; }, want: ['spec.externalName: Required value'] },
  { name: 'ExternalName must be a DNS-1123 subdomain', tweak: (s) => { externalName(s.spec!); s.spec!.externalName = 'Foo_bar.'; }, want: [`spec.externalName: Invalid value: "Foo_bar": ${sub1123}`] },
  {
    name: 'port names required with several ports',
    tweak: (s) => { s.spec!.ports = [{ protocol: 'TCP', port: 80, targetPort: 80 }, { name: 'b', protocol: 'TCP', port: 81, targetPort: 81 }]; },
    want: ['spec.ports[0].name: Required value'],
  },
  { name: 'port name is a DNS-1123 label', tweak: (s) => { s.spec!.ports![0].name = 'Http'; }, want: [`spec.ports[0].name: Invalid value: "Http": ${label1123}`] },
  {
    name: 'port names unique',
    tweak: (s) => { s.spec!.ports = [{ name: 'a', protocol: 'TCP', port: 80, targetPort: 80 }, { name: 'a', protocol: 'TCP', port: 81, targetPort: 81 }]; },
    want: ['spec.ports[1].name: Duplicate value: "a"'],
  },
  { name: 'port 0', tweak: (s) => { s.spec!.ports![0].port = 0; }, want: [`spec.ports[0].port: Invalid value: 0: ${portRange}`] },
  { name: 'port 65536', tweak: (s) => { s.spec!.ports![0].port = 65536; }, want: [`spec.ports[0].port: Invalid value: 65536: ${portRange}`] },
  { name: 'protocol required', tweak: (s) => { delete s.spec!.ports![0].protocol; }, want: ['spec.ports[0].protocol: Required value'] },
  { name: 'protocol supported', tweak: (s) => { s.spec!.ports![0].protocol = 'ICMP'; }, want: ['spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'] },
  { name: 'targetPort number', tweak: (s) => { s.spec!.ports![0].targetPort = 70000; }, want: [`spec.ports[0].targetPort: Invalid value: 70000: ${portRange}`] },
  { name: 'targetPort name charset', tweak: (s) => { s.spec!.ports![0].targetPort = 'http_x'; }, want: ['spec.ports[0].targetPort: Invalid value: "http_x": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'] },
  { name: 'targetPort as a numeric string is a name', tweak: (s) => { s.spec!.ports![0].targetPort = '8080'; }, want: ['spec.ports[0].targetPort: Invalid value: "8080": must contain at least one letter (a-z)'] },
  { name: 'appProtocol is a qualified name', tweak: (s) => { s.spec!.ports![0].appProtocol = 'a b'; }, want: [`spec.ports[0].appProtocol: Invalid value: "a b": ${qnameName}`] },
  { name: 'selector values', tweak: (s) => { s.spec!.selector = { app: '-x' }; }, want: [`spec.selector: Invalid value: "-x": ${labelValue}`] },
  { name: 'sessionAffinity required', tweak: (s) => { delete s.spec!.sessionAffinity; }, want: ['spec.sessionAffinity: Required value'] },
  { name: 'sessionAffinity supported', tweak: (s) => { s.spec!.sessionAffinity = 'Cookie'; }, want: ['spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", "None"'] },
  { name: 'ClientIP needs its config', tweak: (s) => { s.spec!.sessionAffinity = 'ClientIP'; }, want: ['spec.sessionAffinityConfig: Required value: when session affinity type is ClientIP'] },
  {
    name: 'ClientIP needs clientIP',
    tweak: (s) => { s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = {}; },
    want: ['spec.sessionAffinityConfig.clientIP: Required value: when session affinity type is ClientIP'],
  },
  {
    name: 'ClientIP needs timeoutSeconds',
    tweak: (s) => { s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = { clientIP: {} }; },
    want: ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Required value: when session affinity type is ClientIP'],
  },
  {
    name: 'ClientIP timeout 0',
    tweak: (s) => { s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 0 } }; },
    want: ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400'],
  },
  {
    name: 'ClientIP timeout above a day',
    tweak: (s) => { s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 86401 } }; },
    want: ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400'],
  },
  { name: 'ClientIP timeout of exactly a day', tweak: (s) => { s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 86400 } }; }, want: [] },
  {
    name: 'sessionAffinityConfig forbidden with None',
    tweak: (s) => { s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10 } }; },
    want: ['spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None'],
  },
  { name: 'clusterIP without clusterIPs', tweak: (s) => { delete s.spec!.clusterIPs; }, want: ['spec.clusterIPs: Required value'] },
  {
    name: 'clusterIPs[0] must match clusterIP',
    tweak: (s) => { s.spec!.clusterIPs = ['1.2.3.5']; },
    want: ['spec.clusterIPs: Invalid value: []string{"1.2.3.5"}: first value must match `clusterIP`'],
  },
  {
    name: 'clusterIPs without clusterIP',
    tweak: (s) => { delete s.spec!.clusterIP; },
    want: ['spec.clusterIPs: Invalid value: []string{"1.2.3.4"}: must be empty when `clusterIP` is not specified'],
  },
  { name: 'ipFamilies values', tweak: (s) => { s.spec!.ipFamilies = ['IPv5']; }, want: ['spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"'] },
  {
    name: 'ipFamilies unique',
    tweak: (s) => { s.spec!.ipFamilies = ['IPv4', 'IPv4']; s.spec!.ipFamilyPolicy = 'RequireDualStack'; },
    want: ['spec.ipFamilies[1]: Duplicate value: "IPv4"'],
  },
  {
    name: 'ipFamilyPolicy values',
    tweak: (s) => { s.spec!.ipFamilyPolicy = 'DualStack'; },
    want: ['spec.ipFamilyPolicy: Unsupported value: "DualStack": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"'],
  },
  {
    name: "'None' only first and alone",
    tweak: (s) => { s.spec!.clusterIP = 'None'; s.spec!.clusterIPs = ['None', '2001:db8::1']; },
    want: ['spec.clusterIPs: Invalid value: []string{"None", "2001:db8::1"}: \'None\' must be the first and only value'],
  },
  {
    name: 'clusterIPs are IPs',
    tweak: (s) => { s.spec!.clusterIP = 'bogus'; s.spec!.clusterIPs = ['bogus']; },
    want: ['spec.clusterIPs[0]: Invalid value: "bogus": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
  },
  {
    name: 'at most two clusterIPs',
    tweak: (s) => { s.spec!.clusterIPs = ['1.2.3.4', '2001:db8::1', '1.2.3.5']; s.spec!.ipFamilyPolicy = 'RequireDualStack'; },
    want: [
      'spec.clusterIPs: Invalid value: []string{"1.2.3.4", "2001:db8::1", "1.2.3.5"}: may only hold up to 2 values',
    ],
  },
  {
    name: 'one clusterIP per family',
    tweak: (s) => { s.spec!.clusterIPs = ['1.2.3.4', '1.2.3.5']; s.spec!.ipFamilyPolicy = 'RequireDualStack'; },
    want: ['spec.clusterIPs: Invalid value: []string{"1.2.3.4", "1.2.3.5"}: may specify no more than one IP for each IP family'],
  },
  {
    name: 'clusterIPs match ipFamilies',
    tweak: (s) => { s.spec!.ipFamilies = ['IPv6']; },
    want: ['spec.clusterIPs[0]: Invalid value: "1.2.3.4": expected an IPv6 value as indicated by `ipFamilies[0]`'],
  },
  {
    name: 'externalIPs are IPs',
    tweak: (s) => { s.spec!.externalIPs = ['1.2.3']; s.spec!.externalTrafficPolicy = 'Cluster'; },
    want: ['spec.externalIPs[0]: Invalid value: "1.2.3": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
  },
  {
    name: 'externalIPs not special',
    tweak: (s) => { s.spec!.externalIPs = ['127.0.0.1', '0.0.0.0', '169.254.1.1', '224.0.0.1']; s.spec!.externalTrafficPolicy = 'Cluster'; },
    want: [
      'spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
      'spec.externalIPs[1]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)',
      'spec.externalIPs[2]: Invalid value: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
      'spec.externalIPs[3]: Invalid value: "224.0.0.1": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)',
    ],
  },
  { name: 'type required', tweak: (s) => { delete s.spec!.type; }, want: ['spec.type: Required value'] },
  {
    name: 'type supported',
    tweak: (s) => { s.spec!.type = 'Ingress'; },
    want: ['spec.type: Unsupported value: "Ingress": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'],
  },
  { name: 'nodePort forbidden on ClusterIP', tweak: (s) => { s.spec!.ports![0].nodePort = 30001; }, want: ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"] },
  {
    name: 'duplicate nodePort for one protocol',
    tweak: (s) => { lb(s.spec!); s.spec!.ports!.push({ name: 'q', protocol: 'TCP', port: 81, targetPort: 81, nodePort: 30001 }); },
    want: ['spec.ports[1].nodePort: Duplicate value: 30001'],
  },
  {
    name: 'same nodePort for TCP and UDP is fine',
    tweak: (s) => { lb(s.spec!); s.spec!.ports!.push({ name: 'q', protocol: 'UDP', port: 8675, targetPort: 8675, nodePort: 30001 }); },
    want: [],
  },
  {
    name: 'duplicate port and protocol',
    tweak: (s) => { s.spec!.ports!.push({ name: 'q', protocol: 'TCP', port: 8675, targetPort: 80 }); },
    want: ['spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:8675, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'],
  },
  {
    name: 'loadBalancerSourceRanges only for LoadBalancer, as CIDRs',
    tweak: (s) => { s.spec!.loadBalancerSourceRanges = [' 10.0.0.0/8 ', '10.0.0.0']; },
    want: [
      "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
      'spec.LoadBalancerSourceRanges[1]: Invalid value: "10.0.0.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
    ],
  },
  {
    name: 'source-ranges annotation',
    tweak: (s) => { lb(s.spec!); s.metadata!.annotations = { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.0.0.0/8, x' }; },
    want: ['metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: Invalid value: "x": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
  },
  {
    name: 'allocateLoadBalancerNodePorts only for LoadBalancer',
    tweak: (s) => { s.spec!.allocateLoadBalancerNodePorts = false; },
    want: ["spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'"],
  },
  { name: 'allocateLoadBalancerNodePorts required for LoadBalancer', tweak: (s) => { lb(s.spec!); delete s.spec!.allocateLoadBalancerNodePorts; }, want: ['allocateLoadBalancerNodePorts: Required value'] },
  { name: 'loadBalancerClass only for LoadBalancer', tweak: (s) => { s.spec!.loadBalancerClass = 'a.io/b'; }, want: ["spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"] },
  { name: 'loadBalancerClass is a qualified name', tweak: (s) => { lb(s.spec!); s.spec!.loadBalancerClass = 'a.io/-b'; }, want: [`spec.loadBalancerClass: Invalid value: "a.io/-b": ${qnameName}`] },
  {
    name: 'externalTrafficPolicy only when externally accessible',
    tweak: (s) => { s.spec!.externalTrafficPolicy = 'Local'; },
    want: ['spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services'],
  },
  { name: 'externalTrafficPolicy allowed with externalIPs', tweak: (s) => { s.spec!.externalIPs = ['192.0.2.1']; s.spec!.externalTrafficPolicy = 'Local'; }, want: [] },
  { name: 'externalTrafficPolicy required for NodePort', tweak: (s) => { lb(s.spec!); s.spec!.type = 'NodePort'; delete s.spec!.allocateLoadBalancerNodePorts; delete s.spec!.externalTrafficPolicy; }, want: ['spec.externalTrafficPolicy: Required value'] },
  {
    name: 'externalTrafficPolicy values',
    tweak: (s) => { lb(s.spec!); s.spec!.externalTrafficPolicy = 'Global'; },
    want: ['spec.externalTrafficPolicy: Unsupported value: "Global": supported values: "Cluster", "Local"'],
  },
  {
    name: 'healthCheckNodePort only for LoadBalancer Local',
    tweak: (s) => { lb(s.spec!); s.spec!.healthCheckNodePort = 30100; },
    want: ["spec.healthCheckNodePort: Invalid value: 30100: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"],
  },
  { name: 'healthCheckNodePort required for LoadBalancer Local', tweak: (s) => { lb(s.spec!); s.spec!.externalTrafficPolicy = 'Local'; }, want: ['spec.healthCheckNodePort: Required value'] },
  {
    name: 'healthCheckNodePort is a port',
    tweak: (s) => { lb(s.spec!); s.spec!.externalTrafficPolicy = 'Local'; s.spec!.healthCheckNodePort = 70000; },
    want: [`spec.healthCheckNodePort: Invalid value: 70000: ${portRange}`],
  },
  { name: 'internalTrafficPolicy required', tweak: (s) => { delete s.spec!.internalTrafficPolicy; }, want: ['spec.internalTrafficPolicy: Required value'] },
  { name: 'internalTrafficPolicy not required for ExternalName', tweak: (s) => externalName(s.spec!), want: [] },
  {
    name: 'internalTrafficPolicy values',
    tweak: (s) => { s.spec!.internalTrafficPolicy = 'Node'; },
    want: ['spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster", "Local"'],
  },
  { name: 'trafficDistribution values', tweak: (s) => { s.spec!.trafficDistribution = 'Nearest'; }, want: ['spec.trafficDistribution: Unsupported value: "Nearest": supported values: "PreferClose"'] },
  {
    name: 'several errors, in Kubernetes order',
    tweak: (s) => {
      s.metadata!.name = 'Bad';
      s.spec!.ports![0].port = 0;
      s.spec!.ports![0].targetPort = 0;
      s.spec!.sessionAffinity = 'x';
      s.spec!.type = 'Y';
    },
    want: [
      `metadata.name: Invalid value: "Bad": ${label1035}`,
      `spec.ports[0].port: Invalid value: 0: ${portRange}`,
      `spec.ports[0].targetPort: Invalid value: 0: ${portRange}`,
      'spec.sessionAffinity: Unsupported value: "x": supported values: "ClientIP", "None"',
      'spec.type: Unsupported value: "Y": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    ],
  },
];

for (const c of createCases) {
  test(`ValidateService: ${c.name}`, () => {
    const svc = valid();
    c.tweak(svc);
    assert.deepEqual(ValidateService(svc).map(fieldErrorText), c.want);
  });
}

interface UpdateCase { name: string; tweakOld?: (svc: Service) => void; tweak: (svc: Service) => void; want: string[] }

function dual(s: ServiceSpec): void {
  s.clusterIPs = ['1.2.3.4', '2001:db8::4'];
  s.ipFamilies = ['IPv4', 'IPv6'];
  s.ipFamilyPolicy = 'RequireDualStack';
}

const updateCases: UpdateCase[] = [
  { name: 'unchanged', tweak: () => {}, want: [] },
  { name: 'resourceVersion required', tweak: (s) => { delete (s.metadata as { resourceVersion?: string }).resourceVersion; }, want: ['metadata.resourceVersion: Invalid value: "": must be specified for an update'] },
  { name: 'name immutable', tweak: (s) => { s.metadata!.name = 'other'; }, want: ['metadata.name: Invalid value: "other": field is immutable'] },
  { name: 'uid immutable', tweakOld: (s) => { (s.metadata as { uid?: string }).uid = 'u1'; }, tweak: (s) => { (s.metadata as { uid?: string }).uid = 'u2'; }, want: ['metadata.uid: Invalid value: "u2": field is immutable'] },
  {
    name: 'clusterIP immutable',
    tweak: (s) => { s.spec!.clusterIP = '1.2.3.5'; s.spec!.clusterIPs = ['1.2.3.5']; },
    want: ['spec.clusterIPs[0]: Invalid value: []string{"1.2.3.5"}: may not change once set'],
  },
  {
    name: 'primary clusterIP cannot be unset',
    tweak: (s) => { delete s.spec!.clusterIP; delete s.spec!.clusterIPs; },
    want: ['spec.clusterIPs[0]: Invalid value: []string(nil): primary clusterIP can not be unset'],
  },
  { name: 'adding a secondary clusterIP', tweak: (s) => dual(s.spec!), want: [] },
  {
    name: 'releasing the secondary needs SingleStack',
    tweakOld: (s) => dual(s.spec!),
    tweak: (s) => { s.spec!.ipFamilyPolicy = 'PreferDualStack'; },
    want: [
      'spec.ipFamilyPolicy: Invalid value: "PreferDualStack": must be set to \'SingleStack\' when releasing the secondary clusterIP',
      'spec.ipFamilyPolicy: Invalid value: "PreferDualStack": must be set to \'SingleStack\' when releasing the secondary ipFamily',
    ],
  },
  { name: 'releasing the secondary with SingleStack', tweakOld: (s) => dual(s.spec!), tweak: () => {}, want: [] },
  {
    name: 'primary ipFamily immutable',
    tweak: (s) => { s.spec!.ipFamilies = ['IPv6']; },
    want: [
      'spec.ipFamilies[0]: Invalid value: []core.IPFamily{"IPv6"}: may not change once set',
      'spec.clusterIPs[0]: Invalid value: "1.2.3.4": expected an IPv6 value as indicated by `ipFamilies[0]`',
    ],
  },
  { name: 'to ExternalName drops the IP', tweak: (s) => externalName(s.spec!), want: [] },
  { name: 'from ExternalName gets one', tweakOld: (s) => externalName(s.spec!), tweak: () => {}, want: [] },
  { name: 'headless to headless', tweakOld: (s) => headless(s.spec!), tweak: (s) => { headless(s.spec!); s.spec!.ipFamilies = ['IPv6']; }, want: [] },
  {
    name: 'loadBalancerClass immutable while LoadBalancer',
    tweakOld: (s) => { lb(s.spec!); s.spec!.loadBalancerClass = 'a.io/x'; },
    tweak: (s) => { lb(s.spec!); s.spec!.loadBalancerClass = 'a.io/y'; },
    want: ['spec.loadBalancerClass: Invalid value: "a.io/y": may not change once set'],
  },
  {
    name: 'loadBalancerClass cannot be added to a LoadBalancer',
    tweakOld: (s) => lb(s.spec!),
    tweak: (s) => { lb(s.spec!); s.spec!.loadBalancerClass = 'a.io/y'; },
    want: ['spec.loadBalancerClass: Invalid value: "a.io/y": may not change once set'],
  },
  { name: 'loadBalancerClass may be set when becoming a LoadBalancer', tweak: (s) => { lb(s.spec!); s.spec!.loadBalancerClass = 'a.io/y'; }, want: [] },
  {
    name: 'healthCheckNodePort immutable',
    tweakOld: (s) => { lb(s.spec!); s.spec!.externalTrafficPolicy = 'Local'; s.spec!.healthCheckNodePort = 30100; },
    tweak: (s) => { lb(s.spec!); s.spec!.externalTrafficPolicy = 'Local'; s.spec!.healthCheckNodePort = 30101; },
    want: ['spec.healthCheckNodePort: Forbidden: field is immutable'],
  },
];

for (const c of updateCases) {
  test(`ValidateServiceUpdate: ${c.name}`, () => {
    const old = valid();
    c.tweakOld?.(old);
    const svc = valid();
    c.tweak(svc);
    assert.deepEqual(ValidateServiceUpdate(svc, old).map(fieldErrorText), c.want);
  });
}

test('ValidateServiceStatusUpdate: ingress only on LoadBalancers, ipMode with ip', () => {
  const old = valid();
  const svc = valid();
  (svc as { status?: object }).status = { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } };
  assert.deepEqual(ValidateServiceStatusUpdate(svc, old).map(fieldErrorText),
    ["status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"]);
  lb(svc.spec!);
  (svc as { status?: object }).status = { loadBalancer: { ingress: [{ ip: '192.0.2.1' }, { hostname: '192.0.2.2', ipMode: 'VIP' }] } };
  assert.deepEqual(ValidateServiceStatusUpdate(svc, old).map(fieldErrorText), [
    'status.loadBalancer.ingress[0].ipMode: Required value: must be specified when `ip` is set',
    'status.loadBalancer.ingress[1].ipMode: Forbidden: may not be specified when `ip` is not set',
    'status.loadBalancer.ingress[1].hostname: Invalid value: "192.0.2.2": must be a DNS name, not an IP address',
  ]);
});

test('Status message renders like kube-apiserver', () => {
  const svc = valid();
  svc.spec!.type = 'Y';
  svc.spec!.sessionAffinity = 'x';
  const err = errors.invalid({ group: '', kind: 'Service' }, 'valid', ValidateService(svc));
  assert.equal(err.status.message,
    'Service "valid" is invalid: [spec.sessionAffinity: Unsupported value: "x": supported values: "ClientIP", "None", ' +
    'spec.type: Unsupported value: "Y": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]');
});
