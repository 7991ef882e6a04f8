// Services through the real kubectl, as on a real cluster: defaults shown
// back, ClusterIP/NodePort allocation, LoadBalancer <pending>, type changes,
// and the exact errors for invalid manifests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './lib/harness.js';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h.close(); });

const json = async (args: string[]) => JSON.parse(await h.k([...args, '-o', 'json']));

test('the kubernetes service exists at the first IP of the range', async () => {
  const s = await json(['get', 'svc', 'kubernetes']);
  assert.equal(s.spec.clusterIP, '10.96.0.1');
  assert.deepEqual(s.spec.clusterIPs, ['10.96.0.1']);
  assert.equal(s.spec.ports[0].port, 443);
  assert.equal(s.spec.ports[0].name, 'https');
  const ep = await json(['get', 'endpoints', 'kubernetes']);
  assert.equal(ep.subsets[0].ports[0].port, Number(new URL(h.server.url).port));
  const slice = await json(['get', 'endpointslice', 'kubernetes']);
  assert.equal(slice.metadata.labels['kubernetes.io/service-name'], 'kubernetes');
  assert.deepEqual(slice.endpoints[0].addresses, ['127.0.0.1']);
});

test('kubectl create service nodeport: defaults and allocation as Kubernetes', async () => {
  assert.equal((await h.k(['create', 'service', 'nodeport', 'np', '--tcp=80:8080'])).trim(), 'service/np created');
  const s = await json(['get', 'svc', 'np']);
  assert.equal(s.spec.type, 'NodePort');
  assert.match(s.spec.clusterIP, /^10\.96\.\d+\.\d+$/);
  assert.deepEqual(s.spec.clusterIPs, [s.spec.clusterIP]);
  assert.deepEqual(s.spec.ipFamilies, ['IPv4']);
  assert.equal(s.spec.ipFamilyPolicy, 'SingleStack');
  assert.equal(s.spec.externalTrafficPolicy, 'Cluster');
  assert.equal(s.spec.internalTrafficPolicy, 'Cluster');
  assert.equal(s.spec.sessionAffinity, 'None');
  const p = s.spec.ports[0];
  assert.equal(p.protocol, 'TCP');
  assert.equal(p.targetPort, 8080);
  assert.ok(p.nodePort >= 30000 && p.nodePort <= 32767, String(p.nodePort));
  // Dynamic allocation prefers the upper band (KEP-3070/3668): the first 256 IPs and 86 ports are rarely handed out.
  const lastOctets = s.spec.clusterIP.split('.').slice(2).map(Number);
  assert.ok(lastOctets[0] * 256 + lastOctets[1] >= 256, s.spec.clusterIP);
  assert.ok(p.nodePort >= 30086, String(p.nodePort));
  const t = await h.k(['get', 'svc', 'np']);
  assert.match(t, new RegExp(`^np\\s+NodePort\\s+${s.spec.clusterIP.replace(/\./g, '\\.')}\\s+<none>\\s+80:${p.nodePort}/TCP\\s+\\d+s$`, 'm'));
});

test('kubectl expose a deployment', async () => {
  await h.k(['create', 'deployment', 'web', '--image=nginx', '--replicas=2', '--port=80']);
  assert.equal((await h.k(['expose', 'deployment', 'web', '--port=80', '--target-port=80'])).trim(), 'service/web exposed');
  const s = await json(['get', 'svc', 'web']);
  assert.deepEqual(s.spec.selector, { app: 'web' });
  assert.equal(s.spec.type, 'ClusterIP');
});

test('a LoadBalancer with no provider stays <pending>', async () => {
  const f = h.writeFile('lb.yaml', `apiVersion: v1
kind: Service
metadata:
  name: lb
spec:
  type: LoadBalancer
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
`);
  await h.k(['apply', '-f', f]);
  const t = await h.k(['get', 'svc', 'lb']);
  assert.match(t, /^lb\s+LoadBalancer\s+10\.96\.\S+\s+<pending>\s+80:3\d{4}\/TCP\s+\d+s$/m);
  const s = await json(['get', 'svc', 'lb']);
  assert.equal(s.spec.allocateLoadBalancerNodePorts, true);
});

test('type changes through patch: ClusterIP → NodePort → ClusterIP releases the nodePort; → ExternalName drops the clusterIP', async () => {
  await h.k(['create', 'service', 'clusterip', 'tc', '--tcp=80:80']);
  const ip = (await json(['get', 'svc', 'tc'])).spec.clusterIP;
  await h.k(['patch', 'svc', 'tc', '-p', '{"spec":{"type":"NodePort"}}']);
  let s = await json(['get', 'svc', 'tc']);
  assert.equal(s.spec.clusterIP, ip, 'clusterIP kept across the type change');
  const np = s.spec.ports[0].nodePort;
  assert.ok(np >= 30000);
  await h.k(['patch', 'svc', 'tc', '-p', '{"spec":{"type":"ClusterIP"}}']);
  s = await json(['get', 'svc', 'tc']);
  assert.equal(s.spec.ports[0].nodePort, undefined);
  // The released port can be asked for again.
  await h.k(['create', 'service', 'nodeport', 'reuse', `--tcp=81:81`, `--node-port=${np}`]);
  assert.equal((await json(['get', 'svc', 'reuse'])).spec.ports[0].nodePort, np);
  await h.k(['patch', 'svc', 'tc', '-p', '{"spec":{"type":"ExternalName","externalName":"example.com"}}']);
  s = await json(['get', 'svc', 'tc']);
  assert.equal(s.spec.clusterIP, undefined);
  assert.equal(s.spec.externalName, 'example.com');
  const t = await h.k(['get', 'svc', 'tc']);
  assert.match(t, /^tc\s+ExternalName\s+<none>\s+example\.com\s+80\/TCP\s+\d+s$/m);
});

test('requested values: honoured, or refused with Kubernetes\' message', async () => {
  const f = h.writeFile('fixed.yaml', `apiVersion: v1
kind: Service
metadata:
  name: fixed
spec:
  clusterIP: 10.96.0.10
  ports:
  - port: 53
    protocol: UDP
`);
  await h.k(['create', '-f', f]);
  assert.equal((await json(['get', 'svc', 'fixed'])).spec.clusterIP, '10.96.0.10');
  const g = h.writeFile('taken.yaml', `apiVersion: v1
kind: Service
metadata:
  name: taken
spec:
  clusterIP: 10.96.0.10
  ports:
  - port: 53
`);
  const r = await h.kubectl(['create', '-f', g]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `The Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: provided IP is already allocated`);
  const o = h.writeFile('out.yaml', `apiVersion: v1
kind: Service
metadata:
  name: out
spec:
  clusterIP: 10.97.0.10
  ports:
  - port: 53
`);
  const r2 = await h.kubectl(['create', '-f', o]);
  assert.equal(r2.stderr.trim(), `The Service "out" is invalid: spec.clusterIPs: Invalid value: []string{"10.97.0.10"}: failed to allocate IP 10.97.0.10: the provided IP (10.97.0.10) is not in the valid range. The range of valid IPs is 10.96.0.0/16`);
  const n = await h.kubectl(['create', 'service', 'nodeport', 'badport', '--tcp=80:80', '--node-port=40000']);
  assert.equal(n.code, 1);
  assert.match(n.stderr, /spec\.ports\[0\]\.nodePort: Invalid value: 40000: provided port is not in the valid range\. The range of valid ports is 30000-32767/);
});

test('invalid manifests print what a real cluster prints', async () => {
  const cases: [string, string][] = [
    [`apiVersion: v1
kind: Service
metadata:
  name: Bad_Name
spec:
  ports:
  - port: 80
`, `The Service "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`],
    [`apiVersion: v1
kind: Service
metadata:
  name: twoports
spec:
  ports:
  - port: 80
  - port: 81
`, `The Service "twoports" is invalid: 
* spec.ports[0].name: Required value
* spec.ports[1].name: Required value`],
    [`apiVersion: v1
kind: Service
metadata:
  name: badport
spec:
  ports:
  - port: 70000
    protocol: TCPX
`, `The Service "badport" is invalid: 
* spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive
* spec.ports[0].protocol: Unsupported value: "TCPX": supported values: "SCTP", "TCP", "UDP"
* spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive`],
    [`apiVersion: v1
kind: Service
metadata:
  name: affinity
spec:
  sessionAffinity: Sticky
  ports:
  - port: 80
`, `The Service "affinity" is invalid: spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"`],
  ];
  for (const [i, [yaml, want]] of cases.entries()) {
    const f = h.writeFile(`bad-${i}.yaml`, yaml);
    const r = await h.kubectl(['create', '-f', f]);
    assert.equal(r.code, 1, yaml);
    assert.equal(r.stderr.trim(), want);
  }
});

test('clusterIP is immutable', async () => {
  const r = await h.kubectl(['patch', 'svc', 'np', '-p', '{"spec":{"clusterIP":"10.96.5.5","clusterIPs":["10.96.5.5"]}}']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /spec\.clusterIPs\[0\]: Invalid value: \[\]string\{"10\.96\.5\.5"\}: may not change once set/);
});
