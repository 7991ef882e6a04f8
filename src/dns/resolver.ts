// The cluster zone: answers DNS questions from a snapshot of Services,
// EndpointSlices (and optionally Pods and Namespaces) the way CoreDNS's
// kubernetes plugin does (plugin/kubernetes: parse.go, kubernetes.go,
// reverse.go, ns.go, and plugin/backend_lookup.go for the record shapes),
// which implements the Kubernetes DNS-Based Service Discovery specification.
// Pure: a snapshot in, a zone out; a question in, records and an rcode out.
//
// Where svcnet differs from a default CoreDNS, on purpose (see README.md):
// there is no upstream, so names outside the zones get REFUSED, an
// ExternalName's CNAME to an outside name comes back alone for the client's
// resolver to follow, and unknown reverse names get NXDOMAIN instead of
// falling through to `forward`.
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { formatIP, parseIPSloppy } from '../api/validation/ip.js';
import { canonicalName, Rcode, stripTrailingDot, RRClass, RRType, type Question, type ResourceRecord } from './message.js';

export interface DnsSnapshot {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  /** Needed only for `pods verified`. */
  pods?: readonly Pod[];
  /**
   * Namespaces that exist. When absent, a namespace exists when a Service,
   * EndpointSlice or Pod lives in it (and `default` always does).
   */
  namespaces?: readonly string[];
  /** Default 'cluster.local'. */
  clusterDomain?: string;
  /** SOA serial: CoreDNS uses the time (Unix seconds) of the last change it saw. Default 1. */
  serial?: number;
}

/** CoreDNS's `pods` option: pod A records `1-2-3-4.ns.pod.<zone>`. */
export type PodMode = 'disabled' | 'insecure' | 'verified';

export interface ResolverOptions {
  /** TTL of every record, 0..3600 (CoreDNS's `ttl`, default 5). */
  ttl?: number;
  /** Default 'insecure', as the Corefile kubeadm writes. */
  podMode?: PodMode;
  /** CoreDNS's `endpoint_pod_names`: an endpoint without hostname is named after its pod. */
  endpointPodNames?: boolean;
  /** Addresses of this DNS server, for `ns.dns.<zone>` when there is no kube-system/kube-dns Service. */
  nameserverIPs?: readonly string[];
}

export interface Answer {
  rcode: number;
  authoritative: boolean;
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

export interface ClusterZone {
  /** The cluster domain, lowercase, without trailing dot. */
  readonly zone: string;
  answer(q: Question): Answer;
}

/** The schema version CoreDNS reports at `dns-version.<zone>` TXT. */
export const DNS_SCHEMA_VERSION = '1.1.0';
export const DEFAULT_TTL = 5;
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const REVERSE_V4 = 'in-addr.arpa';
const REVERSE_V6 = 'ip6.arpa';
/** CoreDNS's endpoint hostname check: anything else is named by its IP instead. */
const HOSTNAME_RE = /^[-a-z0-9]{1,63}$/;
/** CoreDNS stops following CNAMEs after this many (backend_lookup.go). */
const MAX_CNAME_CHAIN = 8;

interface PortInfo { name: string; protocol: string; port: number }

interface EndpointAddr {
  ip: string;
  v6: boolean;
  /** The DNS label naming this endpoint under its service. */
  hostname: string;
  /** Empty when the slice declares no ports (CoreDNS's port -1 sentinel). */
  ports: readonly PortInfo[];
}

interface SvcInfo {
  name: string;
  namespace: string;
  headless: boolean;
  externalName?: string;
  clusterIPs: string[];
  ports: PortInfo[];
}

/** What a name stands for, before it is turned into records of one type. */
type Entry =
  | { kind: 'ip'; ip: string; v6: boolean; port: number; owner: string }
  | { kind: 'cname'; target: string };

type Lookup = { exists: false } | { exists: true; entries: Entry[] };

interface ParsedName {
  podOrSvc: 'svc' | 'pod';
  namespace: string;
  service: string;
  endpoint: string;
  port: string;
  protocol: string;
}

function canonIP(s: string | undefined): { ip: string; v6: boolean } | undefined {
  if (!s) return undefined;
  const p = parseIPSloppy(s);
  return p ? { ip: formatIP(p), v6: p.family === 'IPv6' } : undefined;
}

function lower(s: string | undefined): string {
  return (s ?? '').toLowerCase();
}

function stripUnderscore(s: string): string {
  return s.startsWith('_') ? s.slice(1) : s;
}

/** `a.b.c.d` → `d.c.b.a.in-addr.arpa`; IPv6 → 32 nibbles under ip6.arpa. */
export function reverseName(ip: string): string | undefined {
  const p = parseIPSloppy(ip);
  if (!p) return undefined;
  if (p.family === 'IPv4') return `${[...p.bytes].reverse().join('.')}.${REVERSE_V4}`;
  const nibbles: string[] = [];
  for (const b of p.bytes) nibbles.push((b >> 4).toString(16), (b & 15).toString(16));
  return `${nibbles.reverse().join('.')}.${REVERSE_V6}`;
}

/** The IP a full reverse name stands for (dnsutil.ExtractAddressFromReverse), or undefined. */
export function addressFromReverse(name: string): string | undefined {
  const n = canonicalName(name);
  if (n.endsWith('.' + REVERSE_V4)) {
    const l = n.slice(0, -REVERSE_V4.length - 1).split('.');
    if (l.length !== 4 || !l.every((x) => /^(0|[1-9][0-9]{0,2})$/.test(x) && Number(x) <= 255)) return undefined;
    return l.reverse().join('.');
  }
  if (n.endsWith('.' + REVERSE_V6)) {
    const l = n.slice(0, -REVERSE_V6.length - 1).split('.');
    if (l.length !== 32 || !l.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    const hex = l.reverse().join('');
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4));
    return canonIP(groups.join(':'))?.ip;
  }
  return undefined;
}

function endpointReady(ep: { conditions?: { ready?: boolean } }): boolean {
  // discovery/v1: a nil `ready` is an unknown state, to be read as ready.
  return ep.conditions?.ready ?? true;
}

/** Indexes a snapshot once; every question is then answered from maps. */
export function buildZone(snapshot: DnsSnapshot, opts: ResolverOptions = {}): ClusterZone {
  return new Zone(snapshot, opts);
}

/** One-shot convenience: builds the zone and answers one question. */
export function resolveQuestion(snapshot: DnsSnapshot, q: Question, opts: ResolverOptions = {}): Answer {
  return buildZone(snapshot, opts).answer(q);
}

class Zone implements ClusterZone {
  readonly zone: string;
  private readonly ttl: number;
  private readonly podMode: PodMode;
  private readonly serial: number;
  private readonly services = new Map<string, SvcInfo>();
  private readonly endpoints = new Map<string, EndpointAddr[]>();
  private readonly namespaces = new Set<string>();
  /** Verified pods: `namespace/ip`. */
  private readonly podIPs = new Set<string>();
  private readonly reverse = new Map<string, string[]>();
  /** Reverse names that exist (full ones and the empty non-terminals above them). */
  private readonly reverseNames = new Set<string>();
  private readonly nameservers: { ip: string; v6: boolean }[];
  private readonly nsName: string;

  constructor(s: DnsSnapshot, opts: ResolverOptions) {
    this.zone = canonicalName(s.clusterDomain ?? 'cluster.local');
    this.ttl = Math.max(0, Math.min(3600, Math.floor(opts.ttl ?? DEFAULT_TTL)));
    this.podMode = opts.podMode ?? 'insecure';
    this.serial = (s.serial ?? 1) >>> 0;

    const byKey = [...s.services].sort((a, b) =>
      lower(a.metadata?.namespace).localeCompare(lower(b.metadata?.namespace)) || lower(a.metadata?.name).localeCompare(lower(b.metadata?.name)));
    for (const svc of byKey) {
      const name = lower(svc.metadata?.name);
      const namespace = lower(svc.metadata?.namespace);
      if (!name || !namespace) continue;
      const spec = svc.spec ?? {};
      const info: SvcInfo = {
        name, namespace,
        headless: spec.clusterIP === 'None',
        clusterIPs: [],
        ports: (spec.ports ?? []).map((p) => ({ name: lower(p.name), protocol: lower(p.protocol ?? 'TCP'), port: p.port })),
      };
      if (spec.type === 'ExternalName') {
        info.externalName = (spec.externalName ?? '').replace(/\.$/, '');
      } else if (!info.headless) {
        const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
        for (const raw of ips) {
          const c = canonIP(raw);
          if (!c || info.clusterIPs.includes(c.ip)) continue;
          info.clusterIPs.push(c.ip);
          // reverse.go: a ClusterIP names its Service (the first one, if two claim it).
          const rn = reverseName(c.ip)!;
          if (!this.reverse.has(rn)) this.addReverse(rn, `${name}.${namespace}.svc.${this.zone}`);
        }
      }
      this.services.set(`${name}.${namespace}`, info);
      this.namespaces.add(namespace);
    }

    const publishNotReady = new Set(s.services.filter((x) => x.spec?.publishNotReadyAddresses)
      .map((x) => `${lower(x.metadata?.name)}.${lower(x.metadata?.namespace)}`));
    const slices = [...s.endpointSlices].sort((a, b) =>
      lower(a.metadata?.namespace).localeCompare(lower(b.metadata?.namespace)) || lower(a.metadata?.name).localeCompare(lower(b.metadata?.name)));
    const endpointReverse = new Map<string, string[]>();
    for (const slice of slices) {
      const namespace = lower(slice.metadata?.namespace);
      if (namespace) this.namespaces.add(namespace);
      const svcName = lower(slice.metadata?.labels?.[SERVICE_NAME_LABEL]);
      if (!svcName || !namespace) continue;
      if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
      const key = `${svcName}.${namespace}`;
      const ports: PortInfo[] = (slice.ports ?? []).map((p) => ({ name: lower(p.name), protocol: lower(p.protocol ?? 'TCP'), port: p.port ?? -1 }));
      let list = this.endpoints.get(key);
      if (!list) this.endpoints.set(key, (list = []));
      for (const ep of slice.endpoints ?? []) {
        // The EndpointSlice controller already marks every endpoint ready for
        // publishNotReadyAddresses; honouring the flag here covers slices written by others.
        if (!endpointReady(ep) && !publishNotReady.has(key)) continue;
        let hostname = ep.hostname && HOSTNAME_RE.test(ep.hostname) ? ep.hostname : '';
        if (!hostname && opts.endpointPodNames && ep.targetRef?.name && HOSTNAME_RE.test(ep.targetRef.name)) hostname = ep.targetRef.name;
        for (const raw of ep.addresses ?? []) {
          const c = canonIP(raw);
          if (!c || c.v6 !== (slice.addressType === 'IPv6')) continue;
          const h = hostname || c.ip.replace(/[.:]/g, '-');
          list.push({ ip: c.ip, v6: c.v6, hostname: h, ports });
          const rn = reverseName(c.ip)!;
          let names = endpointReverse.get(rn);
          if (!names) endpointReverse.set(rn, (names = []));
          const target = `${h}.${svcName}.${namespace}.svc.${this.zone}`;
          if (!names.includes(target)) names.push(target);
        }
      }
    }
    // reverse.go: endpoints are searched only when no ClusterIP matched.
    for (const [rn, names] of endpointReverse) if (!this.reverse.has(rn)) for (const n of names) this.addReverse(rn, n);

    for (const p of s.pods ?? []) {
      const ns = lower(p.metadata?.namespace);
      if (!ns) continue;
      this.namespaces.add(ns);
      const phase = p.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') continue;
      const ips = p.status?.podIPs?.map((x) => x.ip) ?? (p.status?.podIP ? [p.status.podIP] : []);
      for (const raw of ips) {
        const c = canonIP(raw);
        if (c) this.podIPs.add(`${ns}/${c.ip}`);
      }
    }
    if (s.namespaces) {
      this.namespaces.clear();
      for (const n of s.namespaces) this.namespaces.add(lower(n));
    } else {
      this.namespaces.add('default');
    }

    const kubeDNS = this.services.get('kube-dns.kube-system');
    if (kubeDNS && kubeDNS.clusterIPs.length) {
      this.nameservers = kubeDNS.clusterIPs.map((ip) => canonIP(ip)!);
      this.nsName = `kube-dns.kube-system.svc.${this.zone}`;
    } else {
      this.nameservers = (opts.nameserverIPs ?? []).map((ip) => canonIP(ip)).filter((x): x is { ip: string; v6: boolean } => !!x);
      this.nsName = `ns.dns.${this.zone}`;
    }
  }

  private addReverse(rn: string, target: string): void {
    let l = this.reverse.get(rn);
    if (!l) this.reverse.set(rn, (l = []));
    l.push(target);
    const labels = rn.split('.');
    for (let i = 0; i < labels.length; i++) this.reverseNames.add(labels.slice(i).join('.'));
  }

  answer(question: Question): Answer {
    // Owner names keep the question's spelling (clients using 0x20 randomisation check it), minus a trailing dot.
    const q = { ...question, name: stripTrailingDot(question.name) };
    if (q.class !== RRClass.IN && q.class !== RRClass.ANY) return refused();
    if (q.type === RRType.AXFR || q.type === RRType.IXFR) return refused();
    const name = canonicalName(q.name);
    if (name === this.zone || name.endsWith('.' + this.zone)) return this.answerCluster(q, name);
    for (const rz of [REVERSE_V4, REVERSE_V6]) {
      if (name === rz || name.endsWith('.' + rz)) return this.answerReverse(q, name, rz);
    }
    // svcnet has no upstream: a server that is neither authoritative for a
    // name nor recursive answers REFUSED (RFC 8906 §3.1.3.1), which sends a
    // stub resolver on to its next server or search suffix at once.
    return refused();
  }

  // ------------------------------------------------------------ records

  private rr(name: string, type: number, data: ResourceRecord['data'], ttl = this.ttl): ResourceRecord {
    return { name, type, class: RRClass.IN, ttl, data };
  }

  private soa(zone: string): ResourceRecord {
    // backend_lookup.go SOA(): TTL min(ttl, 300); minimum = ttl.
    return this.rr(zone, RRType.SOA, {
      kind: 'SOA', mname: `ns.dns.${zone}`, rname: `hostmaster.${zone}`, serial: this.serial,
      refresh: 7200, retry: 1800, expire: 86400, minimum: this.ttl,
    }, Math.min(this.ttl, 300));
  }

  private negative(rcode: number, zone: string): Answer {
    return { rcode, authoritative: true, answers: [], authorities: [this.soa(zone)], additionals: [] };
  }

  private positive(answers: ResourceRecord[], additionals: ResourceRecord[] = []): Answer {
    return { rcode: Rcode.NOERROR, authoritative: true, answers, authorities: [], additionals };
  }

  /** NOERROR with records, NODATA when the name exists without them, else NXDOMAIN. */
  private result(exists: boolean, answers: ResourceRecord[], zone: string, additionals: ResourceRecord[] = []): Answer {
    if (answers.length) return this.positive(answers, additionals);
    return this.negative(exists ? Rcode.NOERROR : Rcode.NXDOMAIN, zone);
  }

  private addressRecord(name: string, e: { ip: string; v6: boolean }): ResourceRecord {
    return e.v6
      ? this.rr(name, RRType.AAAA, { kind: 'AAAA', address: e.ip })
      : this.rr(name, RRType.A, { kind: 'A', address: e.ip });
  }

  // ------------------------------------------------------------ cluster zone

  private answerCluster(q: Question, name: string): Answer {
    const zone = this.zone;
    const rel = name === zone ? '' : name.slice(0, -zone.length - 1);
    if (rel === '') {
      if (q.type === RRType.SOA) return this.positive([this.soa(zone)]);
      if (q.type === RRType.NS) {
        return this.positive([this.rr(q.name, RRType.NS, { kind: 'NS', target: this.nsName })],
          this.nameservers.map((n) => this.addressRecord(this.nsName, n)));
      }
      return this.negative(Rcode.NOERROR, zone);
    }
    if (rel === 'dns-version') {
      if (q.type === RRType.TXT) return this.positive([this.rr(q.name, RRType.TXT, { kind: 'TXT', strings: [DNS_SCHEMA_VERSION] }, 28800)]);
      return this.negative(Rcode.NOERROR, zone);
    }
    if (rel === 'ns.dns' || rel === 'dns') {
      const recs = rel === 'dns' ? [] : this.nameservers
        .filter((n) => (q.type === RRType.A && !n.v6) || (q.type === RRType.AAAA && n.v6))
        .map((n) => this.addressRecord(q.name, n));
      return this.result(true, recs, zone);
    }

    const lookup = this.lookup(rel);
    if (!lookup.exists) return this.negative(Rcode.NXDOMAIN, zone);
    switch (q.type) {
      case RRType.A:
      case RRType.AAAA:
        return this.result(true, this.addresses(q.name, name, lookup.entries, q.type === RRType.AAAA, []), zone);
      case RRType.SRV:
        return this.srv(q.name, lookup.entries);
      case RRType.CNAME: {
        const first = lookup.entries[0];
        return this.result(true, first?.kind === 'cname' ? [this.rr(q.name, RRType.CNAME, { kind: 'CNAME', target: first.target })] : [], zone);
      }
      default:
        // TXT, PTR, MX, SOA and NS below the apex, ANY…: the name exists, the type does not.
        return this.negative(Rcode.NOERROR, zone);
    }
  }

  /** parse.go parseRequest: what a name relative to the zone asks for; undefined = NXDOMAIN. */
  private parse(rel: string): ParsedName | 'nodata' | undefined {
    const segs = rel.split('.');
    let last = segs.length - 1;
    const podOrSvc = segs[last];
    if (podOrSvc !== 'svc' && podOrSvc !== 'pod') return undefined;
    const r: ParsedName = { podOrSvc, namespace: '', service: '', endpoint: '', port: '', protocol: '' };
    if (--last < 0) return 'nodata';
    r.namespace = segs[last];
    if (--last < 0) return r;
    r.service = segs[last];
    if (--last < 0) return r;
    if (last === 0) {
      r.endpoint = segs[0];
    } else if (last === 1) {
      r.port = stripUnderscore(segs[0]);
      r.protocol = stripUnderscore(segs[1]);
    } else {
      // Too many labels: nothing can live there. This is what makes the
      // search-path expansions (`web.default.svc.cluster.local.default.svc.cluster.local`) fail fast.
      return undefined;
    }
    return r;
  }

  private lookup(rel: string): Lookup {
    const r = this.parse(rel);
    if (r === undefined) return { exists: false };
    if (r === 'nodata') return { exists: true, entries: [] };
    if (!this.namespaces.has(r.namespace)) return { exists: false };
    if (r.podOrSvc === 'pod') return this.findPod(r, rel);
    if (!r.service) return { exists: true, entries: [] };
    return this.findService(r);
  }

  private findPod(r: ParsedName, rel: string): Lookup {
    if (this.podMode === 'disabled' || r.endpoint || r.port || r.protocol) return { exists: false };
    if (!r.service) return { exists: true, entries: [] };
    const pod = r.service;
    const text = (pod.split('-').length - 1 === 3 && !pod.includes('--')) ? pod.replace(/-/g, '.') : pod.replace(/-/g, ':');
    const c = canonIP(text);
    if (!c) return { exists: false };
    if (this.podMode === 'verified' && !this.podIPs.has(`${r.namespace}/${c.ip}`)) return { exists: false };
    return { exists: true, entries: [{ kind: 'ip', ip: c.ip, v6: c.v6, port: -1, owner: `${rel}.${this.zone}` }] };
  }

  /** kubernetes.go findServices. */
  private findService(r: ParsedName): Lookup {
    const svc = this.services.get(`${r.service}.${r.namespace}`);
    if (!svc) return { exists: false };
    const svcName = `${svc.name}.${svc.namespace}.svc.${this.zone}`;
    const portMatches = (p: PortInfo): boolean =>
      (r.port === '' || r.port === p.name) && (r.protocol === '' || r.protocol === p.protocol);

    if (svc.externalName !== undefined) {
      // An ExternalName has no endpoints, and an IP there is not a name to point at.
      if (r.endpoint || !svc.externalName || parseIPSloppy(svc.externalName)) return { exists: false };
      return { exists: true, entries: [{ kind: 'cname', target: svc.externalName }] };
    }

    const entries: Entry[] = [];
    if (svc.headless || r.endpoint) {
      for (const ep of this.endpoints.get(`${svc.name}.${svc.namespace}`) ?? []) {
        if (r.endpoint && r.endpoint !== ep.hostname) continue;
        const owner = `${ep.hostname}.${svcName}`;
        if (!ep.ports.length) {
          if (r.port === '' && r.protocol === '') entries.push({ kind: 'ip', ip: ep.ip, v6: ep.v6, port: -1, owner });
          continue;
        }
        for (const p of ep.ports) if (portMatches(p)) entries.push({ kind: 'ip', ip: ep.ip, v6: ep.v6, port: p.port, owner });
      }
      // No ready endpoint (or none with that hostname or port): NXDOMAIN, as CoreDNS answers.
      return entries.length ? { exists: true, entries } : { exists: false };
    }

    const ports = svc.ports.length || r.port || r.protocol ? svc.ports.filter(portMatches) : [{ name: '', protocol: '', port: -1 }];
    if (!ports.length) return { exists: false };
    for (const p of ports) for (const ip of svc.clusterIPs) {
      const c = canonIP(ip)!;
      entries.push({ kind: 'ip', ip: c.ip, v6: c.v6, port: p.port, owner: svcName });
    }
    return { exists: true, entries };
  }

  /** backend_lookup.go A()/AAAA(): addresses of one family, following in-zone CNAMEs. */
  private addresses(qname: string, lname: string, entries: Entry[], v6: boolean, chain: string[]): ResourceRecord[] {
    const out: ResourceRecord[] = [];
    const seen = new Set<string>();
    for (const e of entries) {
      if (e.kind === 'ip') {
        if (e.v6 !== v6 || seen.has(e.ip)) continue;
        seen.add(e.ip);
        out.push(this.addressRecord(qname, e));
        continue;
      }
      const target = canonicalName(e.target);
      if (target === lname || chain.includes(target) || chain.length >= MAX_CNAME_CHAIN - 1) continue;
      const cname = this.rr(qname, RRType.CNAME, { kind: 'CNAME', target: e.target });
      if (target === this.zone || target.endsWith('.' + this.zone)) {
        const rel = target === this.zone ? '' : target.slice(0, -this.zone.length - 1);
        const next = rel ? this.lookup(rel) : { exists: false as const };
        const more = next.exists ? this.addresses(e.target, target, next.entries, v6, [...chain, lname]) : [];
        if (more.length) out.push(cname, ...more);
        continue;
      }
      // Outside the zone, with no upstream to ask: the CNAME alone; the client's resolver follows it.
      out.push(cname);
    }
    return out;
  }

  /** backend_lookup.go SRV(): priority 0, weights sharing 100, address records in the additional section. */
  private srv(qname: string, entries: Entry[]): Answer {
    const records: { port: number; target: string }[] = [];
    const extra: ResourceRecord[] = [];
    const seenSrv = new Set<string>();
    const seenAddr = new Set<string>();
    for (const e of entries) {
      // SRV for ExternalName is not implemented by CoreDNS either; port -1 = no declared port.
      if (e.kind !== 'ip' || e.port < 0) continue;
      const k = `${e.owner} ${e.port}`;
      if (!seenSrv.has(k)) {
        seenSrv.add(k);
        records.push({ port: e.port, target: e.owner });
      }
      const a = `${e.owner} ${e.ip}`;
      if (!seenAddr.has(a)) {
        seenAddr.add(a);
        extra.push(this.addressRecord(e.owner, e));
      }
    }
    const weight = Math.max(1, Math.floor(100 / Math.max(1, records.length)));
    const answers = records.map((r) => this.rr(qname, RRType.SRV, { kind: 'SRV', priority: 0, weight, port: r.port, target: r.target }));
    return this.result(true, answers, this.zone, answers.length ? extra : []);
  }

  // ------------------------------------------------------------ reverse zones

  private answerReverse(q: Question, name: string, rz: string): Answer {
    if (name === rz) {
      if (q.type === RRType.SOA) return this.positive([this.soa(rz)]);
      return this.negative(Rcode.NOERROR, rz);
    }
    const ip = addressFromReverse(name);
    const targets = ip ? this.reverse.get(reverseName(ip)!) : undefined;
    if (!targets) {
      // An empty non-terminal above a known address exists (NODATA); anything else does not.
      return this.negative(this.reverseNames.has(name) ? Rcode.NOERROR : Rcode.NXDOMAIN, rz);
    }
    if (q.type !== RRType.PTR) return this.negative(Rcode.NOERROR, rz);
    return this.positive(targets.map((t) => this.rr(q.name, RRType.PTR, { kind: 'PTR', target: t })));
  }
}

function refused(): Answer {
  return { rcode: Rcode.REFUSED, authoritative: false, answers: [], authorities: [], additionals: [] };
}
