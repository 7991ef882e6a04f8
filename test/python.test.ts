// Debian's python3-kubernetes against svcnet: CRUD and a watch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { run, startHarness, type Harness } from './lib/harness.js';

// Debian's package installs for the system interpreter, not a pyenv one on PATH.
const python = '/usr/bin/python3';
let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h.close(); });

const script = String.raw`
import sys, threading, time
from kubernetes import client, config, watch
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
v1.create_namespaced_config_map("default", {"metadata": {"name": "py1", "labels": {"from": "py"}}, "data": {"a": "1"}})
cm = v1.read_namespaced_config_map("py1", "default")
assert cm.data == {"a": "1"}, cm.data
v1.patch_namespaced_config_map("py1", "default", {"data": {"b": "2"}})
cm = v1.read_namespaced_config_map("py1", "default")
assert cm.data == {"a": "1", "b": "2"}, cm.data
names = [i.metadata.name for i in v1.list_namespaced_config_map("default", label_selector="from=py").items]
assert names == ["py1"], names
svc = v1.create_namespaced_service("default", {"metadata": {"name": "pysvc"}, "spec": {"selector": {"app": "p"}, "ports": [{"port": 8080, "name": "web"}]}})
assert svc.spec.ports[0].target_port == 8080, svc.spec.ports[0].target_port
try:
    v1.read_namespaced_service("nope", "default")
    raise SystemExit("expected 404")
except client.exceptions.ApiException as e:
    assert e.status == 404, e.status
events = []
rv = v1.list_namespaced_config_map("default").metadata.resource_version
def later():
    time.sleep(0.3)
    v1.delete_namespaced_config_map("py1", "default")
threading.Thread(target=later).start()
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=10):
    events.append((ev["type"], ev["object"].metadata.name))
    if ev["type"] == "DELETED":
        w.stop()
assert ("DELETED", "py1") in events, events
print("ok")
`;

test('python3-kubernetes: CRUD, patch, list, 404, watch', { skip: !existsSync('/usr/lib/python3/dist-packages/kubernetes') && 'python3-kubernetes not installed' }, async () => {
  const f = h.writeFile('client.py', script);
  const r = await run(python, [f, h.kubeconfig], { env: { ...h.env }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.stdout.trim(), 'ok');
});
