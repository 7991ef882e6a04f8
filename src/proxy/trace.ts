// A packet-flow tracer over RENDERED rules: it reads the iptables-restore/-save text or
// the nft script (never the snapshot), replays it into a small model, and follows one
// new connection through the netfilter hooks the way the kernel would:
//
//   from a pod or outside:  prerouting → (routing) → input | forward → postrouting
//   from the node itself:   output → (routing) → postrouting
//
// Random load-balancing rules (`-m statistic`, `numgen random`) fork the walk, so the
// answer is every endpoint with its probability. It is both the oracle of the renderer
// tests (kube-proxy tests its rules the same way) and what `svcnet trace` prints, so
// each branch keeps the chains it went through and the rules that matched.
//
// Simplifications, stated: the packet is the first of a connection (conntrack NEW);
// session-affinity memories (`-m recent`, nft affinity sets) start empty, so affinity
// rules never match and the trace shows how a client's first connection is placed.

import { canonicalIP, ipFamilyOf, parseCIDRSloppy, parseIPSloppy, cidrContains, isLoopback } from '../api/validation/ip.js';
import { parseIptables, type IptMatch, type IptRule, type IptTables } from './iptables/model.js';
import { parseNftables, tokenize, unquote, type NftModel, type NftTableModel } from './nftables/model.js';
import type { Protocol } from './snapshot.js';

export type TraceOrigin = 'pod' | 'node' | 'external';
export type TraceVerdict = 'DNAT' | 'REJECT' | 'DROP' | 'ACCEPT';

export interface TracePacket {
  /** Source address; defaults to the node's first address of the family when from is 'node'. */
  src?: string;
  dst: string;
  port: number;
  /** Default TCP. */
  proto?: Protocol;
  from: TraceOrigin;
}

export interface TraceOptions {
  /** The node's own addresses: what `addrtype LOCAL` / `fib … type local` match (loopback always does). */
  localAddresses: string[];
}

export interface TraceStep {
  /** `table/CHAIN` for iptables, the chain name for nftables. */
  chain: string;
  /** The rule that matched, as written. */
  rule: string;
}

export interface TraceBranch {
  probability: number;
  verdict: TraceVerdict;
  /** Where the packet goes after DNAT (verdict DNAT). */
  endpoint?: { ip: string; port: number };
  masquerade: boolean;
  /** The chains entered, in order. */
  chainPath: string[];
  /** The rules that matched, in order. */
  steps: TraceStep[];
}

export interface TraceEndpoint {
  ip: string;
  port: number;
  probability: number;
  masquerade: boolean;
}

export interface TraceResult {
  /** `userspace`: no rules; src/proxy/userspace/explain.ts reads the proxy's listener table. */
  backend: 'iptables' | 'nftables' | 'userspace';
  packet: { src: string; dst: string; port: number; proto: Protocol; from: TraceOrigin };
  /** The verdict of every branch when they agree; DNAT when any branch reaches an endpoint. */
  verdict: TraceVerdict;
  /** DNAT targets with their probabilities (summing to 1 when every branch is DNAT). */
  endpoints: TraceEndpoint[];
  /** Some branch is source-NATed (masqueraded) on the way out. */
  masquerade: boolean;
  /** Every chain any branch entered, in first-visit order. */
  chainPath: string[];
  branches: TraceBranch[];
  notes: string[];
}

export class TraceError extends Error {
  readonly code = 'TRACE_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

// ------------------------------------------------------------------ shared walk

interface PktState {
  prob: number;
  src: string;
  dst: string;
  port: number;
  /** lower case: tcp, udp, sctp */
  proto: string;
  mark: number;
  dnatted: boolean;
  masq: boolean;
  path: string[];
  steps: TraceStep[];
}

type OutcomeKind = 'continue' | 'accept' | 'drop' | 'reject';

interface Outcome {
  st: PktState;
  kind: OutcomeKind;
}

function clone(st: PktState, factor = 1): PktState {
  return { ...st, prob: st.prob * factor, path: [...st.path], steps: [...st.steps] };
}

const maxDepth = 64;

class Env {
  readonly notes = new Set<string>();
  constructor(readonly local: string[]) {}
  isLocal(ip: string): boolean {
    const p = parseIPSloppy(ip);
    if (!p) return false;
    if (isLoopback(p)) return true;
    const c = canonicalIP(ip);
    return this.local.some((l) => canonicalIP(l) === c);
  }
}

/** ip inside cidr (or equal to a bare address). */
function inCIDR(ip: string, cidr: string): boolean {
  if (!cidr.includes('/')) return canonicalIP(ip) !== undefined && canonicalIP(ip) === canonicalIP(cidr);
  const c = parseCIDRSloppy(cidr);
  const p = parseIPSloppy(ip);
  return !!c && !!p && cidrContains(c, p);
}

function splitHostPort(s: string): { ip: string; port?: number } {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    const rest = s.slice(end + 1);
    return { ip: s.slice(1, end), ...(rest.startsWith(':') ? { port: Number(rest.slice(1)) } : {}) };
  }
  const colons = s.split(':').length - 1;
  if (colons === 1) {
    const [ip, port] = s.split(':');
    return { ip, port: Number(port) };
  }
  return { ip: s };
}

type HookRunner = (hook: string, st: PktState) => Outcome[];

interface Final {
  st: PktState;
  verdict: TraceVerdict;
}

/** Runs the netfilter hook sequence for a new connection, forking at random rules. */
function walk(start: PktState, from: TraceOrigin, env: Env, runHook: HookRunner): Final[] {
  const finals: Final[] = [];
  const terminal = (o: Outcome): boolean => {
    if (o.kind === 'drop') finals.push({ st: o.st, verdict: 'DROP' });
    else if (o.kind === 'reject') finals.push({ st: o.st, verdict: 'REJECT' });
    else return false;
    return true;
  };
  const done = (st: PktState) => finals.push({ st, verdict: st.dnatted ? 'DNAT' : 'ACCEPT' });
  const first = from === 'node' ? 'output' : 'prerouting';
  for (const o of runHook(first, start)) {
    if (terminal(o)) continue;
    if (from === 'node') {
      // Locally generated: to one of our own addresses it loops back through input.
      const hook = env.isLocal(o.st.dst) ? 'input' : 'postrouting';
      for (const p of runHook(hook, o.st)) if (!terminal(p)) done(p.st);
      continue;
    }
    // Routing decision on the (possibly DNATed) destination.
    const next = env.isLocal(o.st.dst) ? 'input' : 'forward';
    for (const f of runHook(next, o.st)) {
      if (terminal(f)) continue;
      if (next === 'input') {
        done(f.st);
        continue;
      }
      for (const p of runHook('postrouting', f.st)) if (!terminal(p)) done(p.st);
    }
  }
  return finals;
}

function summarize(
  backend: 'iptables' | 'nftables', packet: TraceResult['packet'], finals: Final[], notes: Set<string>,
): TraceResult {
  const round = (p: number) => Math.round(p * 1e9) / 1e9;
  const branches: TraceBranch[] = finals
    .filter((f) => f.st.prob > 0)
    .map((f) => ({
      probability: round(f.st.prob),
      verdict: f.verdict,
      ...(f.verdict === 'DNAT' ? { endpoint: { ip: f.st.dst, port: f.st.port } } : {}),
      masquerade: f.st.masq,
      chainPath: f.st.path,
      steps: f.st.steps,
    }));
  const endpoints: TraceEndpoint[] = [];
  for (const b of branches) {
    if (!b.endpoint) continue;
    const e = endpoints.find((x) => x.ip === b.endpoint!.ip && x.port === b.endpoint!.port);
    if (e) {
      e.probability = round(e.probability + b.probability);
      e.masquerade ||= b.masquerade;
    } else {
      endpoints.push({ ...b.endpoint, probability: b.probability, masquerade: b.masquerade });
    }
  }
  const verdicts = new Set(branches.map((b) => b.verdict));
  let verdict: TraceVerdict;
  if (verdicts.size === 1) verdict = branches[0].verdict;
  else if (verdicts.has('DNAT')) verdict = 'DNAT';
  else verdict = [...branches].sort((a, b) => b.probability - a.probability)[0]?.verdict ?? 'ACCEPT';
  const chainPath: string[] = [];
  for (const b of branches) for (const c of b.chainPath) if (!chainPath.includes(c)) chainPath.push(c);
  return {
    backend,
    packet,
    verdict,
    endpoints,
    masquerade: branches.some((b) => b.masquerade),
    chainPath,
    branches,
    notes: [...notes],
  };
}

function startState(packet: TracePacket, opts: TraceOptions): { st: PktState; packet: TraceResult['packet'] } {
  const dst = canonicalIP(packet.dst);
  if (!dst) throw new TraceError(`invalid destination address ${JSON.stringify(packet.dst)}`);
  const family = ipFamilyOf(dst);
  let src = packet.src !== undefined ? canonicalIP(packet.src) : undefined;
  if (packet.src !== undefined && !src) throw new TraceError(`invalid source address ${JSON.stringify(packet.src)}`);
  if (!src) {
    if (packet.from !== 'node') throw new TraceError(`a packet from ${packet.from} needs a source address`);
    src = opts.localAddresses.map((a) => canonicalIP(a)).find((a) => a && ipFamilyOf(a) === family);
    if (!src) throw new TraceError(`the node has no ${family} address to send from`);
  }
  if (ipFamilyOf(src) !== family) throw new TraceError(`source ${src} and destination ${dst} are of different IP families`);
  if (!Number.isInteger(packet.port) || packet.port < 1 || packet.port > 65535) throw new TraceError(`invalid port ${packet.port}`);
  const proto = packet.proto ?? 'TCP';
  return {
    st: { prob: 1, src, dst, port: packet.port, proto: proto.toLowerCase(), mark: 0, dnatted: false, masq: false, path: [], steps: [] },
    packet: { src, dst, port: packet.port, proto, from: packet.from },
  };
}

const affinityNote = 'session affinity (ClientIP) is not applied: the trace shows a first connection; later ones from the same client stick to the endpoint it got';

// ------------------------------------------------------------------ iptables

const iptablesHookTables: Record<string, [table: string, chain: string][]> = {
  prerouting: [['nat', 'PREROUTING']],
  input: [['filter', 'INPUT']],
  forward: [['filter', 'FORWARD']],
  // nat (priority -100) runs before filter (0) on output.
  output: [['nat', 'OUTPUT'], ['filter', 'OUTPUT']],
  postrouting: [['nat', 'POSTROUTING']],
};

function iptMatch(m: IptMatch, st: PktState, env: Env): boolean {
  switch (m.kind) {
    case 'proto': return (m.value === 'all' || m.value === st.proto) !== m.neg;
    case 'src': return inCIDR(st.src, m.cidr) !== m.neg;
    case 'dst': return inCIDR(st.dst, m.cidr) !== m.neg;
    case 'dport': return (st.port >= m.from && st.port <= m.to) !== m.neg;
    case 'sport': env.notes.add('source ports are not modelled: --sport matches always'); return true;
    case 'addrtype':
      if (m.type !== 'LOCAL') {
        env.notes.add(`addrtype ${m.type} is not modelled: never matches`);
        return m.neg;
      }
      return env.isLocal(m.dir === 'src' ? st.src : st.dst) !== m.neg;
    case 'statistic': return true; // forks; handled by the caller
    case 'recent':
      if (m.op === 'rcheck' || m.op === 'update') {
        env.notes.add(affinityNote);
        return false;
      }
      return true;
    case 'mark': return ((st.mark & m.mask) === (m.value & m.mask)) !== m.neg;
    case 'ctstate': {
      const has = m.states.includes('NEW') || (st.dnatted && m.states.includes('DNAT'));
      return has !== m.neg;
    }
    case 'interface': env.notes.add('interfaces are not modelled: -i/-o match always'); return true;
    case 'unknown': env.notes.add(`option ${m.text} is not modelled: ignored`); return true;
  }
}

function parseMarkArg(s: string): { value: number; mask: number } {
  const [v, m] = s.split('/');
  const num = (x: string) => (x.startsWith('0x') ? parseInt(x.slice(2), 16) : parseInt(x, 10)) >>> 0;
  return { value: num(v), mask: m === undefined ? 0xffffffff : num(m) };
}

function iptTarget(tables: IptTables, table: string, rule: IptRule, st: PktState, env: Env, depth: number): Outcome[] {
  const t = rule.target;
  if (!t) return [{ st, kind: 'continue' }];
  switch (t) {
    case 'ACCEPT': return [{ st, kind: 'accept' }];
    case 'DROP': return [{ st, kind: 'drop' }];
    case 'REJECT': return [{ st, kind: 'reject' }];
    case 'RETURN': return [{ st, kind: 'continue' }];
    case 'DNAT': {
      const to = rule.targetArgs.get('--to-destination') ?? '';
      const hp = splitHostPort(to);
      if (!hp.ip) throw new TraceError(`DNAT without --to-destination in ${rule.text}`);
      st.dst = canonicalIP(hp.ip) ?? hp.ip;
      if (hp.port !== undefined) st.port = hp.port;
      st.dnatted = true;
      return [{ st, kind: 'accept' }];
    }
    case 'MASQUERADE':
    case 'SNAT':
      st.masq = true;
      return [{ st, kind: 'accept' }];
    case 'MARK': {
      for (const [opt, val] of rule.targetArgs) {
        const { value, mask } = parseMarkArg(val || '0');
        if (opt === '--or-mark') st.mark = (st.mark | value) >>> 0;
        else if (opt === '--xor-mark') st.mark = (st.mark ^ value) >>> 0;
        else if (opt === '--and-mark') st.mark = (st.mark & value) >>> 0;
        else if (opt === '--set-xmark') st.mark = ((st.mark & ~mask) ^ value) >>> 0;
        else if (opt === '--set-mark') st.mark = ((st.mark & ~mask) | value) >>> 0;
      }
      return [{ st, kind: 'continue' }];
    }
    case 'LOG':
    case 'NFLOG':
    case 'CONNMARK':
      return [{ st, kind: 'continue' }];
    default: {
      if (!tables.get(table)?.has(t)) throw new TraceError(`rule jumps to missing chain ${table}/${t}: ${rule.text}`);
      const outs = iptChain(tables, table, t, st, env, depth + 1);
      // A goto does not come back: what falls off the target chain returns from ours.
      return rule.goto ? outs.map((o) => (o.kind === 'continue' ? { ...o, kind: 'continue' as const, returned: true } : o)) : outs;
    }
  }
}

function iptChain(tables: IptTables, table: string, chainName: string, st: PktState, env: Env, depth: number): Outcome[] {
  if (depth > maxDepth) throw new TraceError(`rule loop through ${table}/${chainName}`);
  const chain = tables.get(table)?.get(chainName);
  if (!chain) return [{ st, kind: 'continue' }];
  const label = `${table}/${chainName}`;
  st.path.push(label);
  let live: PktState[] = [st];
  const out: Outcome[] = [];
  for (const rule of chain.rules) {
    const next: PktState[] = [];
    for (const s of live) {
      if (!rule.matches.every((m) => iptMatch(m, s, env))) {
        next.push(s);
        continue;
      }
      let hit = s;
      const stat = rule.matches.find((m) => m.kind === 'statistic');
      if (stat && stat.kind === 'statistic') {
        const miss = clone(s, 1 - stat.probability);
        hit = clone(s, stat.probability);
        if (miss.prob > 0) next.push(miss);
        if (hit.prob <= 0) continue;
      }
      hit.steps.push({ chain: label, rule: rule.text });
      for (const o of iptTarget(tables, table, rule, hit, env, depth)) {
        if (o.kind === 'continue' && !(o as { returned?: boolean }).returned && rule.target !== 'RETURN') next.push(o.st);
        else out.push({ st: o.st, kind: o.kind });
      }
    }
    live = next;
    if (live.length === 0) break;
  }
  for (const s of live) out.push({ st: s, kind: 'continue' });
  return out;
}

/**
 * Traces a packet through iptables rules: the text of `formatIptablesRuleset` (jumps +
 * restore input) or an `iptables-save` dump, for the packet's IP family.
 */
export function traceIptables(rules: string | IptTables, packet: TracePacket, opts: TraceOptions): TraceResult {
  const tables = typeof rules === 'string' ? parseIptables(rules) : rules;
  const { st, packet: pkt } = startState(packet, opts);
  const env = new Env(opts.localAddresses);
  const runHook: HookRunner = (hook, s) => {
    let outs: Outcome[] = [{ st: s, kind: 'accept' }];
    for (const [table, chain] of iptablesHookTables[hook]) {
      const next: Outcome[] = [];
      for (const o of outs) {
        if (o.kind === 'drop' || o.kind === 'reject') {
          next.push(o);
          continue;
        }
        const policy = tables.get(table)?.get(chain)?.policy ?? 'ACCEPT';
        for (const r of iptChain(tables, table, chain, o.st, env, 0)) {
          if (r.kind === 'continue') next.push({ st: r.st, kind: policy === 'DROP' ? 'drop' : 'accept' });
          else next.push(r);
        }
      }
      outs = next;
    }
    return outs;
  };
  return summarize('iptables', pkt, walk(st, packet.from, env, runHook), env.notes);
}

// ------------------------------------------------------------------ nftables

type NftEval = { st: PktState; kind: 'nomatch' | 'next' | 'accept' | 'drop' | 'reject' | 'return' | 'jump' | 'goto'; target?: string };

class NftRuleEval {
  constructor(private readonly table: NftTableModel, private readonly env: Env) {}

  /** Value of a selector such as `ip daddr`, `meta l4proto`, `th dport`. */
  private selector(tokens: string[], i: number, st: PktState): { value: string; next: number; proto?: string } {
    const a = tokens[i];
    const b = tokens[i + 1];
    if ((a === 'ip' || a === 'ip6') && (b === 'saddr' || b === 'daddr')) return { value: b === 'saddr' ? st.src : st.dst, next: i + 2 };
    if (a === 'meta' && b === 'l4proto') return { value: st.proto, next: i + 2 };
    if (a === 'th' && b === 'dport') return { value: String(st.port), next: i + 2 };
    if ((a === 'tcp' || a === 'udp' || a === 'sctp') && b === 'dport') return { value: String(st.port), next: i + 2, proto: a };
    throw new TraceError(`unsupported nft selector "${a} ${b}"`);
  }

  private inSetConcat(name: string, values: string[]): boolean {
    const set = this.table.sets.get(name);
    if (!set) throw new TraceError(`rule uses missing set @${name}`);
    for (const e of set.elements.values()) {
      if (e.key.length === values.length && e.key.every((k, i) => valueMatches(values[i]!, k))) return true;
    }
    return false;
  }

  private inSet(name: string, value: string): boolean {
    const set = this.table.sets.get(name);
    if (!set) throw new TraceError(`rule uses missing set @${name}`);
    if (name.startsWith('affinity-')) this.env.notes.add(affinityNote);
    for (const e of set.elements.values()) if (e.key.length === 1 && valueMatches(value, e.key[0])) return true;
    return false;
  }

  private lookup(name: string, key: string[]): string | undefined {
    const map = this.table.sets.get(name);
    if (!map) throw new TraceError(`rule uses missing map @${name}`);
    for (const e of map.elements.values()) {
      if (e.key.length === key.length && e.key.every((k, i) => valueMatches(key[i], k))) return e.value;
    }
    return undefined;
  }

  /** `{ a, b }` starting at tokens[i] === '{' → values, index after '}'. */
  private braceList(tokens: string[], i: number): { values: string[]; next: number } {
    const values: string[] = [];
    let j = i + 1;
    for (; j < tokens.length && tokens[j] !== '}'; j++) if (tokens[j] !== ',') values.push(tokens[j]);
    return { values, next: j + 1 };
  }

  /** Verdict text (`goto X`, `drop`, …) → result. */
  private verdict(text: string, st: PktState): NftEval {
    const [v, target] = text.trim().split(/\s+/);
    switch (v) {
      case 'goto': case 'jump': return { st, kind: v, target };
      case 'accept': case 'drop': case 'return': return { st, kind: v };
      case 'continue': return { st, kind: 'next' };
      default: throw new TraceError(`unsupported verdict "${text}"`);
    }
  }

  /**
   * `dnat ip to SEL . SEL . numgen random mod N [offset O] map @m`: the key looked up in
   * a map of `address . port` values; the walk forks over the N numbers (1/N each), and a
   * number whose key is missing does not match (the packet goes on to the next rule).
   */
  private dnatMap(tokens: string[], i: number, st: PktState): NftEval[] {
    const fixed: string[] = [];
    let gen: { n: number; offset: number } | undefined;
    let j = i;
    for (;;) {
      if (tokens[j] === 'numgen') {
        const n = Number(tokens[j + 3]);
        if (tokens[j + 1] !== 'random' || tokens[j + 2] !== 'mod' || !(n > 0) || gen) throw new TraceError('unsupported numgen expression');
        j += 4;
        let offset = 0;
        if (tokens[j] === 'offset') {
          offset = Number(tokens[j + 1]);
          j += 2;
        }
        gen = { n, offset };
        fixed.push('');
      } else {
        const s = this.selector(tokens, j, st);
        if (s.proto && s.proto !== st.proto) return [{ st, kind: 'nomatch' }];
        fixed.push(s.value);
        j = s.next;
      }
      if (tokens[j] === '.') j++;
      else break;
    }
    if (tokens[j] !== 'map' || !tokens[j + 1]?.startsWith('@')) throw new TraceError('unsupported dnat statement: only a lookup in a named map');
    const name = tokens[j + 1].slice(1);
    const values = gen ? Array.from({ length: gen.n }, (_, k) => String(gen!.offset + k)) : [undefined];
    const share = 1 / values.length;
    const out: NftEval[] = [];
    let missing = 0;
    for (const v of values) {
      const key = fixed.map((x) => (x === '' && v !== undefined ? v : x));
      const hit = this.lookup(name, key);
      if (hit === undefined) {
        missing += share;
        continue;
      }
      const parts = hit.split(/\s+\.\s+/);
      if (parts.length !== 2) throw new TraceError(`map @${name}: unsupported value "${hit}"`);
      const b = clone(st, share);
      b.dst = canonicalIP(parts[0]!) ?? parts[0]!;
      b.port = Number(parts[1]);
      b.dnatted = true;
      out.push({ st: b, kind: 'accept' });
    }
    if (missing > 0) out.push({ st: clone(st, missing), kind: 'nomatch' });
    return out;
  }

  run(tokens: string[], st: PktState): NftEval[] {
    let i = 0;
    while (i < tokens.length) {
      const t = tokens[i];
      const next = tokens[i + 1];
      if (t === 'comment') {
        i += 2;
      } else if (t === 'counter') {
        i += 1;
        while (tokens[i] === 'packets' || tokens[i] === 'bytes') i += 2;
      } else if (t === 'ct' && next === 'state') {
        let j = i + 2;
        let neg = false;
        if (tokens[j] === '!=') {
          neg = true;
          j++;
        }
        let states: string[];
        if (tokens[j] === '{') {
          const l = this.braceList(tokens, j);
          states = l.values;
          j = l.next;
        } else {
          states = tokens[j].split(',');
          j++;
        }
        if (states.includes('new') === neg) return [{ st, kind: 'nomatch' }];
        i = j;
      } else if (t === 'ct' && next === 'status') {
        // ct status [!=] dnat: the connection was DNATed (by an earlier hook).
        let j = i + 2;
        let neg = false;
        if (tokens[j] === '!=') {
          neg = true;
          j++;
        }
        if (tokens[j] !== 'dnat') throw new TraceError(`unsupported ct status ${tokens[j]}`);
        if (st.dnatted === neg) return [{ st, kind: 'nomatch' }];
        i = j + 1;
      } else if (t === 'fib') {
        // fib saddr|daddr type [!=] local
        const addr = next === 'saddr' ? st.src : st.dst;
        let j = i + 3;
        let neg = false;
        if (tokens[j] === '!=') {
          neg = true;
          j++;
        }
        if (tokens[j] !== 'local') throw new TraceError(`unsupported fib type ${tokens[j]}`);
        if (this.env.isLocal(addr) === neg) return [{ st, kind: 'nomatch' }];
        i = j + 1;
      } else if (t === 'mark' && next === 'set') {
        // mark set mark or|xor|and V
        const op = tokens[i + 3];
        const v = Number(tokens[i + 4]) >>> 0;
        if (op === 'or') st.mark = (st.mark | v) >>> 0;
        else if (op === 'xor') st.mark = (st.mark ^ v) >>> 0;
        else if (op === 'and') st.mark = (st.mark & v) >>> 0;
        else throw new TraceError(`unsupported mark operation ${op}`);
        i += 5;
      } else if (t === 'mark' && next === 'and') {
        // mark and M ==|!= V
        const m = Number(tokens[i + 2]) >>> 0;
        const op = tokens[i + 3];
        const v = Number(tokens[i + 4]) >>> 0;
        const eq = (st.mark & m) === v;
        if ((op === '==' ? eq : !eq) === false) return [{ st, kind: 'nomatch' }];
        i += 5;
      } else if (t === 'numgen') {
        const n = Number(tokens[i + 3]);
        if (tokens[i + 1] !== 'random' || tokens[i + 2] !== 'mod' || !(n > 0)) throw new TraceError('unsupported numgen expression');
        if (tokens[i + 4] !== 'vmap') {
          // numgen random mod N [==|!=] V …: matches with probability 1/N (or 1 - 1/N); the walk forks.
          let j = i + 4;
          let neg = false;
          if (tokens[j] === '==' || tokens[j] === '!=') {
            neg = tokens[j] === '!=';
            j++;
          }
          const v = Number(tokens[j]);
          if (!Number.isInteger(v)) throw new TraceError('unsupported numgen expression');
          const hit = v >= 0 && v < n ? 1 / n : 0;
          const p = neg ? 1 - hit : hit;
          const out: NftEval[] = [];
          if (p > 0) out.push(...this.run(tokens.slice(j + 1), clone(st, p)));
          if (p < 1) out.push({ st: clone(st, 1 - p), kind: 'nomatch' });
          return out;
        }
        // numgen random mod N vmap { 0 : goto A, 1 : goto B }
        if (tokens[i + 5] !== '{') throw new TraceError('unsupported numgen expression');
        const entries = new Map<number, string>();
        let j = i + 6;
        let cur: string[] = [];
        for (; j < tokens.length && tokens[j] !== '}'; j++) {
          if (tokens[j] === ',') {
            if (cur.length) entries.set(Number(cur[0]), cur.slice(2).join(' '));
            cur = [];
          } else cur.push(tokens[j]);
        }
        if (cur.length) entries.set(Number(cur[0]), cur.slice(2).join(' '));
        const out: NftEval[] = [];
        for (let k = 0; k < n; k++) {
          const b = clone(st, 1 / n);
          const v = entries.get(k);
          out.push(v ? this.verdict(v, b) : { st: b, kind: 'next' });
        }
        return out;
      } else if (t === 'update') {
        // update @set { ip saddr }: records the client for session affinity; no match effect.
        let j = i + 2;
        if (tokens[j] === '{') j = this.braceList(tokens, j).next;
        i = j;
      } else if (t === 'dnat') {
        let j = i + 1;
        if (tokens[j] === 'ip' || tokens[j] === 'ip6') j++;
        if (tokens[j] !== 'to') throw new TraceError('unsupported dnat statement');
        if (tokens.includes('map', j)) return this.dnatMap(tokens, j + 1, st);
        const hp = splitHostPort(tokens[j + 1]);
        st.dst = canonicalIP(hp.ip) ?? hp.ip;
        if (hp.port !== undefined) st.port = hp.port;
        st.dnatted = true;
        return [{ st, kind: 'accept' }];
      } else if (t === 'masquerade' || t === 'snat') {
        st.masq = true;
        return [{ st, kind: 'accept' }];
      } else if (t === 'reject') {
        return [{ st, kind: 'reject' }];
      } else if (t === 'drop' || t === 'accept' || t === 'return') {
        return [{ st, kind: t }];
      } else if (t === 'jump' || t === 'goto') {
        return [{ st, kind: t, target: next }];
      } else {
        // A match on one selector, or a concatenation looked up in a verdict map.
        const sels: { value: string; proto?: string }[] = [];
        let j = i;
        for (;;) {
          const s = this.selector(tokens, j, st);
          sels.push(s);
          j = s.next;
          if (tokens[j] === '.') j++;
          else break;
        }
        for (const s of sels) if (s.proto && s.proto !== st.proto) return [{ st, kind: 'nomatch' }];
        if (tokens[j] === 'vmap') {
          const ref = tokens[j + 1];
          if (!ref.startsWith('@')) throw new TraceError('only named verdict maps are supported');
          const v = this.lookup(ref.slice(1), sels.map((s) => s.value));
          if (v === undefined) return [{ st, kind: 'nomatch' }];
          return [this.verdict(v, st)];
        }
        if (sels.length !== 1) {
          // A concatenation: only a lookup in a named set (`a . b @set`).
          if (!tokens[j]?.startsWith('@')) throw new TraceError('a concatenation must be looked up in a set or map');
          if (!this.inSetConcat(tokens[j].slice(1), sels.map((x) => x.value))) return [{ st, kind: 'nomatch' }];
          i = j + 1;
          continue;
        }
        const value = sels[0].value;
        let neg = false;
        if (tokens[j] === '!=' || tokens[j] === '==') {
          neg = tokens[j] === '!=';
          j++;
        }
        let matched: boolean;
        if (tokens[j].startsWith('@')) {
          matched = this.inSet(tokens[j].slice(1), value);
          j++;
        } else if (tokens[j] === '{') {
          const l = this.braceList(tokens, j);
          matched = l.values.some((v) => valueMatches(value, v));
          j = l.next;
        } else {
          matched = valueMatches(value, tokens[j]);
          j++;
        }
        if (matched === neg) return [{ st, kind: 'nomatch' }];
        i = j;
      }
    }
    return [{ st, kind: 'next' }];
  }
}

/** A packet field value against an nft literal: address, CIDR, protocol or port (or range). */
function valueMatches(value: string, literal: string): boolean {
  const lit = unquote(literal);
  if (lit.includes('/')) return inCIDR(value, lit);
  if (/^\d+-\d+$/.test(lit)) {
    const [a, b] = lit.split('-').map(Number);
    const v = Number(value);
    return v >= a && v <= b;
  }
  const ci = canonicalIP(lit);
  if (ci !== undefined) return canonicalIP(value) === ci;
  return value === lit;
}

function nftChain(table: NftTableModel, name: string, st: PktState, env: Env, depth: number): Outcome[] {
  if (depth > maxDepth) throw new TraceError(`rule loop through ${name}`);
  const chain = table.chains.get(name);
  if (!chain) throw new TraceError(`jump to missing chain ${name}`);
  st.path.push(name);
  const evaluator = new NftRuleEval(table, env);
  let live: PktState[] = [st];
  const out: Outcome[] = [];
  for (const rule of chain.rules) {
    const next: PktState[] = [];
    for (const s of live) {
      const before = s.steps.length;
      for (const r of evaluator.run(rule.tokens, s)) {
        if (r.kind === 'nomatch') {
          r.st.steps.length = before;
          next.push(r.st);
          continue;
        }
        r.st.steps.push({ chain: name, rule: rule.text });
        switch (r.kind) {
          case 'next': next.push(r.st); break;
          case 'accept': out.push({ st: r.st, kind: 'accept' }); break;
          case 'drop': out.push({ st: r.st, kind: 'drop' }); break;
          case 'reject': out.push({ st: r.st, kind: 'reject' }); break;
          case 'return': out.push({ st: r.st, kind: 'continue' }); break;
          case 'jump':
            for (const o of nftChain(table, r.target!, r.st, env, depth + 1)) {
              if (o.kind === 'continue') next.push(o.st);
              else out.push(o);
            }
            break;
          case 'goto':
            // What falls off (or returns from) the target returns from this chain too.
            out.push(...nftChain(table, r.target!, r.st, env, depth + 1));
            break;
        }
      }
    }
    live = next;
    if (live.length === 0) break;
  }
  for (const s of live) out.push({ st: s, kind: 'continue' });
  return out;
}

/** Traces a packet through an nft script (full, or full followed by incremental ones). */
export function traceNftables(rules: string | NftModel, packet: TracePacket, opts: TraceOptions): TraceResult {
  const model = typeof rules === 'string' ? parseNftables(rules) : rules;
  const { st, packet: pkt } = startState(packet, opts);
  const env = new Env(opts.localAddresses);
  const fam = ipFamilyOf(pkt.dst) === 'IPv6' ? 'ip6' : 'ip';
  const runHook: HookRunner = (hook, s) => {
    const bases: { table: NftTableModel; name: string; priority: number }[] = [];
    for (const t of model.values()) {
      if (t.family !== fam && t.family !== 'inet') continue;
      for (const [name, c] of t.chains) if (c.base?.hook === hook) bases.push({ table: t, name, priority: c.base.priority });
    }
    bases.sort((a, b) => a.priority - b.priority);
    let outs: Outcome[] = [{ st: s, kind: 'accept' }];
    for (const b of bases) {
      const next: Outcome[] = [];
      for (const o of outs) {
        if (o.kind === 'drop' || o.kind === 'reject') {
          next.push(o);
          continue;
        }
        // Falling off a base chain is its policy (accept); accept ends only that chain.
        for (const r of nftChain(b.table, b.name, o.st, env, 0)) next.push(r.kind === 'continue' ? { st: r.st, kind: 'accept' } : r);
      }
      outs = next;
    }
    return outs;
  };
  return summarize('nftables', pkt, walk(st, packet.from, env, runHook), env.notes);
}

// ------------------------------------------------------------------ output

function pct(p: number): string {
  return `${(p * 100).toFixed(1)}%`;
}

/** Human-readable explanation of a trace (what `svcnet trace` prints). */
export function formatTrace(r: TraceResult): string {
  const p = r.packet;
  const dst = p.dst.includes(':') ? `[${p.dst}]:${p.port}` : `${p.dst}:${p.port}`;
  // Userspace: DNAT stands for "relayed to", and the source is the node because the proxy connects from it.
  const relay = r.backend === 'userspace';
  const masq = relay ? ' (relayed: a new connection from the node)' : ' (masquerade)';
  const lines = [`${p.proto} ${p.src} -> ${dst} from ${p.from} (${r.backend})`, `verdict: ${r.verdict}${r.masquerade ? masq : ''}`];
  for (const b of r.branches) {
    const target = b.endpoint
      ? `${b.endpoint.ip.includes(':') ? `[${b.endpoint.ip}]` : b.endpoint.ip}:${b.endpoint.port}`
      : b.verdict;
    lines.push(`  ${pct(b.probability).padStart(6)}  ${b.verdict === 'DNAT' ? '-> ' : ''}${target}${b.masquerade ? (relay ? '  (relayed from the node)' : '  (source NATed to the node)') : ''}`);
    lines.push(`          via ${b.chainPath.join(' > ')}`);
    for (const s of b.steps) lines.push(`            [${s.chain}] ${s.rule}`);
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n') + '\n';
}

/** Tokenizer re-export for callers that inspect nft rules (e.g. `svcnet rules`). */
export { tokenize as tokenizeNft };
