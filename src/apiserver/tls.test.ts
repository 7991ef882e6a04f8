import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureServingCerts } from './tls.js';

test('the CA is a CA, the serving certificate is signed by it for the API server\'s names', () => {
  const c = ensureServingCerts(undefined, ['IP:10.96.0.1', 'IP:fd00::1:2']);
  const ca = new X509Certificate(c.caPem);
  const cert = new X509Certificate(c.certPem);
  assert.equal(ca.ca, true);
  assert.equal(cert.ca, false);
  assert.ok(ca.verify(ca.publicKey), 'the CA is self-signed');
  assert.ok(cert.checkIssued(ca));
  assert.ok(cert.verify(ca.publicKey));
  assert.ok(cert.checkPrivateKey(createPrivateKey(c.keyPem)));
  assert.equal(cert.subject, 'CN=kube-apiserver');
  assert.equal(cert.issuer, 'CN=svcnet-ca');
  assert.equal(cert.subjectAltName,
    'IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP Address:10.96.0.1, IP Address:FD00:0:0:0:0:0:1:2');
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkHost('kubernetes.default.svc'), 'kubernetes.default.svc');
  assert.ok(Date.parse(cert.validTo) - Date.now() > 3000 * 86_400_000);
});

test('openssl agrees: the chain verifies and the extensions read as expected', (t) => {
  let version = '';
  try { version = execFileSync('openssl', ['version']).toString(); } catch { /* absent */ }
  if (!version) { t.skip('openssl not installed'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-tls-'));
  try {
    const c = ensureServingCerts(dir);
    const pki = join(dir, 'pki');
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', join(pki, 'ca.crt'), join(pki, 'apiserver.crt')]).toString();
    assert.match(out, /apiserver\.crt: OK/);
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', join(pki, 'ca.crt')]).toString();
    assert.match(text, /CA:TRUE/);
    assert.match(text, /Certificate Sign, CRL Sign/);
    assert.equal(readFileSync(join(pki, 'apiserver.crt'), 'utf8'), c.certPem);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a TLS client that trusts only the CA connects to 127.0.0.1 and to localhost', async () => {
  const c = ensureServingCerts(undefined);
  const server = createServer({ cert: c.certPem, key: c.keyPem }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    for (const servername of [undefined, 'localhost']) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, ca: c.caPem, servername, path: '/' }, (res) => {
          let s = '';
          res.on('data', (d: Buffer) => { s += d; });
          res.on('end', () => resolve(s));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(body, 'ok');
    }
  } finally {
    server.close();
  }
});

test('kept across runs; remade when the SANs change, when it expires soon, or when the CA is not its issuer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-tls-'));
  try {
    const a = ensureServingCerts(dir);
    const b = ensureServingCerts(dir);
    assert.deepEqual(b, a, 'reused');
    const c = ensureServingCerts(dir, ['DNS:extra']);
    assert.equal(c.caPem, a.caPem, 'same CA');
    assert.notEqual(c.certPem, a.certPem, 'new SANs, new serving certificate');
    // Ten years later, less 29 days: both are about to expire.
    const later = Date.now() + (3650 - 29) * 86_400_000;
    const d = ensureServingCerts(dir, ['DNS:extra'], later);
    assert.notEqual(d.caPem, c.caPem);
    assert.ok(new X509Certificate(d.certPem).checkIssued(new X509Certificate(d.caPem)));
    // A serving certificate from another CA is replaced.
    const other = ensureServingCerts(undefined, ['DNS:extra']);
    writeFileSync(join(dir, 'pki', 'apiserver.crt'), other.certPem);
    const e = ensureServingCerts(dir, ['DNS:extra'], later);
    assert.ok(new X509Certificate(e.certPem).verify(new X509Certificate(e.caPem).publicKey));
    assert.notEqual(e.certPem, other.certPem);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
