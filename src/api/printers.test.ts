// Golden tests for server-side printing. Each case renders rows the way
// `kubectl get -o wide` lays them out (upper-cased headers, columns separated
// by three spaces) so the expected output reads like a terminal session; the
// texts were worked out from kube-apiserver's printers.go by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap, Endpoints, Event, Namespace, Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { printers, printerFor, tableFor, type Printer } from './printers.js';
import { resources, findByKind } from './resources.js';

const now = new Date('2025-01-01T12:00:00Z');
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
/** An RFC 3339 timestamp `ms` before `now`, at second precision as the API stores it. */
const ago = (ms: number): string => new Date(now.getTime() - ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Rows as kubectl lays them out, wide columns included. */
function render(p: Printer, objs: readonly object[]): string {
  const lines = [p.columns.map((c) => c.name.toUpperCase()), ...objs.map((o) => p.row(o, now).map(String))];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines.map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n');
}

/** Strips the indentation of a template literal table. */
function table(s: string): string {
  const lines = s.replace(/^\n/, '').replace(/\n\s*$/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

function meta(name: string, created: number, extra: Record<string, unknown> = {}) {
  return { name, namespace: 'default', creationTimestamp: ago(created), ...extra };
}

// ---------------------------------------------------------------------------

test('pods: READY, STATUS reasons, RESTARTS with last restart, wide cells', () => {
  const running = (name: string, restarts = 0) => ({ name, ready: true, restartCount: restarts, image: 'x', imageID: '', state: { running: { startedAt: ago(H) } } });
  const pods: Pod[] = [
    {
      metadata: meta('web-7d9f-abcde', 5 * M),
      spec: { nodeName: 'node-1', containers: [{ name: 'web' }] },
      status: { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }], containerStatuses: [running('web')] },
    },
    {
      // Walked from the last container: the first one's waiting reason wins.
      metadata: meta('crash', 5 * H),
      spec: { nodeName: 'node-1', containers: [{ name: 'app' }, { name: 'sidecar' }] },
      status: {
        phase: 'Running', podIPs: [{ ip: '10.244.1.6' }],
        containerStatuses: [
          { name: 'app', ready: false, restartCount: 5, image: 'x', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, finishedAt: ago(3 * M) } } },
          { ...running('sidecar', 1), lastState: { terminated: { exitCode: 0, finishedAt: ago(10 * M) } } },
        ],
      },
    },
    {
      metadata: meta('done', 51 * H),
      spec: { nodeName: 'node-2', containers: [{ name: 'job' }] },
      status: { phase: 'Succeeded', podIPs: [{ ip: '10.244.2.3' }], containerStatuses: [{ name: 'job', ready: false, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] },
    },
    {
      metadata: meta('init-wait', 20 * S),
      spec: { nodeName: 'node-2', initContainers: [{ name: 'init-db' }, { name: 'init-cache' }], containers: [{ name: 'app' }] },
      status: {
        phase: 'Pending',
        initContainerStatuses: [
          { name: 'init-db', ready: false, restartCount: 0, image: 'x', imageID: '', state: { running: {} } },
          { name: 'init-cache', ready: false, restartCount: 0, image: 'x', imageID: '', state: { waiting: { reason: 'PodInitializing' } } },
        ],
        containerStatuses: [{ name: 'app', ready: false, restartCount: 0, image: 'x', imageID: '', state: { waiting: { reason: 'PodInitializing' } } }],
      },
    },
    {
      metadata: meta('init-fail', 2 * M + 30 * S),
      spec: { nodeName: 'node-2', initContainers: [{ name: 'init-db' }], containers: [{ name: 'app' }] },
      status: {
        phase: 'Pending', podIPs: [{ ip: '10.244.2.4' }],
        initContainerStatuses: [{ name: 'init-db', ready: false, restartCount: 2, image: 'x', imageID: '', state: { terminated: { exitCode: 1, reason: 'Error' } }, lastState: { terminated: { exitCode: 1, finishedAt: ago(30 * S) } } }],
      },
    },
    {
      metadata: meta('leaving', 8 * D, { deletionTimestamp: ago(-30 * S) }),
      spec: { nodeName: 'node-1', containers: [{ name: 'web' }] },
      status: { phase: 'Running', podIPs: [{ ip: '10.244.1.7' }], containerStatuses: [running('web')] },
    },
    {
      metadata: meta('lost', 3 * D + 1 * H, { deletionTimestamp: ago(M) }),
      spec: { nodeName: 'node-3', containers: [{ name: 'web' }] },
      status: { phase: 'Running', reason: 'NodeLost', podIPs: [{ ip: '10.244.3.2' }], containerStatuses: [running('web')] },
    },
    {
      // A sidecar (restartable init container) counts as a container, and its restarts count.
      metadata: meta('with-sidecar', 400 * D),
      spec: { nodeName: 'node-1', initContainers: [{ name: 'proxy', restartPolicy: 'Always' }], containers: [{ name: 'app' }] },
      status: {
        phase: 'Running', podIPs: [{ ip: '10.244.1.8' }, { ip: 'fd00::8' }],
        conditions: [{ type: 'Initialized', status: 'True' }, { type: 'Ready', status: 'True' }],
        initContainerStatuses: [{ ...running('proxy', 1), started: true, lastState: { terminated: { exitCode: 2, finishedAt: ago(2 * M) } } }],
        containerStatuses: [running('app')],
      },
    },
    {
      metadata: meta('gated', 3 * H + 4 * M),
      spec: { containers: [{ name: 'app' }], schedulingGates: [{ name: 'example.com/wait' }] },
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] },
    },
    {
      // Only the v1 podIP field set; readiness gates half satisfied; a nomination.
      metadata: meta('gates', 2 * 365 * D + 3 * D),
      spec: { nodeName: 'node-2', containers: [{ name: 'app' }], readinessGates: [{ conditionType: 'example.com/lb-ready' }, { conditionType: 'example.com/other' }] },
      status: {
        phase: 'Running', podIP: '10.244.2.9', nominatedNodeName: 'node-3',
        conditions: [{ type: 'example.com/lb-ready', status: 'True' }, { type: 'example.com/other', status: 'False' }],
        containerStatuses: [running('app')],
      },
    },
    {
      // One container completed, the other still runs: not "Completed".
      metadata: meta('half-done', 7 * D + 23 * H),
      spec: { nodeName: 'node-2', containers: [{ name: 'job' }, { name: 'helper' }] },
      status: {
        phase: 'Running', podIPs: [{ ip: '10.244.2.10' }], conditions: [{ type: 'Ready', status: 'False' }],
        containerStatuses: [
          { name: 'job', ready: false, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 0, reason: 'Completed' } } },
          running('helper'),
        ],
      },
    },
    {
      metadata: meta('killed', 10 * D),
      spec: { nodeName: 'node-1', containers: [{ name: 'app' }, { name: 'log' }] },
      status: {
        phase: 'Failed', podIPs: [{ ip: '10.244.1.9' }],
        containerStatuses: [
          { name: 'app', ready: false, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 137 } } },
          { name: 'log', ready: false, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 0, signal: 15 } } },
        ],
      },
    },
  ];
  assert.equal(render(printers.Pod!, pods), table(`
    NAME             READY   STATUS             RESTARTS      AGE     IP            NODE     NOMINATED NODE   READINESS GATES
    web-7d9f-abcde   1/1     Running            0             5m      10.244.1.5    node-1   <none>           <none>
    crash            1/2     CrashLoopBackOff   6 (3m ago)    5h      10.244.1.6    node-1   <none>           <none>
    done             0/1     Completed          0             2d3h    10.244.2.3    node-2   <none>           <none>
    init-wait        0/1     Init:0/2           0             20s     <none>        node-2   <none>           <none>
    init-fail        0/1     Init:Error         2 (30s ago)   2m30s   10.244.2.4    node-2   <none>           <none>
    leaving          1/1     Terminating        0             8d      10.244.1.7    node-1   <none>           <none>
    lost             1/1     Unknown            0             3d1h    10.244.3.2    node-3   <none>           <none>
    with-sidecar     2/2     Running            1 (2m ago)    400d    10.244.1.8    node-1   <none>           <none>
    gated            0/1     SchedulingGated    0             3h4m    <none>        <none>   <none>           <none>
    gates            1/1     Running            0             2y3d    10.244.2.9    node-2   node-3           1/2
    half-done        1/2     NotReady           0             7d23h   10.244.2.10   node-2   <none>           <none>
    killed           0/2     ExitCode:137       0             10d     10.244.1.9    node-1   <none>           <none>
  `));
  // Completed and failed pods carry a row condition kubectl can filter on.
  assert.deepEqual(printers.Pod!.conditions!(pods[2]!), [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }]);
  assert.deepEqual(printers.Pod!.conditions!(pods[11]!), [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }]);
  assert.equal(printers.Pod!.conditions!(pods[0]!), undefined);
});

test('pods: a terminated container without reason reports its signal', () => {
  const pod: Pod = {
    metadata: meta('sig', 10 * S),
    spec: { containers: [{ name: 'a' }] },
    status: { phase: 'Running', containerStatuses: [{ name: 'a', ready: false, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 0, signal: 9 } } }] },
  };
  assert.equal(printers.Pod!.row(pod, now)[2], 'Signal:9');
  const init: Pod = {
    metadata: meta('isig', 10 * S),
    spec: { initContainers: [{ name: 'i' }], containers: [{ name: 'a' }] },
    status: { phase: 'Pending', initContainerStatuses: [{ name: 'i', ready: false, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 3 } } }] },
  };
  assert.equal(printers.Pod!.row(init, now)[2], 'Init:ExitCode:3');
});

test('services: TYPE, CLUSTER-IP, EXTERNAL-IP (pending, ingress, externalIPs, ExternalName), PORT(S), SELECTOR', () => {
  const svc = (name: string, spec: Service['spec'], status: Service['status'] = {}, created = 10 * D): Service =>
    ({ metadata: meta(name, created), spec, status });
  const services: Service[] = [
    svc('kubernetes', { type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] }),
    svc('web', {
      type: 'NodePort', clusterIP: '10.96.12.34', clusterIPs: ['10.96.12.34'], selector: { tier: 'frontend', app: 'web' },
      ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }, { name: 'https', port: 443, protocol: 'TCP', nodePort: 30443 }],
    }, {}, 90 * S),
    svc('lb-pending', { type: 'LoadBalancer', clusterIPs: ['10.96.40.1'], ports: [{ port: 80, protocol: 'TCP', nodePort: 31234 }], selector: { app: 'web' } }, {}, 5 * M),
    // Ingress points are sorted and de-duplicated; hostnames stand in for missing IPs; never clipped.
    svc('lb-ready', { type: 'LoadBalancer', clusterIPs: ['10.96.40.2'], ports: [{ port: 80, protocol: 'TCP', nodePort: 31235 }], selector: { app: 'web' } },
      { loadBalancer: { ingress: [{ ip: '192.168.1.241' }, { ip: '192.168.1.240' }, { hostname: 'lb.example.com' }, { ip: '192.168.1.240' }] } }, 5 * M),
    svc('lb-ext', { type: 'LoadBalancer', clusterIPs: ['10.96.40.3'], externalIPs: ['198.51.100.7'], ports: [{ port: 8080, protocol: 'TCP', nodePort: 31236 }], selector: { app: 'api' } },
      { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } }, 5 * M),
    svc('db', { type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 5432, protocol: 'TCP' }], selector: { app: 'db' } }),
    svc('external', { type: 'ExternalName', externalName: 'db.example.com' }),
    svc('ext-ips', { type: 'ClusterIP', clusterIPs: ['10.96.5.5'], externalIPs: ['1.2.3.4', '5.6.7.8'], ports: [{ port: 80, protocol: 'TCP' }] }),
    svc('dns', { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }], selector: { 'k8s-app': 'kube-dns' } }),
    svc('dual', { type: 'ClusterIP', clusterIPs: ['fd00:10:96::5', '10.96.0.5'], ports: [{ port: 80, protocol: 'SCTP' }] }),
  ];
  assert.equal(render(printers.Service!, services), table(`
    NAME         TYPE           CLUSTER-IP      EXTERNAL-IP                                  PORT(S)                      AGE   SELECTOR
    kubernetes   ClusterIP      10.96.0.1       <none>                                       443/TCP                      10d   <none>
    web          NodePort       10.96.12.34     <none>                                       80:30080/TCP,443:30443/TCP   90s   app=web,tier=frontend
    lb-pending   LoadBalancer   10.96.40.1      <pending>                                    80:31234/TCP                 5m    app=web
    lb-ready     LoadBalancer   10.96.40.2      192.168.1.240,192.168.1.241,lb.example.com   80:31235/TCP                 5m    app=web
    lb-ext       LoadBalancer   10.96.40.3      203.0.113.10,198.51.100.7                    8080:31236/TCP               5m    app=api
    db           ClusterIP      None            <none>                                       5432/TCP                     10d   app=db
    external     ExternalName   <none>          db.example.com                               <none>                       10d   <none>
    ext-ips      ClusterIP      10.96.5.5       1.2.3.4,5.6.7.8                              80/TCP                       10d   <none>
    dns          ClusterIP      10.96.0.10      <none>                                       53/UDP,53/TCP                10d   k8s-app=kube-dns
    dual         ClusterIP      fd00:10:96::5   <none>                                       80/SCTP                      10d   <none>
  `));
});

test('endpoints: ip:port per port, first three then "+ N more...", <none>', () => {
  const ep = (name: string, subsets?: Endpoints['subsets']): Endpoints => ({ metadata: meta(name, 3 * M), ...(subsets ? { subsets } : {}) });
  const objs: Endpoints[] = [
    ep('kubernetes', [{ addresses: [{ ip: '192.168.0.10' }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }] }]),
    // Ports are the outer loop: every address for port 80, then for 443.
    ep('web', [{ addresses: [{ ip: '10.244.1.5' }, { ip: '10.244.2.7' }], ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }]),
    ep('empty'),
    ep('headless', [{ addresses: [{ ip: '10.244.1.1' }, { ip: '10.244.1.2' }, { ip: '10.244.1.3' }, { ip: '10.244.1.4' }] }]),
    ep('v6', [{ addresses: [{ ip: 'fd00::5' }], ports: [{ port: 8080 }] }]),
    // Only not-ready addresses: nothing to list, and no "<none>" either.
    ep('not-ready', [{ notReadyAddresses: [{ ip: '10.244.1.9' }], ports: [{ port: 80 }] }]),
    ep('two-subsets', [
      { addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }] },
      { addresses: [{ ip: '10.0.0.3' }, { ip: '10.0.0.4' }, { ip: '10.0.0.5' }], ports: [{ port: 81 }] },
    ]),
  ];
  assert.equal(render(printers.Endpoints!, objs), table(`
    NAME          ENDPOINTS                                                AGE
    kubernetes    192.168.0.10:6443                                        3m
    web           10.244.1.5:80,10.244.2.7:80,10.244.1.5:443 + 1 more...   3m
    empty         <none>                                                   3m
    headless      10.244.1.1,10.244.1.2,10.244.1.3 + 1 more...             3m
    v6            [fd00::5]:8080                                           3m
    not-ready                                                              3m
    two-subsets   10.0.0.1:80,10.0.0.2:80,10.0.0.3:81 + 2 more...          3m
  `));
});

test('endpointslices: ADDRESSTYPE, PORTS, ENDPOINTS with <unset> and "+ N more..."', () => {
  const slice = (name: string, s: Omit<EndpointSlice, 'metadata'>): EndpointSlice => ({ metadata: meta(name, 2 * H), ...s });
  const objs: EndpointSlice[] = [
    slice('web-abc12', {
      addressType: 'IPv4', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'https', port: 443, protocol: 'TCP' }],
      endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true } }, { addresses: ['10.244.2.7'], conditions: { ready: false } }],
    }),
    slice('placeholder-x1', { addressType: 'IPv4', endpoints: [] }),
    slice('many-q9', {
      addressType: 'IPv4', ports: [{ port: 80 }, { port: 81 }, { name: 'metrics' }, { port: 83 }],
      endpoints: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map((a) => ({ addresses: [a] })),
    }),
    slice('all-ports', { addressType: 'IPv6', ports: [{}], endpoints: [{ addresses: ['fd00::5'] }] }),
    slice('fqdn', { addressType: 'FQDN', ports: [{ port: 443 }], endpoints: [{ addresses: ['db.example.com'] }] }),
  ];
  // Two hours print as "120m": minutes stay exact below three hours.
  assert.equal(render(printers.EndpointSlice!, objs), table(`
    NAME             ADDRESSTYPE   PORTS                       ENDPOINTS                                AGE
    web-abc12        IPv4          80,443                      10.244.1.5,10.244.2.7                    120m
    placeholder-x1   IPv4          <unset>                     <unset>                                  120m
    many-q9          IPv4          80,81,metrics + 1 more...   10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...   120m
    all-ports        IPv6          *                           fd00::5                                  120m
    fqdn             FQDN          443                         db.example.com                           120m
  `));
});

test('events: LAST SEEN, TYPE, REASON, OBJECT, wide SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME', () => {
  const objs: Event[] = [
    {
      metadata: meta('web-1.17a8b3c4d5e6f708', 5 * M),
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-1', apiVersion: 'v1' },
      reason: 'Scheduled', message: 'Successfully assigned default/web-1 to node-1', type: 'Normal',
      source: { component: 'default-scheduler' }, firstTimestamp: ago(5 * M), lastTimestamp: ago(5 * M), count: 1,
    },
    {
      metadata: meta('crash.17a8b3c4d5e6f709', H),
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'crash', fieldPath: 'spec.containers{app}' },
      reason: 'BackOff', message: 'Back-off restarting failed container app in pod crash_default(0c1d)\n', type: 'Warning',
      source: { component: 'kubelet', host: 'node-1' }, firstTimestamp: ago(H), lastTimestamp: ago(30 * S), count: 25,
    },
    {
      // Written through events.k8s.io: eventTime, series and reporting* only.
      metadata: meta('lb-pending.17a8b3c4d5e6f70a', 90 * S),
      involvedObject: { kind: 'Service', namespace: 'default', name: 'lb-pending' },
      reason: 'EnsuringLoadBalancer', message: 'Ensuring load balancer', type: 'Normal',
      eventTime: '2025-01-01T11:58:30.123456Z', series: { count: 4, lastObservedTime: '2025-01-01T11:59:50.000001Z' },
      reportingComponent: 'svcnet-loadbalancer', reportingInstance: 'svcnet-lb-0',
    },
    {
      metadata: meta('node.17a8b3c4d5e6f70b', 90 * S),
      involvedObject: { kind: 'Node' },
      reason: 'Starting', message: '', type: 'Normal', source: {},
    },
  ];
  // eventTime 11:58:30.123456 is 89.88s before now: durations truncate, so "89s".
  assert.equal(render(printers.Event!, objs), table(`
    LAST SEEN   TYPE      REASON                 OBJECT               SUBOBJECT              SOURCE                             MESSAGE                                                               FIRST SEEN   COUNT   NAME
    5m          Normal    Scheduled              pod/web-1                                   default-scheduler                  Successfully assigned default/web-1 to node-1                         5m           1       web-1.17a8b3c4d5e6f708
    30s         Warning   BackOff                pod/crash            spec.containers{app}   kubelet, node-1                    Back-off restarting failed container app in pod crash_default(0c1d)   60m          25      crash.17a8b3c4d5e6f709
    10s         Normal    EnsuringLoadBalancer   service/lb-pending                          svcnet-loadbalancer, svcnet-lb-0   Ensuring load balancer                                                89s          4       lb-pending.17a8b3c4d5e6f70a
    <unknown>   Normal    Starting               node                                                                                                                                                 <unknown>    1       node.17a8b3c4d5e6f70b
  `));
  // COUNT is an integer cell even though the column says string, as in printers.go.
  assert.equal(printers.Event!.row(objs[1]!, now)[8], 25);
});

test('nodes: STATUS with SchedulingDisabled, ROLES from labels, VERSION, wide addresses and node info', () => {
  const objs: Node[] = [
    {
      metadata: { name: 'cp', creationTimestamp: ago(10 * D), labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/hostname': 'cp' } },
      status: {
        conditions: [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'True' }],
        addresses: [{ type: 'Hostname', address: 'cp' }, { type: 'InternalIP', address: '192.168.0.10' }],
        nodeInfo: {
          kubeletVersion: 'v1.32.0', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-28-amd64', containerRuntimeVersion: 'svcnet://0.1.0',
          architecture: 'amd64', bootID: '', kubeProxyVersion: '', machineID: '', operatingSystem: 'linux', systemUUID: '',
        },
      },
    },
    {
      metadata: { name: 'worker-1', creationTimestamp: ago(3 * H), labels: { 'node-role.kubernetes.io/worker': '', 'kubernetes.io/role': 'ingress', 'node-role.kubernetes.io/': 'ignored' } },
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'Ready', status: 'False' }],
        addresses: [{ type: 'InternalIP', address: '192.168.0.11' }, { type: 'ExternalIP', address: '203.0.113.5' }],
        nodeInfo: {
          kubeletVersion: 'v1.32.0', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-28-amd64', containerRuntimeVersion: 'svcnet://0.1.0',
          architecture: 'amd64', bootID: '', kubeProxyVersion: '', machineID: '', operatingSystem: 'linux', systemUUID: '',
        },
      },
    },
    { metadata: { name: 'new', creationTimestamp: ago(4 * S) } },
    {
      metadata: { name: 'flaky', creationTimestamp: ago(47 * H) },
      status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
    },
  ];
  assert.equal(render(printers.Node!, objs), table(`
    NAME       STATUS                        ROLES            AGE   VERSION   INTERNAL-IP    EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME
    cp         Ready                         control-plane    10d   v1.32.0   192.168.0.10   <none>        Debian GNU/Linux 12 (bookworm)   6.1.0-28-amd64   svcnet://0.1.0
    worker-1   NotReady,SchedulingDisabled   ingress,worker   3h    v1.32.0   192.168.0.11   203.0.113.5   Debian GNU/Linux 12 (bookworm)   6.1.0-28-amd64   svcnet://0.1.0
    new        Unknown                       <none>           4s              <none>         <none>        <unknown>                        <unknown>        <unknown>
    flaky      NotReady                      <none>           47h             <none>         <none>        <unknown>                        <unknown>        <unknown>
  `));
});

test('namespaces, configmaps and leases', () => {
  const namespaces: Namespace[] = [
    { metadata: { name: 'default', creationTimestamp: ago(10 * D) }, status: { phase: 'Active' } },
    { metadata: { name: 'doomed', creationTimestamp: ago(3 * S), deletionTimestamp: ago(0) }, status: { phase: 'Terminating' } },
  ];
  assert.equal(render(printers.Namespace!, namespaces), table(`
    NAME      STATUS        AGE
    default   Active        10d
    doomed    Terminating   3s
  `));

  const configMaps: ConfigMap[] = [
    { metadata: meta('kube-root-ca.crt', 10 * D), data: { 'ca.crt': '-----BEGIN CERTIFICATE-----' } },
    { metadata: meta('app-config', 119 * S), data: { 'a.yaml': 'x', 'b.yaml': 'y' }, binaryData: { 'logo.png': 'iVBORw0=' } },
    { metadata: meta('empty', 2 * M) },
  ];
  assert.equal(render(printers.ConfigMap!, configMaps), table(`
    NAME               DATA   AGE
    kube-root-ca.crt   1      10d
    app-config         3      119s
    empty              0      2m
  `));
  // DATA is an integer cell.
  assert.equal(printers.ConfigMap!.row(configMaps[1]!, now)[1], 3);

  const leases: Lease[] = [
    { metadata: { name: 'kube-controller-manager', namespace: 'kube-system', creationTimestamp: ago(10 * D) }, spec: { holderIdentity: 'cp_0b6f1e2a', leaseDurationSeconds: 15 } },
    { metadata: { name: 'node-1', namespace: 'kube-node-lease', creationTimestamp: ago(9 * M + 59 * S) }, spec: { holderIdentity: 'node-1' } },
    { metadata: { name: 'free', namespace: 'default', creationTimestamp: ago(180 * M) }, spec: {} },
  ];
  assert.equal(render(printers.Lease!, leases), table(`
    NAME                      HOLDER        AGE
    kube-controller-manager   cp_0b6f1e2a   10d
    node-1                    node-1        9m59s
    free                                    3h
  `));
});

test('deployments and replicasets: READY x/y, integers, CONTAINERS, IMAGES, SELECTOR', () => {
  const template = (containers: { name: string; image: string }[]) => ({ metadata: { labels: { app: 'web' } }, spec: { containers } });
  const deployments: Deployment[] = [
    {
      metadata: meta('web', 10 * D),
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: template([{ name: 'web', image: 'nginx:1.27' }, { name: 'sidecar', image: 'busybox' }]) },
      status: { replicas: 3, readyReplicas: 3, updatedReplicas: 3, availableReplicas: 3 },
    },
    {
      // Selector requirements print sorted by key; a fresh object has no status.
      metadata: meta('api', 45 * S),
      spec: { replicas: 2, selector: { matchLabels: { app: 'api' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend', 'api'] }] }, template: template([{ name: 'api', image: 'example/api:v2' }]) },
    },
    {
      // An unconvertible selector prints <invalid>.
      metadata: meta('odd', 45 * S),
      spec: { selector: { matchExpressions: [{ key: 'a', operator: 'Foo' }] }, template: template([]) },
      status: { replicas: 1, updatedReplicas: 1 },
    },
  ];
  assert.equal(render(printers.Deployment!, deployments), table(`
    NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS    IMAGES               SELECTOR
    web    3/3     3            3           10d   web,sidecar   nginx:1.27,busybox   app=web
    api    0/2     0            0           45s   api           example/api:v2       app=api,tier in (api,backend)
    odd    0/1     1            0           45s                                      <invalid>
  `));
  const d = printers.Deployment!.row(deployments[0]!, now);
  assert.deepEqual(d.slice(1, 4), ['3/3', 3, 3]);

  const replicaSets: ReplicaSet[] = [
    {
      metadata: meta('web-7d9f', 10 * D),
      spec: { replicas: 3, selector: { matchLabels: { app: 'web', 'pod-template-hash': '7d9f' } }, template: template([{ name: 'web', image: 'nginx:1.27' }]) },
      status: { replicas: 3, readyReplicas: 2 },
    },
    {
      metadata: meta('web-5c4b', 20 * D),
      spec: { replicas: 0, selector: {}, template: template([{ name: 'web', image: 'nginx:1.26' }]) },
      status: { replicas: 0 },
    },
  ];
  assert.equal(render(printers.ReplicaSet!, replicaSets), table(`
    NAME       DESIRED   CURRENT   READY   AGE   CONTAINERS   IMAGES       SELECTOR
    web-7d9f   3         3         2       10d   web          nginx:1.27   app=web,pod-template-hash=7d9f
    web-5c4b   0         0         0       20d   web          nginx:1.26   <none>
  `));
  assert.deepEqual(printers.ReplicaSet!.row(replicaSets[0]!, now).slice(1, 4), [3, 3, 2]);
});

// ---------------------------------------------------------------------------

test('column definitions: names, types, wide priorities as kube-apiserver sends them', () => {
  const summary = (kind: string) =>
    printers[kind]!.columns.map((c) => `${c.name}:${c.type}${c.format ? `/${c.format}` : ''}${c.priority ? '*' : ''}`).join(' ');
  assert.equal(summary('Pod'), 'Name:string/name Ready:string Status:string Restarts:string Age:string IP:string* Node:string* Nominated Node:string* Readiness Gates:string*');
  assert.equal(summary('Service'), 'Name:string/name Type:string Cluster-IP:string External-IP:string Port(s):string Age:string Selector:string*');
  assert.equal(summary('Node'), 'Name:string/name Status:string Roles:string Age:string Version:string Internal-IP:string* External-IP:string* OS-Image:string* Kernel-Version:string* Container-Runtime:string*');
  assert.equal(summary('Endpoints'), 'Name:string/name Endpoints:string Age:string');
  assert.equal(summary('EndpointSlice'), 'Name:string/name AddressType:string Ports:string Endpoints:string Age:string');
  assert.equal(summary('Event'), 'Last Seen:string Type:string Reason:string Object:string Subobject:string* Source:string* Message:string First Seen:string* Count:string* Name:string/name*');
  assert.equal(summary('Namespace'), 'Name:string/name Status:string Age:string');
  assert.equal(summary('ConfigMap'), 'Name:string/name Data:string Age:string');
  assert.equal(summary('Deployment'), 'Name:string/name Ready:string Up-to-date:string Available:string Age:string Containers:string* Images:string* Selector:string*');
  assert.equal(summary('ReplicaSet'), 'Name:string/name Desired:integer Current:integer Ready:integer Age:string Containers:string* Images:string* Selector:string*');
  assert.equal(summary('Lease'), 'Name:string/name Holder:string Age:string');
  assert.match(printers.Pod!.columns[0]!.description, /^Name must be unique within a namespace/);
});

test('every served resource has a printer whose rows match its columns, even for bare objects', () => {
  for (const r of resources) {
    const p = printerFor(r);
    assert.ok(printers[r.kind], `no printer for ${r.kind}`);
    const cells = p.row({ metadata: { name: 'x' } }, now);
    assert.equal(cells.length, p.columns.length, r.kind);
    if (r.kind !== 'Event') assert.equal(cells[0], 'x', r.kind);
    assert.ok(p.columns.some((c) => c.format === 'name'), r.kind);
  }
});

test('tableFor: Table envelope, includeObject Metadata / Object / None, list metadata, noHeaders', () => {
  const podInfo = findByKind('v1', 'Pod')!;
  const pods: Pod[] = [
    { metadata: { name: 'a', namespace: 'default', resourceVersion: '7', uid: 'u1', labels: { app: 'a' }, creationTimestamp: ago(M) }, spec: { containers: [{ name: 'c' }] }, status: { phase: 'Succeeded' } },
  ];
  const t = tableFor(podInfo, pods, { now, includeObject: 'Metadata', resourceVersion: '42', continue: 'abc' });
  assert.equal(t.kind, 'Table');
  assert.equal(t.apiVersion, 'meta.k8s.io/v1');
  assert.deepEqual(t.metadata, { resourceVersion: '42', continue: 'abc' });
  assert.equal(t.columnDefinitions.length, 9);
  assert.deepEqual(t.columnDefinitions[5], { name: 'IP', type: 'string', format: '', description: 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', priority: 1 });
  assert.equal(t.rows.length, 1);
  assert.deepEqual(t.rows[0]!.cells, ['a', '0/1', 'Succeeded', '0', '60s', '<none>', '<none>', '<none>', '<none>']);
  assert.deepEqual(t.rows[0]!.conditions, [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }]);
  assert.deepEqual(t.rows[0]!.object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: pods[0]!.metadata });

  const full = tableFor(podInfo, pods, { now, includeObject: 'Object' });
  assert.deepEqual(full.metadata, {});
  assert.deepEqual(full.rows[0]!.object, { apiVersion: 'v1', kind: 'Pod', ...pods[0] });

  const none = tableFor(podInfo, pods, { now, includeObject: 'None', noHeaders: true, tableVersion: 'meta.k8s.io/v1beta1' });
  assert.equal(none.rows[0]!.object, null);
  assert.deepEqual(none.columnDefinitions, []);
  assert.equal(none.apiVersion, 'meta.k8s.io/v1beta1');

  const svcInfo = findByKind('v1', 'Service')!;
  const empty = tableFor(svcInfo, [], { now, includeObject: 'Metadata', resourceVersion: '9' });
  assert.deepEqual(empty.rows, []);
  assert.equal(empty.columnDefinitions.length, 7);
  // Serialises to what kubectl expects: no undefined holes.
  const json = JSON.parse(JSON.stringify(t)) as { rows: { object: { kind: string } }[] };
  assert.equal(json.rows[0]!.object.kind, 'PartialObjectMetadata');
});

test('kinds without a printer fall back to NAME and CREATED AT', () => {
  const p = printerFor({ kind: 'Widget' });
  assert.deepEqual(p.columns.map((c) => [c.name, c.type]), [['Name', 'string'], ['Created At', 'date']]);
  assert.deepEqual(p.row({ metadata: { name: 'w', creationTimestamp: '2024-12-31T12:00:00Z' } }, now), ['w', '2024-12-31T12:00:00Z']);
});
