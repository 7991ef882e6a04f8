// A small in-memory model of nftables tables, filled by replaying `nft -f` scripts of
// the shape our renderer writes (one command per line: add/delete/flush of tables,
// chains, sets, maps, rules and elements). It checks what the kernel would refuse —
// a rule in a missing chain, a jump to a missing chain, an element of a missing map,
// deleting something absent — so replaying a full script and then an incremental one
// is a test of the incremental renderer. The tracer walks the result.

export interface NftBaseHook {
  type: string;
  hook: string;
  priority: number;
}

export interface NftRuleModel {
  text: string;
  tokens: string[];
}

export interface NftChainModel {
  base?: NftBaseHook;
  comment?: string;
  rules: NftRuleModel[];
}

export interface NftElementModel {
  key: string[];
  value?: string;
  comment?: string;
}

export interface NftSetModel {
  kind: 'set' | 'map';
  spec: string;
  elements: Map<string, NftElementModel>;
}

export interface NftTableModel {
  family: string;
  name: string;
  chains: Map<string, NftChainModel>;
  sets: Map<string, NftSetModel>;
}

/** Keyed by `family name`, e.g. `ip kube-proxy`. */
export type NftModel = Map<string, NftTableModel>;

export class NftablesParseError extends Error {
  readonly code = 'NFTABLES_PARSE';
  constructor(message: string, readonly line: number) {
    super(`line ${line}: ${message}`);
    this.name = 'NftablesParseError';
  }
}

/** Splits nft text into tokens: words, quoted strings (kept with quotes), and `{ } , ;` on their own. */
export function tokenize(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  const flush = () => {
    if (cur) out.push(cur);
    cur = '';
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      flush();
      let j = i + 1;
      let str = '"';
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\' && j + 1 < s.length) {
          str += s[j + 1];
          j += 2;
          continue;
        }
        str += s[j++];
      }
      out.push(str + '"');
      i = j;
    } else if (c === ' ' || c === '\t') {
      flush();
    } else if (c === '{' || c === '}' || c === ',' || c === ';') {
      flush();
      out.push(c);
    } else {
      cur += c;
    }
  }
  flush();
  return out;
}

export function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}

/** Splits the tokens between `{` and `}` into comma-separated groups. */
function braceGroups(tokens: string[]): string[][] {
  const start = tokens.indexOf('{');
  const end = tokens.lastIndexOf('}');
  if (start < 0 || end < start) return [];
  const groups: string[][] = [[]];
  for (const t of tokens.slice(start + 1, end)) {
    if (t === ',') groups.push([]);
    else groups[groups.length - 1].push(t);
  }
  return groups.filter((g) => g.length > 0);
}

/** `a . b [comment "x"] [: verdict…]` → element. */
export function parseElement(group: string[]): NftElementModel {
  const colon = group.indexOf(':');
  const keyPart = colon >= 0 ? group.slice(0, colon) : group;
  const value = colon >= 0 ? group.slice(colon + 1).join(' ') : undefined;
  let comment: string | undefined;
  const ci = keyPart.indexOf('comment');
  const keyTokens = ci >= 0 ? keyPart.slice(0, ci) : keyPart;
  if (ci >= 0) comment = unquote(keyPart[ci + 1] ?? '');
  const key = keyTokens.filter((t) => t !== '.');
  return { key, ...(value !== undefined ? { value } : {}), ...(comment !== undefined ? { comment } : {}) };
}

function elementId(key: string[]): string {
  return key.join(' . ');
}

/** The chains a rule jumps or goes to, and the sets it names (`@name`). */
export function ruleReferences(tokens: string[]): { chains: string[]; sets: string[] } {
  const chains: string[] = [];
  const sets: string[] = [];
  tokens.forEach((t, i) => {
    if ((t === 'jump' || t === 'goto') && tokens[i + 1]) chains.push(tokens[i + 1]);
    if (t.startsWith('@')) sets.push(t.slice(1));
  });
  return { chains, sets };
}

/** Replays an nft script onto `model` (mutated). Throws NftablesParseError where nft would fail. */
export function applyNftScript(model: NftModel, script: string): NftModel {
  script.split('\n').forEach((raw, idx) => {
    const n = idx + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const tokens = tokenize(line);
    const [verb, object] = tokens;
    const fail = (msg: string): never => {
      throw new NftablesParseError(msg, n);
    };
    if (object === 'table') {
      const key = `${tokens[2]} ${tokens[3]}`;
      if (verb === 'add') {
        if (!model.has(key)) model.set(key, { family: tokens[2], name: tokens[3], chains: new Map(), sets: new Map() });
      } else if (verb === 'delete') {
        if (!model.delete(key)) fail(`delete table: no table ${key}`);
      } else if (verb === 'flush') {
        const t = model.get(key) ?? fail(`flush table: no table ${key}`);
        for (const c of t.chains.values()) c.rules = [];
        for (const s of t.sets.values()) s.elements.clear();
      } else fail(`unsupported: ${verb} table`);
      return;
    }
    const table = model.get(`${tokens[2]} ${tokens[3]}`) ?? fail(`no table ${tokens[2]} ${tokens[3]}`);
    const name = tokens[4];
    switch (`${verb} ${object}`) {
      case 'add chain': {
        let base: NftBaseHook | undefined;
        let comment: string | undefined;
        const body = tokens.slice(5).filter((t) => t !== '{' && t !== '}');
        for (let i = 0; i < body.length; i++) {
          if (body[i] === 'type') base = { type: body[i + 1], hook: body[i + 3], priority: Number(body[i + 5]) };
          if (body[i] === 'comment') comment = unquote(body[i + 1]);
        }
        const existing = table.chains.get(name);
        if (!existing) table.chains.set(name, { ...(base ? { base } : {}), ...(comment ? { comment } : {}), rules: [] });
        else if (base && JSON.stringify(existing.base) !== JSON.stringify(base)) fail(`chain ${name} exists with another hook`);
        return;
      }
      case 'flush chain': {
        (table.chains.get(name) ?? fail(`flush chain: no chain ${name}`)).rules = [];
        return;
      }
      case 'delete chain': {
        const chain = table.chains.get(name) ?? fail(`delete chain: no chain ${name}`);
        if (chain.rules.length) fail(`delete chain: ${name} is not empty`);
        for (const [other, c] of table.chains) {
          for (const r of c.rules) if (ruleReferences(r.tokens).chains.includes(name)) fail(`delete chain: ${name} is used by ${other}`);
        }
        for (const s of table.sets.values()) {
          for (const e of s.elements.values()) if (e.value && tokenize(e.value).includes(name)) fail(`delete chain: ${name} is used by a map element`);
        }
        table.chains.delete(name);
        return;
      }
      case 'add rule':
      case 'insert rule': {
        const chain = table.chains.get(name) ?? fail(`add rule: no chain ${name}`);
        const ruleTokens = tokens.slice(5);
        const refs = ruleReferences(ruleTokens);
        for (const c of refs.chains) if (!table.chains.has(c)) fail(`rule jumps to missing chain ${c}`);
        for (const s of refs.sets) if (!table.sets.has(s)) fail(`rule uses missing set ${s}`);
        const prefix = `${verb} ${object} ${tokens[2]} ${tokens[3]} ${name} `;
        const rule = { text: line.startsWith(prefix) ? line.slice(prefix.length).trim() : ruleTokens.join(' '), tokens: ruleTokens };
        if (verb === 'add') chain.rules.push(rule);
        else chain.rules.unshift(rule);
        return;
      }
      case 'add set':
      case 'add map': {
        const spec = tokens.slice(5).join(' ');
        const existing = table.sets.get(name);
        if (!existing) table.sets.set(name, { kind: object as 'set' | 'map', spec, elements: new Map() });
        else if (existing.spec !== spec) fail(`${object} ${name} exists with another definition`);
        return;
      }
      case 'flush set':
      case 'flush map': {
        (table.sets.get(name) ?? fail(`flush ${object}: no ${object} ${name}`)).elements.clear();
        return;
      }
      case 'delete set':
      case 'delete map': {
        table.sets.get(name) ?? fail(`delete ${object}: no ${object} ${name}`);
        for (const [other, c] of table.chains) {
          for (const r of c.rules) if (ruleReferences(r.tokens).sets.includes(name)) fail(`delete ${object}: ${name} is used by ${other}`);
        }
        table.sets.delete(name);
        return;
      }
      case 'add element':
      case 'delete element': {
        const set = table.sets.get(name) ?? fail(`${verb} element: no set ${name}`);
        for (const g of braceGroups(tokens.slice(5))) {
          const el = parseElement(g);
          const id = elementId(el.key);
          if (verb === 'add') {
            if (el.value) {
              for (const c of ruleReferences(tokenize(el.value)).chains) if (!table.chains.has(c)) fail(`element jumps to missing chain ${c}`);
            }
            const old = set.elements.get(id);
            if (old && old.value !== el.value) fail(`element ${id} exists in ${name} with another value`);
            set.elements.set(id, el);
          } else if (!set.elements.delete(id)) {
            fail(`delete element: ${id} not in ${name}`);
          }
        }
        return;
      }
      default:
        fail(`unsupported command: ${verb} ${object}`);
    }
  });
  return model;
}

export function parseNftables(script: string): NftModel {
  return applyNftScript(new Map(), script);
}

/** A normalised dump (everything sorted except rule order), for comparing two models. */
export function dumpNftables(model: NftModel): string {
  const out: string[] = [];
  for (const key of [...model.keys()].sort()) {
    const t = model.get(key)!;
    out.push(`table ${key}`);
    for (const c of [...t.chains.keys()].sort()) {
      const chain = t.chains.get(c)!;
      out.push(`  chain ${c}${chain.base ? ` (${chain.base.type} ${chain.base.hook} ${chain.base.priority})` : ''}`);
      for (const r of chain.rules) out.push(`    ${r.text}`);
    }
    for (const s of [...t.sets.keys()].sort()) {
      const set = t.sets.get(s)!;
      out.push(`  ${set.kind} ${s} ${set.spec}`);
      for (const id of [...set.elements.keys()].sort()) {
        const e = set.elements.get(id)!;
        out.push(`    ${id}${e.comment ? ` comment "${e.comment}"` : ''}${e.value !== undefined ? ` : ${e.value}` : ''}`);
      }
    }
  }
  return out.join('\n') + '\n';
}
