import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { defaultKubeconfigPath, KubeconfigError, loadKubeconfig, parseKubeconfig } from './kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'svcnet-kc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s).toString('base64');

function config(over: { cluster?: Record<string, unknown>; user?: Record<string, unknown>; context?: Record<string, unknown>; current?: string } = {}) {
  return stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [
      { name: 'c1', cluster: { server: 'https://127.0.0.1:6443/', 'certificate-authority-data': b64('CA-PEM'), ...over.cluster } },
      { name: 'c2', cluster: { server: 'http://10.0.0.1:8080', 'insecure-skip-tls-verify': true } },
    ],
    users: [{ name: 'u1', user: { token: 'tok', ...over.user } }, { name: 'u2', user: { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') } }],
    contexts: [{ name: 'ctx1', context: { cluster: 'c1', user: 'u1', namespace: 'team', ...over.context } }, { name: 'ctx2', context: { cluster: 'c2', user: 'u2' } }],
    'current-context': over.current ?? 'ctx1',
  });
}

function code(f: () => unknown): string {
  try { f(); } catch (e) { assert.ok(e instanceof KubeconfigError, String(e)); return e.code; }
  return 'no error';
}

test('current context: server, CA data, token, namespace', () => {
  const c = parseKubeconfig(config());
  assert.deepEqual({ ...c }, { server: 'https://127.0.0.1:6443', ca: 'CA-PEM', token: 'tok', insecureSkipTLSVerify: false, namespace: 'team', contextName: 'ctx1' });
});

test('another context: client certificate, insecure-skip-tls-verify, default namespace', () => {
  const c = parseKubeconfig(config(), { context: 'ctx2' });
  assert.equal(c.server, 'http://10.0.0.1:8080');
  assert.equal(c.insecureSkipTLSVerify, true);
  assert.equal(c.clientCert, 'CERT');
  assert.equal(c.clientKey, 'KEY');
  assert.equal(c.token, undefined);
  assert.equal(c.namespace, 'default');
});

test('file references resolve against the kubeconfig folder', () => {
  writeFileSync(join(dir, 'ca.crt'), 'CA-FROM-FILE');
  writeFileSync(join(dir, 'token'), 'file-token\n');
  const p = join(dir, 'config');
  writeFileSync(p, config({ cluster: { 'certificate-authority-data': undefined, 'certificate-authority': 'ca.crt' }, user: { token: undefined, tokenFile: join(dir, 'token') } }));
  const c = loadKubeconfig(p);
  assert.equal(c.ca, 'CA-FROM-FILE');
  assert.equal(c.token, 'file-token');
});

test('clear errors', () => {
  assert.equal(code(() => loadKubeconfig(join(dir, 'missing'))), 'KUBECONFIG_READ');
  assert.equal(code(() => parseKubeconfig('a: [')), 'KUBECONFIG_PARSE');
  assert.equal(code(() => parseKubeconfig('- 1')), 'KUBECONFIG_PARSE');
  assert.equal(code(() => parseKubeconfig(config({ current: '' }))), 'KUBECONFIG_NO_CONTEXT');
  assert.equal(code(() => parseKubeconfig(config(), { context: 'nope' })), 'KUBECONFIG_CONTEXT_NOT_FOUND');
  assert.equal(code(() => parseKubeconfig(config({ context: { cluster: 'zz' } }))), 'KUBECONFIG_CLUSTER_NOT_FOUND');
  assert.equal(code(() => parseKubeconfig(config({ context: { user: 'zz' } }))), 'KUBECONFIG_USER_NOT_FOUND');
  assert.equal(code(() => parseKubeconfig(config({ cluster: { server: 'not a url' } }))), 'KUBECONFIG_INVALID');
  assert.equal(code(() => parseKubeconfig(config({ cluster: { 'certificate-authority-data': '***' } }))), 'KUBECONFIG_INVALID');
  assert.equal(code(() => parseKubeconfig(config({ cluster: { 'certificate-authority-data': undefined, 'certificate-authority': '/nonexistent/ca' } }))), 'KUBECONFIG_READ');
  assert.equal(code(() => parseKubeconfig(config({ user: { exec: { command: 'aws' } } }))), 'KUBECONFIG_UNSUPPORTED_AUTH');
  assert.equal(code(() => parseKubeconfig(config({ user: { 'client-certificate-data': b64('C') } }))), 'KUBECONFIG_INVALID');
  assert.match((() => { try { parseKubeconfig(config(), { context: 'nope' }); } catch (e) { return (e as Error).message; } return ''; })(), /context "nope" not found/);
});

test('default path: first of $KUBECONFIG, else ~/.kube/config', () => {
  assert.equal(defaultKubeconfigPath({ KUBECONFIG: '/a/b:/c/d', HOME: '/h' }), '/a/b');
  assert.equal(defaultKubeconfigPath({ HOME: '/h' }), '/h/.kube/config');
});
