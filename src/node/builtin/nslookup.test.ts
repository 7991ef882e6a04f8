import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLookup, parseResolvConf, ptrName, searchNames, underSearch } from './nslookup.js';
import { builtinFor, resolveContainerCommand } from '../images.js';

// What kubelet writes for a ClusterFirst pod in `default` (runtime.ts podResolvConf).
const POD_RESOLV = 'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n';

test('resolv.conf: nameservers, the last search/domain line, ndots', () => {
  assert.deepEqual(parseResolvConf(POD_RESOLV),
    { nameservers: ['10.96.0.10'], search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], ndots: 5 });
  assert.deepEqual(parseResolvConf('# comment\ndomain a.example.\nnameserver 1.1.1.1 # x\nnameserver fd00::a\nsearch b.example c.example\noptions rotate ndots:20\n'),
    { nameservers: ['1.1.1.1', 'fd00::a'], search: ['b.example', 'c.example'], ndots: 15 });
  assert.deepEqual(parseResolvConf(''), { nameservers: [], search: [], ndots: 1 });
});

test('the search list, as musl applies it', () => {
  const conf = parseResolvConf(POD_RESOLV);
  // Fewer dots than ndots: each search domain, then the name alone.
  assert.deepEqual(searchNames('kubernetes.default', conf), [
    'kubernetes.default.default.svc.cluster.local', 'kubernetes.default.svc.cluster.local', 'kubernetes.default.cluster.local', 'kubernetes.default']);
  assert.deepEqual(searchNames('web', conf), ['web.default.svc.cluster.local', 'web.svc.cluster.local', 'web.cluster.local', 'web']);
  // A trailing dot, or ndots reached: the name alone.
  assert.deepEqual(searchNames('web.default.svc.cluster.local.', conf), ['web.default.svc.cluster.local.']);
  assert.deepEqual(searchNames('a.b.c.d.e.f', conf), ['a.b.c.d.e.f']);
  assert.deepEqual(searchNames('example.com', { search: ['x'], ndots: 1 }), ['example.com']);
  assert.equal(underSearch('web.default.svc.cluster.local.', conf.search), true);
  assert.equal(underSearch('example.com', conf.search), false);
});

test('PTR names', () => {
  assert.equal(ptrName('10.96.0.10'), '10.0.96.10.in-addr.arpa');
  assert.equal(ptrName('fd00::a'), 'a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa');
  assert.equal(ptrName('::ffff:1.2.3.4'), '4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa');
  assert.equal(ptrName('web'), undefined);
});

test('busybox 1.36 output (golden)', () => {
  // nslookup kubernetes.default in a pod: an IPv4-only Service, its AAAA empty.
  assert.deepEqual(formatLookup({
    server: '10.96.0.10', port: 53, results: [
      { name: 'kubernetes.default.svc.cluster.local', type: 'A', rcode: 'NOERROR', records: ['10.96.0.1'], authoritative: true },
      { name: 'kubernetes.default.svc.cluster.local', type: 'AAAA', rcode: 'NOERROR', records: [], authoritative: true },
    ],
  }), {
    code: 0,
    stdout: 'Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n'
      + 'Name:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n\n'
      + "*** Can't find kubernetes.default.svc.cluster.local: No answer\n\n",
  });
  // A name that does not exist: one line per query, exit 1.
  assert.deepEqual(formatLookup({
    server: '10.96.0.10', port: 53, results: [
      { name: 'nosuch', type: 'A', rcode: 'NXDOMAIN', records: [], authoritative: true },
      { name: 'nosuch', type: 'AAAA', rcode: 'NXDOMAIN', records: [], authoritative: true },
    ],
  }), {
    code: 1,
    stdout: "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n** server can't find nosuch: NXDOMAIN\n\n** server can't find nosuch: NXDOMAIN\n\n",
  });
  // An ExternalName (CNAME) from a non-authoritative IPv6 server, a dual-stack answer; a PTR.
  assert.equal(formatLookup({
    server: 'fd00::a', port: 5353, results: [
      { name: 'ext.example.', type: 'A', rcode: 'NOERROR', cname: 'www.example.org.', records: ['192.0.2.1', '192.0.2.2'], authoritative: false },
      { name: 'ext.example.', type: 'AAAA', rcode: 'SERVFAIL', records: [], authoritative: false },
    ],
  }).stdout, 'Server:\t\tfd00::a\nAddress:\t[fd00::a]:5353\n\n'
    + 'Non-authoritative answer:\next.example\tcanonical name = www.example.org\n'
    + 'Name:\twww.example.org\nAddress: 192.0.2.1\nName:\twww.example.org\nAddress: 192.0.2.2\n\n'
    + "** server can't find ext.example.: SERVFAIL\n\n");
  assert.equal(formatLookup({
    server: '10.96.0.10', port: 53, results: [
      { name: '10.0.96.10.in-addr.arpa', type: 'PTR', rcode: 'NOERROR', records: ['kube-dns.kube-system.svc.cluster.local'], authoritative: true },
    ],
  }).stdout, 'Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n10.0.96.10.in-addr.arpa\tname = kube-dns.kube-system.svc.cluster.local\n\n');
  assert.deepEqual(formatLookup({ timedOut: true }), { code: 1, stdout: ';; connection timed out; no servers could be reached\n\n' });
});

test('nslookup runs built in for shell-like images and kubectl exec, nowhere else', () => {
  assert.deepEqual(resolveContainerCommand({ image: 'busybox' }, [], ['nslookup', 'kubernetes.default']),
    { kind: 'builtin', name: 'nslookup', args: ['kubernetes.default'] });
  assert.deepEqual(resolveContainerCommand({ image: 'alpine:3.20' }, ['/usr/bin/nslookup'], ['web', '10.96.0.10']),
    { kind: 'builtin', name: 'nslookup', args: ['web', '10.96.0.10'] });
  assert.deepEqual(resolveContainerCommand({ image: 'busybox' }, [], ['sh', '-c', 'nslookup web']), { kind: 'host', argv: ['sh', '-c', 'nslookup web'] });
  assert.deepEqual(resolveContainerCommand({ image: 'example.com/app' }, ['nslookup'], ['web']), { kind: 'host', argv: ['nslookup', 'web'] });
  assert.deepEqual(builtinFor(['nslookup', 'web']), { name: 'nslookup', args: ['web'] });
  assert.equal(builtinFor(['dig', 'web']), undefined);
});
