// A small in-memory model of iptables tables, filled by replaying iptables-restore /
// iptables-save text with --noflush semantics (a `:CHAIN` line creates or flushes a
// user chain, sets the policy of a built-in one; `-A` appends; `-X` deletes). It is
// what the tracer walks, and what the partial-sync tests compare.

export const builtinChains: Record<string, readonly string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

export type IptMatch =
  | { kind: 'proto'; value: string; neg: boolean }
  | { kind: 'src' | 'dst'; cidr: string; neg: boolean }
  | { kind: 'sport' | 'dport'; from: number; to: number; neg: boolean }
  | { kind: 'addrtype'; dir: 'src' | 'dst'; type: string; neg: boolean }
  | { kind: 'statistic'; probability: number }
  | { kind: 'recent'; name: string; op: 'rcheck' | 'set' | 'update'; seconds?: number }
  | { kind: 'mark'; value: number; mask: number; neg: boolean }
  | { kind: 'ctstate'; states: string[]; neg: boolean }
  | { kind: 'interface'; dir: 'in' | 'out'; name: string; neg: boolean }
  | { kind: 'unknown'; text: string };

export interface IptRule {
  /** The rule as written, without the leading `-A CHAIN`. */
  text: string;
  matches: IptMatch[];
  comment?: string;
  /** `-j` target (or `-g` goto target); undefined for a rule that only counts. */
  target?: string;
  goto: boolean;
  targetArgs: Map<string, string>;
}

export interface IptChain {
  policy?: string;
  rules: IptRule[];
}

export type IptTables = Map<string, Map<string, IptChain>>;

export class IptablesParseError extends Error {
  readonly code = 'IPTABLES_PARSE';
  constructor(message: string, readonly line: number) {
    super(`line ${line}: ${message}`);
    this.name = 'IptablesParseError';
  }
}

/** Splits a rule line into arguments, honouring double quotes as iptables-restore does. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === '\\' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') inQuote = false;
      else cur += c;
    } else if (c === '"') {
      inQuote = true;
      has = true;
    } else if (c === ' ' || c === '\t') {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

function parseNum(s: string): number {
  return s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10);
}

function parsePortRange(s: string): { from: number; to: number } {
  const [a, b] = s.split(':');
  return { from: Number(a), to: Number(b ?? a) };
}

function parseMarkSpec(s: string): { value: number; mask: number } {
  const [v, m] = s.split('/');
  return { value: parseNum(v) >>> 0, mask: m === undefined ? 0xffffffff : parseNum(m) >>> 0 };
}

/** Parses the arguments of a rule (everything after `-A CHAIN`). */
export function parseRuleArgs(args: string[]): IptRule {
  const rule: IptRule = { text: args.map((a) => (/[\s"]/.test(a) || a === '' ? `"${a}"` : a)).join(' '), matches: [], goto: false, targetArgs: new Map() };
  let neg = false;
  let inTarget = false;
  let recent: Extract<IptMatch, { kind: 'recent' }> | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = (): string => {
      if (i + 1 >= args.length) throw new Error(`option ${a} needs a value`);
      return args[++i];
    };
    if (a === '!') {
      neg = true;
      continue;
    }
    if (inTarget) {
      // Target options: --to-destination X, --or-mark X, --random-fully, …
      if (a.startsWith('--')) {
        const takesValue = i + 1 < args.length && !args[i + 1].startsWith('--');
        rule.targetArgs.set(a, takesValue ? next() : '');
      }
      continue;
    }
    switch (a) {
      case '-p': case '--protocol': rule.matches.push({ kind: 'proto', value: next().toLowerCase(), neg }); break;
      case '-s': case '--source': case '--src': rule.matches.push({ kind: 'src', cidr: next(), neg }); break;
      case '-d': case '--destination': case '--dst': rule.matches.push({ kind: 'dst', cidr: next(), neg }); break;
      case '-i': case '--in-interface': rule.matches.push({ kind: 'interface', dir: 'in', name: next(), neg }); break;
      case '-o': case '--out-interface': rule.matches.push({ kind: 'interface', dir: 'out', name: next(), neg }); break;
      case '--dport': case '--destination-port': rule.matches.push({ kind: 'dport', ...parsePortRange(next()), neg }); break;
      case '--sport': case '--source-port': rule.matches.push({ kind: 'sport', ...parsePortRange(next()), neg }); break;
      case '-m': case '--match': {
        const mod = next();
        // `recent` takes its options (--name, --rcheck/--set, --seconds) in any order.
        if (mod === 'recent') {
          recent = { kind: 'recent', name: 'DEFAULT', op: 'rcheck' };
          rule.matches.push(recent);
        }
        break;
      }
      case '--comment': rule.comment = next(); break;
      case '--dst-type': rule.matches.push({ kind: 'addrtype', dir: 'dst', type: next(), neg }); break;
      case '--src-type': rule.matches.push({ kind: 'addrtype', dir: 'src', type: next(), neg }); break;
      case '--mode': next(); break;
      case '--probability': rule.matches.push({ kind: 'statistic', probability: Number(next()) }); break;
      case '--name': {
        const name = next();
        if (recent) recent.name = name;
        break;
      }
      case '--rcheck': case '--set': case '--update':
        if (recent) recent.op = a.slice(2) as 'rcheck' | 'set' | 'update';
        break;
      case '--seconds': {
        const secs = Number(next());
        if (recent) recent.seconds = secs;
        break;
      }
      case '--mask': next(); break;
      case '--reap': case '--rsource': case '--rdest': break;
      case '--mark': rule.matches.push({ kind: 'mark', ...parseMarkSpec(next()), neg }); break;
      case '--ctstate': case '--state': rule.matches.push({ kind: 'ctstate', states: next().split(','), neg }); break;
      case '-j': case '--jump': rule.target = next(); inTarget = true; break;
      case '-g': case '--goto': rule.target = next(); rule.goto = true; inTarget = true; break;
      default:
        rule.matches.push({ kind: 'unknown', text: a });
    }
    neg = false;
  }
  return rule;
}

/** Replays restore/save text onto `tables` (mutated), with --noflush semantics. */
export function applyIptablesText(tables: IptTables, text: string): IptTables {
  let table: Map<string, IptChain> | undefined;
  let tableName = '';
  const lines = text.split('\n');
  lines.forEach((raw, idx) => {
    const line = raw.trim();
    const n = idx + 1;
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('*')) {
      tableName = line.slice(1);
      if (!tables.has(tableName)) {
        const t = new Map<string, IptChain>();
        for (const c of builtinChains[tableName] ?? []) t.set(c, { policy: 'ACCEPT', rules: [] });
        tables.set(tableName, t);
      }
      table = tables.get(tableName);
      return;
    }
    if (!table) throw new IptablesParseError('rule outside of a *table section', n);
    if (line === 'COMMIT') {
      table = undefined;
      return;
    }
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      const builtin = (builtinChains[tableName] ?? []).includes(name);
      if (builtin) table.get(name)!.policy = policy;
      else table.set(name, { rules: [] }); // create, or flush an existing user chain
      return;
    }
    const args = splitArgs(line);
    const op = args[0];
    const chainName = args[1];
    if (op === '-X') {
      if (!chainName) throw new IptablesParseError('-X without a chain', n);
      if (!table.has(chainName)) throw new IptablesParseError(`-X: no chain ${chainName}`, n);
      table.delete(chainName);
      return;
    }
    if (op === '-F') {
      if (chainName) table.get(chainName)!.rules = [];
      else for (const c of table.values()) c.rules = [];
      return;
    }
    if (op !== '-A' && op !== '-I') throw new IptablesParseError(`unsupported command ${op}`, n);
    const chain = table.get(chainName);
    if (!chain) throw new IptablesParseError(`no chain ${chainName}`, n);
    let rest = args.slice(2);
    let pos = op === '-A' ? chain.rules.length : 0;
    if (op === '-I' && rest.length && /^\d+$/.test(rest[0])) {
      pos = Number(rest[0]) - 1;
      rest = rest.slice(1);
    }
    let rule: IptRule;
    try {
      rule = parseRuleArgs(rest);
    } catch (e) {
      throw new IptablesParseError((e as Error).message, n);
    }
    chain.rules.splice(pos, 0, rule);
  });
  return tables;
}

export function parseIptables(text: string): IptTables {
  return applyIptablesText(new Map(), text);
}

/** A normalised dump (tables, chains sorted; rules in order), for comparing two models. */
export function dumpIptables(tables: IptTables): string {
  const out: string[] = [];
  for (const t of [...tables.keys()].sort()) {
    out.push(`*${t}`);
    const chains = tables.get(t)!;
    for (const c of [...chains.keys()].sort()) {
      out.push(`:${c} ${chains.get(c)!.policy ?? '-'}`);
      for (const r of chains.get(c)!.rules) out.push(`-A ${c} ${r.text}`);
    }
  }
  return out.join('\n') + '\n';
}
