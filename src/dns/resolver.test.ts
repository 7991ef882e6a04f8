import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Rcode, RRClass, RRType } from './message.js';
import { addressFromReverse, buildZone, resolveQuestion, reverseName, type ResolverOptions } from './resolver.js';
import { ep, fixture, service, show, slice } from './testdata.js';

const rcodeName: Record<number, string> = { 0: 'NOERROR', 3: 'NXDOMAIN', 5: 'REFUSED', 2: 'SERVFAIL' };

interface Case {
  q: string;
  type: keyof typeof RRType;
  rcode?: string;
  answer?: string[];
  /** Compared as a set (order of headless endpoints is not part of the contract). */
  answerSet?: string[];
  additional?: string[];
  /** Expect the zone's SOA in the authority section (negative answers). */
  soa?: string;
}

const SOA = 'cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5';
const SOA_V4 = 'in-addr.arpa. 5 SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. 1700000000 7200 1800 86400 5';

const zone = buildZone(fixture());

function check(c: Case, z = zone): void {
  const a = z.answer({ name: c.q, type: RRType[c.type], class: RRClass.IN });
  const label = `${c.q} ${c.type}`;
  assert.equal(rcodeName[a.rcode], c.rcode ?? 'NOERROR', `${label}: rcode`);
  const answers = a.answers.map(show);
  if (c.answer) assert.deepEqual(answers, c.answer, `${label}: answer`);
  if (c.answerSet) assert.deepEqual([...answers].sort(), [...c.answerSet].sort(), `${label}: answer`);
  if (!c.answer && !c.answerSet) assert.deepEqual(answers, [], `${label}: answer`);
  if (c.additional) assert.deepEqual(a.additionals.map(show).sort(), [...c.additional].sort(), `${label}: additional`);
  if (c.soa) assert.deepEqual(a.authorities.map(show), [c.soa], `${label}: authority`);
  else assert.deepEqual(a.authorities, [], `${label}: authority`);
  if (a.rcode !== Rcode.REFUSED) assert.equal(a.authoritative, true, `${label}: AA`);
}

const NODATA = (q: string, type: Case['type'], soa = SOA): Case => ({ q, type, soa });
const NX = (q: string, type: Case['type'], soa = SOA): Case => ({ q, type, rcode: 'NXDOMAIN', soa });

const cases: Record<string, Case[]> = {
  'ClusterIP service A/AAAA by family': [
    { q: 'web.default.svc.cluster.local', type: 'A', answer: ['web.default.svc.cluster.local. 5 A 10.96.0.20'] },
    NODATA('web.default.svc.cluster.local', 'AAAA'),
    { q: 'dual.default.svc.cluster.local', type: 'A', answer: ['dual.default.svc.cluster.local. 5 A 10.96.0.30'] },
    { q: 'dual.default.svc.cluster.local', type: 'AAAA', answer: ['dual.default.svc.cluster.local. 5 AAAA fd00:10:96::30'] },
    { q: 'lb.default.svc.cluster.local', type: 'A', answer: ['lb.default.svc.cluster.local. 5 A 10.96.0.40'] },
    { q: 'kube-dns.kube-system.svc.cluster.local', type: 'A', answer: ['kube-dns.kube-system.svc.cluster.local. 5 A 10.96.0.10'] },
  ],
  'names are case-insensitive; the answer keeps the question\'s spelling': [
    { q: 'WEB.Default.SVC.Cluster.Local', type: 'A', answer: ['WEB.Default.SVC.Cluster.Local. 5 A 10.96.0.20'] },
    { q: 'web.default.svc.cluster.local.', type: 'A', answer: ['web.default.svc.cluster.local. 5 A 10.96.0.20'] },
  ],
  'NXDOMAIN for names that do not exist, NODATA for names that do': [
    NX('nope.default.svc.cluster.local', 'A'),
    NX('web.missing-ns.svc.cluster.local', 'A'),
    NX('missing-ns.svc.cluster.local', 'A'),
    NX('web.default.nope.cluster.local', 'A'),
    NX('x.cluster.local', 'A'),
    NODATA('default.svc.cluster.local', 'A'),
    NODATA('empty-ns.svc.cluster.local', 'A'),
    NODATA('svc.cluster.local', 'A'),
    NODATA('pod.cluster.local', 'A'),
    NODATA('cluster.local', 'A'),
    NODATA('web.default.svc.cluster.local', 'MX'),
    NODATA('web.default.svc.cluster.local', 'TXT'),
    NODATA('web.default.svc.cluster.local', 'PTR'),
    NODATA('web.default.svc.cluster.local', 'CNAME'),
    NODATA('web.default.svc.cluster.local', 'SOA'),
    NODATA('web.default.svc.cluster.local', 'NS'),
    NX('nope.default.svc.cluster.local', 'MX'),
  ],
  'search-path expansions fail fast with NXDOMAIN': [
    NX('web.default.svc.cluster.local.default.svc.cluster.local', 'A'),
    NX('web.default.svc.cluster.local.svc.cluster.local', 'A'),
    NX('web.default.svc.cluster.local.cluster.local', 'A'),
    NX('a.b.c.web.default.svc.cluster.local', 'A'),
  ],
  'headless services answer with ready endpoints': [
    { q: 'db.default.svc.cluster.local', type: 'A', answerSet: [
      'db.default.svc.cluster.local. 5 A 10.244.1.10',
      'db.default.svc.cluster.local. 5 A 10.244.1.11',
      'db.default.svc.cluster.local. 5 A 10.244.1.12',
    ] },
    { q: 'db.default.svc.cluster.local', type: 'AAAA', answer: ['db.default.svc.cluster.local. 5 AAAA fd00:244::10'] },
    { q: 'pnr.default.svc.cluster.local', type: 'A', answer: ['pnr.default.svc.cluster.local. 5 A 10.244.3.3'] },
    { q: 'raw.default.svc.cluster.local', type: 'A', answer: ['raw.default.svc.cluster.local. 5 A 10.244.4.4'] },
    // CoreDNS: a headless service without a ready endpoint does not exist.
    NX('empty-headless.default.svc.cluster.local', 'A'),
  ],
  'endpoint names: hostname, else the dashed IP': [
    { q: 'db-0.db.default.svc.cluster.local', type: 'A', answer: ['db-0.db.default.svc.cluster.local. 5 A 10.244.1.10'] },
    { q: 'db-0.db.default.svc.cluster.local', type: 'AAAA', answer: ['db-0.db.default.svc.cluster.local. 5 AAAA fd00:244::10'] },
    { q: '10-244-1-12.db.default.svc.cluster.local', type: 'A', answer: ['10-244-1-12.db.default.svc.cluster.local. 5 A 10.244.1.12'] },
    { q: '10-244-1-5.web.default.svc.cluster.local', type: 'A', answer: ['10-244-1-5.web.default.svc.cluster.local. 5 A 10.244.1.5'] },
    NX('db-3.db.default.svc.cluster.local', 'A'), // not ready
    NX('db-9.db.default.svc.cluster.local', 'A'),
    NX('10-244-2-7.web.default.svc.cluster.local', 'A'), // not ready
    NX('anything.ext.default.svc.cluster.local', 'A'),
  ],
  'ExternalName is a CNAME': [
    { q: 'ext.default.svc.cluster.local', type: 'A', answer: ['ext.default.svc.cluster.local. 5 CNAME example.com.'] },
    { q: 'ext.default.svc.cluster.local', type: 'AAAA', answer: ['ext.default.svc.cluster.local. 5 CNAME example.com.'] },
    { q: 'ext.default.svc.cluster.local', type: 'CNAME', answer: ['ext.default.svc.cluster.local. 5 CNAME example.com.'] },
    NODATA('ext.default.svc.cluster.local', 'SRV'),
    { q: 'ext-in.default.svc.cluster.local', type: 'A', answer: [
      'ext-in.default.svc.cluster.local. 5 CNAME web.default.svc.cluster.local.',
      'web.default.svc.cluster.local. 5 A 10.96.0.20',
    ] },
    NX('ext-ip.default.svc.cluster.local', 'A'),
  ],
  'SRV for named ports': [
    { q: '_http._tcp.web.default.svc.cluster.local', type: 'SRV',
      answer: ['_http._tcp.web.default.svc.cluster.local. 5 SRV 0 100 80 web.default.svc.cluster.local.'],
      additional: ['web.default.svc.cluster.local. 5 A 10.96.0.20'] },
    { q: '_dns._udp.web.default.svc.cluster.local', type: 'SRV',
      answer: ['_dns._udp.web.default.svc.cluster.local. 5 SRV 0 100 53 web.default.svc.cluster.local.'],
      additional: ['web.default.svc.cluster.local. 5 A 10.96.0.20'] },
    { q: '_HTTP._TCP.web.default.svc.cluster.local', type: 'SRV',
      answer: ['_HTTP._TCP.web.default.svc.cluster.local. 5 SRV 0 100 80 web.default.svc.cluster.local.'],
      additional: ['web.default.svc.cluster.local. 5 A 10.96.0.20'] },
    NX('_http._udp.web.default.svc.cluster.local', 'SRV'),
    NX('_nope._tcp.web.default.svc.cluster.local', 'SRV'),
    { q: 'web.default.svc.cluster.local', type: 'SRV', answer: [
      'web.default.svc.cluster.local. 5 SRV 0 50 80 web.default.svc.cluster.local.',
      'web.default.svc.cluster.local. 5 SRV 0 50 53 web.default.svc.cluster.local.',
    ], additional: ['web.default.svc.cluster.local. 5 A 10.96.0.20'] },
    { q: '_http._tcp.dual.default.svc.cluster.local', type: 'SRV',
      answer: ['_http._tcp.dual.default.svc.cluster.local. 5 SRV 0 100 80 dual.default.svc.cluster.local.'],
      additional: ['dual.default.svc.cluster.local. 5 A 10.96.0.30', 'dual.default.svc.cluster.local. 5 AAAA fd00:10:96::30'] },
    { q: '_pg._tcp.db.default.svc.cluster.local', type: 'SRV', answerSet: [
      '_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 33 5432 db-0.db.default.svc.cluster.local.',
      '_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 33 5432 db-1.db.default.svc.cluster.local.',
      '_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 33 5432 10-244-1-12.db.default.svc.cluster.local.',
    ], additional: [
      'db-0.db.default.svc.cluster.local. 5 A 10.244.1.10',
      'db-0.db.default.svc.cluster.local. 5 AAAA fd00:244::10',
      'db-1.db.default.svc.cluster.local. 5 A 10.244.1.11',
      '10-244-1-12.db.default.svc.cluster.local. 5 A 10.244.1.12',
    ] },
    // A headless slice without ports has nothing to put in an SRV record.
    NODATA('raw.default.svc.cluster.local', 'SRV'),
    // An SRV-shaped name answers A with the addresses behind that port.
    { q: '_http._tcp.web.default.svc.cluster.local', type: 'A', answer: ['_http._tcp.web.default.svc.cluster.local. 5 A 10.96.0.20'] },
    { q: '_pg._tcp.db-1.db.default.svc.cluster.local', type: 'SRV', rcode: 'NXDOMAIN', soa: SOA },
  ],
  'PTR for ClusterIPs and endpoint IPs': [
    { q: '20.0.96.10.in-addr.arpa', type: 'PTR', answer: ['20.0.96.10.in-addr.arpa. 5 PTR web.default.svc.cluster.local.'] },
    { q: '10.1.244.10.in-addr.arpa', type: 'PTR', answer: ['10.1.244.10.in-addr.arpa. 5 PTR db-0.db.default.svc.cluster.local.'] },
    { q: '12.1.244.10.in-addr.arpa', type: 'PTR', answer: ['12.1.244.10.in-addr.arpa. 5 PTR 10-244-1-12.db.default.svc.cluster.local.'] },
    { q: '5.1.244.10.in-addr.arpa', type: 'PTR', answer: ['5.1.244.10.in-addr.arpa. 5 PTR 10-244-1-5.web.default.svc.cluster.local.'] },
    { q: '5.1.244.10.IN-ADDR.ARPA', type: 'PTR', answer: ['5.1.244.10.IN-ADDR.ARPA. 5 PTR 10-244-1-5.web.default.svc.cluster.local.'] },
    { q: reverseName('fd00:10:96::30')!, type: 'PTR', answer: [`${reverseName('fd00:10:96::30')}. 5 PTR dual.default.svc.cluster.local.`] },
    { q: reverseName('fd00:244::10')!, type: 'PTR', answer: [`${reverseName('fd00:244::10')}. 5 PTR db-0.db.default.svc.cluster.local.`] },
    NX('7.2.244.10.in-addr.arpa', 'PTR', SOA_V4), // not ready
    NX('9.9.9.9.in-addr.arpa', 'PTR', SOA_V4),
    NX('1.2.3.in-addr.arpa', 'PTR', SOA_V4),
    NODATA('96.10.in-addr.arpa', 'PTR', SOA_V4),
    NODATA('20.0.96.10.in-addr.arpa', 'A', SOA_V4),
    NODATA('in-addr.arpa', 'PTR', SOA_V4),
  ],
  'pod records (pods insecure)': [
    { q: '10-244-1-5.default.pod.cluster.local', type: 'A', answer: ['10-244-1-5.default.pod.cluster.local. 5 A 10.244.1.5'] },
    { q: '1-2-3-4.empty-ns.pod.cluster.local', type: 'A', answer: ['1-2-3-4.empty-ns.pod.cluster.local. 5 A 1.2.3.4'] },
    NODATA('10-244-1-5.default.pod.cluster.local', 'AAAA'),
    { q: 'fd00--1.default.pod.cluster.local', type: 'AAAA', answer: ['fd00--1.default.pod.cluster.local. 5 AAAA fd00::1'] },
    NX('1-2-3.default.pod.cluster.local', 'A'),
    NX('not-an-ip.default.pod.cluster.local', 'A'),
    NX('10-244-1-5.missing-ns.pod.cluster.local', 'A'),
    NODATA('default.pod.cluster.local', 'A'),
  ],
  'zone apex, nameserver and schema version': [
    { q: 'cluster.local', type: 'SOA', answer: [SOA] },
    { q: 'cluster.local', type: 'NS', answer: ['cluster.local. 5 NS kube-dns.kube-system.svc.cluster.local.'],
      additional: ['kube-dns.kube-system.svc.cluster.local. 5 A 10.96.0.10'] },
    { q: 'ns.dns.cluster.local', type: 'A', answer: ['ns.dns.cluster.local. 5 A 10.96.0.10'] },
    NODATA('ns.dns.cluster.local', 'AAAA'),
    NODATA('dns.cluster.local', 'A'),
    { q: 'dns-version.cluster.local', type: 'TXT', answer: ['dns-version.cluster.local. 28800 TXT "1.1.0"'] },
    NODATA('dns-version.cluster.local', 'A'),
  ],
};

for (const [title, list] of Object.entries(cases)) {
  test(`resolver: ${title}`, () => { for (const c of list) check(c); });
}

test('resolver: names outside the zones are REFUSED (no upstream), as are zone transfers and other classes', () => {
  for (const q of [
    { name: 'example.com', type: RRType.A, class: RRClass.IN },
    { name: 'cluster.local.example.com', type: RRType.A, class: RRClass.IN },
    { name: 'local', type: RRType.A, class: RRClass.IN },
    { name: '', type: RRType.NS, class: RRClass.IN },
    { name: 'cluster.local', type: RRType.AXFR, class: RRClass.IN },
    { name: 'web.default.svc.cluster.local', type: RRType.A, class: RRClass.CH },
  ]) {
    const a = zone.answer(q);
    assert.equal(a.rcode, Rcode.REFUSED, q.name);
    assert.equal(a.authoritative, false);
    assert.deepEqual([a.answers, a.authorities, a.additionals], [[], [], []]);
  }
});

test('resolver: options (ttl, pods disabled/verified, endpoint_pod_names, nameserver IPs, other cluster domain)', () => {
  const ttl30 = buildZone(fixture(), { ttl: 30 });
  check({ q: 'web.default.svc.cluster.local', type: 'A', answer: ['web.default.svc.cluster.local. 30 A 10.96.0.20'] }, ttl30);
  check({ q: 'nope.default.svc.cluster.local', type: 'A', rcode: 'NXDOMAIN',
    soa: 'cluster.local. 30 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 30' }, ttl30);
  assert.equal(buildZone(fixture(), { ttl: 99999 }).answer({ name: 'web.default.svc.cluster.local', type: RRType.A, class: 1 }).answers[0].ttl, 3600);

  const disabled = buildZone(fixture(), { podMode: 'disabled' });
  check(NX('10-244-1-5.default.pod.cluster.local', 'A'), disabled);

  const pod = (ns: string, name: string, ip: string, phase = 'Running'): Pod =>
    ({ metadata: { namespace: ns, name }, status: { phase, podIP: ip, podIPs: [{ ip }] } });
  const verified = buildZone({ ...fixture(), pods: [pod('default', 'web-1', '10.244.1.5'), pod('default', 'done', '10.244.9.9', 'Succeeded')] },
    { podMode: 'verified' });
  check({ q: '10-244-1-5.default.pod.cluster.local', type: 'A', answer: ['10-244-1-5.default.pod.cluster.local. 5 A 10.244.1.5'] }, verified);
  check(NX('10-244-1-5.empty-ns.pod.cluster.local', 'A'), verified);
  check(NX('1-2-3-4.default.pod.cluster.local', 'A'), verified);
  check(NX('10-244-9-9.default.pod.cluster.local', 'A'), verified);

  const podNames = buildZone(fixture(), { endpointPodNames: true });
  check({ q: 'web-1.web.default.svc.cluster.local', type: 'A', answer: ['web-1.web.default.svc.cluster.local. 5 A 10.244.1.5'] }, podNames);
  check({ q: '5.1.244.10.in-addr.arpa', type: 'PTR', answer: ['5.1.244.10.in-addr.arpa. 5 PTR web-1.web.default.svc.cluster.local.'] }, podNames);

  const noKubeDNS = fixture();
  noKubeDNS.services = noKubeDNS.services.filter((s) => s.metadata?.name !== 'kube-dns');
  const ns = buildZone(noKubeDNS, { nameserverIPs: ['10.96.0.53', 'fd00::53'] });
  check({ q: 'cluster.local', type: 'NS', answer: ['cluster.local. 5 NS ns.dns.cluster.local.'],
    additional: ['ns.dns.cluster.local. 5 A 10.96.0.53', 'ns.dns.cluster.local. 5 AAAA fd00::53'] }, ns);
  check({ q: 'ns.dns.cluster.local', type: 'AAAA', answer: ['ns.dns.cluster.local. 5 AAAA fd00::53'] }, ns);

  const other = buildZone({ ...fixture(), clusterDomain: 'Corp.Example' });
  assert.equal(other.zone, 'corp.example');
  const a = other.answer({ name: 'web.default.svc.corp.example', type: RRType.A, class: RRClass.IN });
  assert.deepEqual(a.answers.map(show), ['web.default.svc.corp.example. 5 A 10.96.0.20']);
  assert.equal(other.answer({ name: 'web.default.svc.cluster.local', type: RRType.A, class: RRClass.IN }).rcode, Rcode.REFUSED);
});

test('resolver: namespaces derived from objects when the snapshot does not list them', () => {
  const s = fixture();
  delete s.namespaces;
  const opts: ResolverOptions = {};
  assert.equal(resolveQuestion(s, { name: 'default.svc.cluster.local', type: RRType.A, class: 1 }, opts).rcode, Rcode.NOERROR);
  assert.equal(resolveQuestion(s, { name: 'kube-system.svc.cluster.local', type: RRType.A, class: 1 }, opts).rcode, Rcode.NOERROR);
  assert.equal(resolveQuestion(s, { name: 'empty-ns.svc.cluster.local', type: RRType.A, class: 1 }, opts).rcode, Rcode.NXDOMAIN);
});

test('resolver: snapshots with odd objects do not break the zone', () => {
  const s = fixture();
  s.services = [...s.services,
    { metadata: { name: 'nameless-ns' }, spec: { clusterIP: '10.96.1.1' } },
    { metadata: { namespace: 'default', name: 'bad-ip' }, spec: { clusterIP: 'not-an-ip', ports: [{ port: 1 }] } },
    { metadata: { namespace: 'default', name: 'pending' }, spec: { type: 'ClusterIP', ports: [{ port: 1 }] } },
    // A second Service claiming web's ClusterIP must not steal its PTR.
    { metadata: { namespace: 'zzz', name: 'dup' }, spec: { clusterIP: '10.96.0.20', ports: [{ port: 1 }] } },
    // ExternalNames pointing at each other inside the zone must not loop.
    service('default', 'loop-a', { type: 'ExternalName', externalName: 'loop-b.default.svc.cluster.local' }),
    service('default', 'loop-b', { type: 'ExternalName', externalName: 'LOOP-A.default.svc.cluster.local' }),
    service('default', 'self', { type: 'ExternalName', externalName: 'self.default.svc.cluster.local' }),
  ];
  s.endpointSlices = [...s.endpointSlices,
    { metadata: { namespace: 'default', name: 'fqdn', labels: { 'kubernetes.io/service-name': 'db' } }, addressType: 'FQDN', endpoints: [{ addresses: ['foo.example'] }] },
    { metadata: { namespace: 'default', name: 'orphan' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.244.8.8'] }] },
    slice('default', 'db-bad', 'db', 'IPv4', [{ addresses: ['garbage', 'fd00::1'] }, ep('10.244.1.14', { hostname: 'Bad_Name' })], [{ name: 'pg', port: 5432 }]),
  ];
  const z = buildZone(s);
  check(NODATA('bad-ip.default.svc.cluster.local', 'A'), z);
  check(NODATA('pending.default.svc.cluster.local', 'A'), z);
  check({ q: '20.0.96.10.in-addr.arpa', type: 'PTR', answer: ['20.0.96.10.in-addr.arpa. 5 PTR web.default.svc.cluster.local.'] }, z);
  // An invalid hostname falls back to the IP name.
  check({ q: '10-244-1-14.db.default.svc.cluster.local', type: 'A', answer: ['10-244-1-14.db.default.svc.cluster.local. 5 A 10.244.1.14'] }, z);
  check(NX('8.8.244.10.in-addr.arpa', 'PTR', SOA_V4), z);
  check(NODATA('loop-a.default.svc.cluster.local', 'A'), z);
  check(NODATA('self.default.svc.cluster.local', 'A'), z);
  check({ q: 'loop-a.default.svc.cluster.local', type: 'CNAME', answer: ['loop-a.default.svc.cluster.local. 5 CNAME loop-b.default.svc.cluster.local.'] }, z);
});

test('resolver: reverse names', () => {
  assert.equal(reverseName('10.96.0.1'), '1.0.96.10.in-addr.arpa');
  assert.equal(reverseName('fd00::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa');
  assert.equal(reverseName('nope'), undefined);
  assert.equal(addressFromReverse('1.0.96.10.in-addr.arpa.'), '10.96.0.1');
  assert.equal(addressFromReverse(reverseName('fd00:10:96::30')!), 'fd00:10:96::30');
  assert.equal(addressFromReverse(reverseName('fd00:10:96::30')!.toUpperCase()), 'fd00:10:96::30');
  for (const bad of ['1.0.96.in-addr.arpa', '256.0.96.10.in-addr.arpa', '01.0.96.10.in-addr.arpa', 'a.0.96.10.in-addr.arpa',
    '1.0.0.ip6.arpa', 'example.com', '1.2.3.4.5.in-addr.arpa']) {
    assert.equal(addressFromReverse(bad), undefined, bad);
  }
});
