// `nslookup` of busybox-like images (busybox, alpine…), which the host lacks:
// `nslookup NAME [SERVER]`, the Kubernetes docs' DNS check. It runs inside
// the pod's network namespace, where /etc/resolv.conf is the pod's own (`ip
// netns exec` bind-mounts it), and prints what busybox 1.36 prints:
//
//   Server:		10.96.0.10
//   Address:	10.96.0.10:53
//
//   Name:	kubernetes.default.svc.cluster.local
//   Address: 10.96.0.1
//
//   *** Can't find kubernetes.default.svc.cluster.local: No answer
//
// (one block per query, A then AAAA; `** server can't find NAME: NXDOMAIN` and
// exit 1 when the name does not exist; a PTR query for an IP).
//
// One difference, on purpose: busybox's own resolver applies the search list
// only to names without a dot, so `nslookup kubernetes.default` fails in real
// busybox pods (the reason the docs once pinned busybox:1.28, whose nslookup
// used libc). Here names go through the search list as musl's getaddrinfo
// does (ndots; stop at the first name that is not NXDOMAIN, REFUSED counting
// as NXDOMAIN as cluster DNS means it), so the docs' commands work.
//
// The formatting and the search list are pure (unit-tested); the lookups use
// node:dns's Resolver against the resolv.conf nameservers. node:dns does not
// show the AA bit: answers for names under a search domain (the cluster's
// zone) count as authoritative, as cluster DNS answers them.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { lookup, Resolver } from 'node:dns/promises';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  ndots: number;
}

/** resolv.conf(5) as libc reads it: the last `search`/`domain` line wins; ndots defaults to 1, at most 15. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], ndots: 1 };
  for (const line of text.split('\n')) {
    const f = line.replace(/[#;].*/, '').trim().split(/\s+/);
    if (f[0] === 'nameserver' && f[1]) out.nameservers.push(f[1]);
    else if ((f[0] === 'search' || f[0] === 'domain') && f.length > 1) out.search = f.slice(1).map((d) => d.replace(/\.$/, '')).filter((d) => d !== '');
    else if (f[0] === 'options') {
      for (const o of f.slice(1)) {
        const m = /^ndots:(\d+)$/.exec(o);
        if (m) out.ndots = Math.min(Number(m[1]), 15);
      }
    }
  }
  return out;
}

/**
 * The names to try, in order (musl's name_from_dns_search): a name ending in a dot, or
 * with at least ndots dots, is tried alone; others under each search domain, then alone.
 */
export function searchNames(name: string, conf: Pick<ResolvConf, 'search' | 'ndots'>): string[] {
  if (name.endsWith('.')) return [name];
  const dots = name.split('.').length - 1;
  if (dots >= conf.ndots) return [name];
  return [...conf.search.map((d) => `${name}.${d}`), name];
}

/** The PTR name of an address (in-addr.arpa / nibbles under ip6.arpa); undefined when it is not one. */
export function ptrName(addr: string): string | undefined {
  if (isIP(addr) === 4) return `${addr.split('.').reverse().join('.')}.in-addr.arpa`;
  if (isIP(addr) !== 6) return undefined;
  const [head = '', tail = ''] = addr.includes('::') ? addr.split('::') : [addr, ''];
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let h = groups(head), t = groups(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const v4 = (g: string[]): string[] => g.flatMap((x) => (x.includes('.') ? ((b) => [((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16)])(x.split('.').map(Number)) : [x]));
  h = v4(h); t = v4(t);
  const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const hex = all.map((g) => g.padStart(4, '0')).join('');
  return `${hex.split('').reverse().join('.')}.ip6.arpa`;
}

export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

export interface QueryResult {
  /** The name asked, as busybox prints it in its error lines. */
  name: string;
  type: 'A' | 'AAAA' | 'PTR';
  rcode: Rcode;
  /** The name's CNAME, when it has one: the addresses are the target's. */
  cname?: string;
  /** Addresses (A/AAAA) or host names (PTR). */
  records: string[];
  authoritative: boolean;
}

export type LookupReport =
  | { server: string; port: number; results: QueryResult[] }
  /** No server answered. */
  | { timedOut: true };

/** busybox's xmalloc_sockaddr2dotted: `ip:port`, `[ip6]:port`. */
function dotted(server: string, port: number): string {
  return isIP(server) === 6 ? `[${server}]:${port}` : `${server}:${port}`;
}

const bare = (n: string): string => n.replace(/\.$/, '');

/** What busybox prints for a lookup, and its exit code (1 when a query failed or nobody answered). */
export function formatLookup(r: LookupReport): { stdout: string; code: number } {
  if ('timedOut' in r) return { stdout: ';; connection timed out; no servers could be reached\n\n', code: 1 };
  let out = `Server:\t\t${r.server}\nAddress:\t${dotted(r.server, r.port)}\n\n`;
  let code = 0;
  for (const q of r.results) {
    if (q.rcode !== 'NOERROR') {
      out += `** server can't find ${q.name}: ${q.rcode}\n\n`;
      code = 1;
      continue;
    }
    if (!q.authoritative) out += 'Non-authoritative answer:\n';
    const owner = bare(q.name);
    let n = 0;
    if (q.cname) { out += `${owner}\tcanonical name = ${bare(q.cname)}\n`; n++; }
    for (const rec of q.records) {
      out += q.type === 'PTR' ? `${owner}\tname = ${bare(rec)}\n` : `Name:\t${bare(q.cname ?? owner)}\nAddress: ${rec}\n`;
      n++;
    }
    // busybox: an empty NOERROR answer is reported, and is not a failure.
    if (n === 0) out += `*** Can't find ${q.name}: No answer\n`;
    out += '\n';
  }
  return { stdout: out, code };
}

/** Whether `name` lies under one of the search domains (the cluster's zone, whose answers are authoritative). */
export function underSearch(name: string, search: readonly string[]): boolean {
  const n = bare(name).toLowerCase();
  return search.some((d) => n === d.toLowerCase() || n.endsWith(`.${d.toLowerCase()}`));
}

// node:dns error codes (c-ares) → the response code on the wire; a missing entry means no usable reply.
const rcodeOf: Record<string, Rcode> = {
  ENOTFOUND: 'NXDOMAIN', ESERVFAIL: 'SERVFAIL', EREFUSED: 'REFUSED', EFORMERR: 'FORMERR', ENOTIMP: 'NOTIMP',
};

type Answer = { rcode: Rcode; records: string[] } | undefined;

async function ask(q: () => Promise<string[]>): Promise<Answer> {
  try {
    return { rcode: 'NOERROR', records: await q() };
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (code === 'ENODATA') return { rcode: 'NOERROR', records: [] };
    const rcode = rcodeOf[code];
    return rcode ? { rcode, records: [] } : undefined;
  }
}

const USAGE = 'Usage: nslookup [-port=PORT] [-timeout=SECS] [-retry=N] HOST [DNS_SERVER]\n\nQuery DNS about HOST\n';

export async function nslookup(argv: readonly string[]): Promise<void> {
  let port = 53, timeoutS = 5, retry = 2;
  const rest: string[] = [];
  for (const a of argv) {
    const m = /^-(port|timeout|t|retry)=(\d+)$/.exec(a);
    if (m) {
      const v = Number(m[2]);
      if (m[1] === 'port') port = v; else if (m[1] === 'retry') retry = Math.max(1, v); else timeoutS = Math.max(1, v);
    } else if (a.startsWith('-')) { process.stderr.write(USAGE); process.exitCode = 1; return; } else rest.push(a);
  }
  const [name, serverArg] = rest;
  if (!name || rest.length > 2) { process.stderr.write(USAGE); process.exitCode = 1; return; }
  let conf: ResolvConf;
  try { conf = parseResolvConf(readFileSync('/etc/resolv.conf', 'utf8')); } catch { conf = parseResolvConf(''); }
  let servers = conf.nameservers.length ? conf.nameservers : ['127.0.0.1'];
  if (serverArg !== undefined) {
    // busybox takes a host name too, resolved the ordinary way.
    servers = [isIP(serverArg) ? serverArg : (await lookup(serverArg).catch(() => undefined))?.address ?? ''];
    if (!servers[0]) { process.stderr.write(`nslookup: bad address '${serverArg}'\n`); process.exitCode = 1; return; }
  }
  // busybox: `timeout` seconds in all, over `retry` sends.
  const resolver = new Resolver({ timeout: Math.ceil((timeoutS * 1000) / retry), tries: retry });
  resolver.setServers(servers.map((s) => dotted(s, port)));

  const report = async (): Promise<LookupReport> => {
    const ptr = ptrName(name);
    if (ptr) {
      const a = await ask(() => resolver.reverse(name));
      if (!a) return { timedOut: true };
      return { server: servers[0]!, port, results: [{ name: ptr, type: 'PTR', ...a, authoritative: underSearch(ptr, [...conf.search, 'in-addr.arpa', 'ip6.arpa']) }] };
    }
    let last: QueryResult[] = [];
    let nx = false;
    for (const candidate of searchNames(name, conf)) {
      const [a, aaaa] = await Promise.all([ask(() => resolver.resolve4(candidate)), ask(() => resolver.resolve6(candidate))]);
      if (!a && !aaaa) return { timedOut: true };
      const auth = underSearch(candidate, conf.search);
      const results: QueryResult[] = [];
      if (a) results.push({ name: candidate, type: 'A', ...a, authoritative: auth });
      if (aaaa) results.push({ name: candidate, type: 'AAAA', ...aaaa, authoritative: auth });
      if (results.every((r) => r.rcode === 'NXDOMAIN' || r.rcode === 'REFUSED')) {
        // Not there, or not this server's to say (cluster DNS refuses names outside its
        // zones, having no upstream): the next search name. When none is left, report
        // the name as typed, NXDOMAIN if a name of the zone was (as a forwarding
        // CoreDNS would answer for the bare name).
        nx ||= results.some((r) => r.rcode === 'NXDOMAIN');
        last = results.map((r) => ({ ...r, name, rcode: nx ? 'NXDOMAIN' : r.rcode }));
        continue;
      }
      if (results.some((r) => r.rcode === 'NOERROR')) {
        // The owner of an ExternalName-style answer: busybox prints the CNAME before the addresses.
        const c = await ask(() => resolver.resolveCname(candidate));
        if (c?.records[0]) for (const r of results) if (r.rcode === 'NOERROR') r.cname = c.records[0];
      }
      return { server: servers[0]!, port, results };
    }
    return { server: servers[0]!, port, results: last };
  };
  const out = formatLookup(await report());
  process.stdout.write(out.stdout);
  process.exitCode = out.code;
}
