// Field sets, as sigs.k8s.io/structured-merge-diff/fieldpath has them: a
// tree of path elements whose "members" are the owned fields. Path elements
// are kept in their FieldsV1 spelling:
//   f:<name>                  a struct field or map key
//   k:{"port":80,"protocol":"TCP"}  an item of a list-map, by its keys (sorted)
//   v:"finalizer"             an item of a set
//   i:3                       an item by index (not produced by apply here)
// In FieldsV1 JSON an element that is a member and also has children carries
// `".": {}`; a member without children is `{}`.
import { goJSON, isObject, type JsonObject, type JsonValue } from './json.js';

export type PathElement = string;
export type Path = readonly PathElement[];

export class FieldSet {
  // A set is built (insert, addMember, setChild) and then only read: the
  // operations below return new sets that share the unchanged subtrees of
  // their operands, and clone() copies one level.
  //
  // Allocated on first use: most nodes of a set are leaves (members only) or
  // inner nodes (children only), and sets are built by the thousand per write.
  private members: Set<PathElement> | undefined;
  private children: Map<PathElement, FieldSet> | undefined;

  static of(...paths: Path[]): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  /**
   * Parses a FieldsV1 object; throws on a malformed one. `form.canonical` is
   * cleared unless `v` is exactly what toFieldsV1 of the result gives.
   */
  static fromFieldsV1(v: JsonValue | undefined, form?: { canonical: boolean }): FieldSet {
    const s = new FieldSet();
    if (v === undefined || v === null) {
      if (form && v === null) form.canonical = false;
      return s;
    }
    if (!isObject(v)) throw new Error('FieldsV1 must be an object');
    let prev: string | undefined;
    for (const k of Object.keys(v)) {
      if (k === '.') {
        if (form) form.canonical = false;
        continue;
      }
      const child = v[k];
      parsePathElement(k);
      if (!isObject(child)) throw new Error(`FieldsV1 entry ${k} must be an object`);
      if (form && form.canonical && prev !== undefined && comparePathElements(prev, k) >= 0) form.canonical = false;
      prev = k;
      let n = 0, dot = false, first: string | undefined;
      for (const x in child) { if (n === 0) first = x; n++; if (x === '.') dot = true; }
      if (n === 0 || dot) s.addMember(k);
      if (n > (dot ? 1 : 0)) {
        if (form && form.canonical && dot) {
          const d = child['.'];
          // toFieldsV1 writes a member with children as {".": {}, <children>}.
          if (first !== '.' || !isObject(d) || Object.keys(d).length > 0) form.canonical = false;
        }
        const c = FieldSet.fromFieldsV1(sansDot(child, dot), form);
        if (!c.isEmpty()) s.setChild(k, c);
        else if (form) form.canonical = false;
      } else if (form && dot) {
        // A member without children is {} in toFieldsV1, never {".": {}}.
        form.canonical = false;
      }
    }
    return s;
  }

  toFieldsV1(): JsonObject {
    const out: JsonObject = {};
    const pes: PathElement[] = [];
    if (this.members) for (const m of this.members) pes.push(m);
    if (this.children) for (const pe of this.children.keys()) if (!this.members?.has(pe)) pes.push(pe);
    pes.sort(comparePathElements);
    for (const pe of pes) {
      const c = this.children?.get(pe);
      if (!c) { out[pe] = {}; continue; }
      const inner: JsonObject = this.members?.has(pe) ? { '.': {} } : {};
      Object.assign(inner, c.toFieldsV1());
      out[pe] = inner;
    }
    return out;
  }

  insert(path: Path): void {
    if (path.length === 0) return; // the whole object is never owned as such
    let s: FieldSet = this;
    for (let i = 0; i < path.length - 1; i++) {
      if (!s.children) s.children = new Map();
      let c = s.children.get(path[i]);
      if (!c) { c = new FieldSet(); s.children.set(path[i], c); }
      s = c;
    }
    s.addMember(path[path.length - 1]);
  }

  has(path: Path): boolean {
    if (path.length === 0) return false;
    let s: FieldSet | undefined = this;
    for (let i = 0; i < path.length - 1 && s; i++) s = s.children?.get(path[i]);
    return s !== undefined && s.isMember(path[path.length - 1]);
  }

  isMember(pe: PathElement): boolean { return this.members !== undefined && this.members.has(pe); }

  /** The subset below `pe` (children of that element), or undefined. */
  withPrefix(pe: PathElement): FieldSet | undefined { return this.children?.get(pe); }

  childElements(): PathElement[] { return this.children ? [...this.children.keys()] : []; }

  isEmpty(): boolean {
    if (this.members && this.members.size > 0) return false;
    if (this.children) for (const c of this.children.values()) if (!c.isEmpty()) return false;
    return true;
  }

  union(o: FieldSet): FieldSet {
    const out = new FieldSet();
    if (this.members) for (const m of this.members) out.addMember(m);
    if (o.members) for (const m of o.members) out.addMember(m);
    if (this.children) {
      for (const [pe, c] of this.children) {
        const oc = o.children?.get(pe);
        out.setChildRaw(pe, oc ? c.union(oc) : c);
      }
    }
    if (o.children) for (const [pe, c] of o.children) if (!this.children?.has(pe)) out.setChildRaw(pe, c);
    return out;
  }

  /** Members of this set not members of `o`; a member of `o` does not remove this set's children below it. */
  difference(o: FieldSet): FieldSet {
    const out = new FieldSet();
    if (this.members) for (const m of this.members) if (!o.isMember(m)) out.addMember(m);
    if (this.children) {
      for (const [pe, c] of this.children) {
        const oc = o.children?.get(pe);
        const d = oc ? c.difference(oc) : c;
        if (!d.isEmpty()) out.setChildRaw(pe, d);
      }
    }
    return out;
  }

  /** Like difference, but a member of `o` also removes everything below it. */
  recursiveDifference(o: FieldSet): FieldSet {
    const out = new FieldSet();
    if (this.members) for (const m of this.members) if (!o.isMember(m)) out.addMember(m);
    if (this.children) {
      for (const [pe, c] of this.children) {
        if (o.isMember(pe)) continue;
        const oc = o.children?.get(pe);
        const d = oc ? c.recursiveDifference(oc) : c;
        if (!d.isEmpty()) out.setChildRaw(pe, d);
      }
    }
    return out;
  }

  intersection(o: FieldSet): FieldSet {
    const out = new FieldSet();
    if (this.members && o.members) for (const m of this.members) if (o.members.has(m)) out.addMember(m);
    if (this.children && o.children) {
      for (const [pe, c] of this.children) {
        const oc = o.children.get(pe);
        if (!oc) continue;
        const i = c.intersection(oc);
        if (!i.isEmpty()) out.setChildRaw(pe, i);
      }
    }
    return out;
  }

  /** Whether this set and `o` share a member (intersection(o) is not empty), without building it. */
  intersects(o: FieldSet): boolean {
    if (this.members && o.members) {
      const [small, large] = this.members.size <= o.members.size ? [this.members, o.members] : [o.members, this.members];
      for (const m of small) if (large.has(m)) return true;
    }
    if (this.children && o.children) {
      for (const [pe, c] of this.children) {
        const oc = o.children.get(pe);
        if (oc && c.intersects(oc)) return true;
      }
    }
    return false;
  }

  /** A copy of this level (its members and the map of its children), sharing the children themselves. */
  clone(): FieldSet {
    const out = new FieldSet();
    if (this.members) out.members = new Set(this.members);
    if (this.children) out.children = new Map(this.children);
    return out;
  }

  /** Member paths in fieldpath's iteration order: a level's members (sorted), then its children. */
  paths(prefix: Path = []): Path[] {
    const out: Path[] = [];
    if (this.members) for (const m of [...this.members].sort(comparePathElements)) out.push([...prefix, m]);
    if (this.children) {
      for (const pe of [...this.children.keys()].sort(comparePathElements)) {
        out.push(...this.children.get(pe)!.paths([...prefix, pe]));
      }
    }
    return out;
  }

  /** Adds `pe` as a member when it is a child (EnsureNamedFieldsAreMembers, one level). */
  addMember(pe: PathElement): void {
    if (!this.members) this.members = new Set();
    this.members.add(pe);
  }
  setChild(pe: PathElement, c: FieldSet): void { if (!c.isEmpty()) this.setChildRaw(pe, c); }

  private setChildRaw(pe: PathElement, c: FieldSet): void {
    if (!this.children) this.children = new Map();
    this.children.set(pe, c);
  }
}

/** The children of a FieldsV1 node: the node itself when it has no "." (the usual case), else a copy without it. */
function sansDot(o: JsonObject, dot: boolean): JsonObject {
  if (!dot) return o;
  const out: JsonObject = {};
  for (const k of Object.keys(o)) if (k !== '.') out[k] = o[k];
  return out;
}

export type ParsedElement =
  | { kind: 'field'; name: string }
  | { kind: 'key'; fields: [string, JsonValue][] }
  | { kind: 'value'; value: JsonValue }
  | { kind: 'index'; index: number };

const parsed = new Map<string, ParsedElement>();

export function parsePathElement(pe: PathElement): ParsedElement {
  let p = parsed.get(pe);
  if (p) return p;
  const body = pe.slice(2);
  switch (pe.slice(0, 2)) {
    case 'f:': p = { kind: 'field', name: body }; break;
    case 'k:': {
      const o = JSON.parse(body) as unknown;
      if (!isObject(o)) throw new Error(`invalid key path element ${pe}`);
      p = { kind: 'key', fields: Object.keys(o).sort().map((k) => [k, o[k]] as [string, JsonValue]) };
      break;
    }
    case 'v:': p = { kind: 'value', value: JSON.parse(body) as JsonValue }; break;
    case 'i:': {
      const n = Number(body);
      if (!Number.isInteger(n)) throw new Error(`invalid index path element ${pe}`);
      p = { kind: 'index', index: n };
      break;
    }
    default: throw new Error(`unknown path element ${pe}`);
  }
  if (parsed.size > 10000) parsed.clear();
  parsed.set(pe, p);
  return p;
}

export const fieldElement = (name: string): PathElement => 'f:' + name;

/** `k:{...}` of an item's key fields; keys sorted, values in encoding/json form. */
export function keyElement(fields: Record<string, JsonValue>): PathElement {
  return 'k:{' + Object.keys(fields).sort().map((k) => JSON.stringify(k) + ':' + goJSON(fields[k])).join(',') + '}';
}

export const valueElement = (v: JsonValue): PathElement => 'v:' + goJSON(v);

const typeRank = (v: JsonValue): number =>
  typeof v === 'number' ? 0 : typeof v === 'string' ? 1 : typeof v === 'boolean' ? 2 : Array.isArray(v) ? 3 : v === null ? 5 : 4;

/** value.Compare: numbers < strings < booleans < lists < maps < null. */
export function compareValues(a: JsonValue, b: JsonValue): number {
  const ra = typeRank(a), rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (typeof a === 'number') return a === b ? 0 : a < (b as number) ? -1 : 1;
  if (typeof a === 'string') return a === b ? 0 : a < (b as string) ? -1 : 1;
  if (typeof a === 'boolean') return a === b ? 0 : a ? 1 : -1;
  if (Array.isArray(a)) {
    const bb = b as JsonValue[];
    for (let i = 0; i < Math.min(a.length, bb.length); i++) {
      const c = compareValues(a[i], bb[i]);
      if (c !== 0) return c;
    }
    return a.length === bb.length ? 0 : a.length < bb.length ? -1 : 1;
  }
  if (isObject(a)) return goJSON(a) < goJSON(b) ? -1 : goJSON(a) === goJSON(b) ? 0 : 1;
  return 0;
}

const peRank = { field: 0, key: 1, value: 2, index: 3 } as const;

/** PathElement.Compare: fields < keys < values < indices, then by content. */
export function comparePathElements(a: PathElement, b: PathElement): number {
  if (a === b) return 0;
  const pa = parsePathElement(a), pb = parsePathElement(b);
  if (pa.kind !== pb.kind) return peRank[pa.kind] < peRank[pb.kind] ? -1 : 1;
  switch (pa.kind) {
    case 'field': {
      const nb = (pb as { name: string }).name;
      return pa.name < nb ? -1 : pa.name > nb ? 1 : 0;
    }
    case 'key': {
      const fb = (pb as { fields: [string, JsonValue][] }).fields;
      for (let i = 0; ; i++) {
        if (i >= pa.fields.length && i >= fb.length) return 0;
        if (i >= pa.fields.length) return -1;
        if (i >= fb.length) return 1;
        if (pa.fields[i][0] !== fb[i][0]) return pa.fields[i][0] < fb[i][0] ? -1 : 1;
        const c = compareValues(pa.fields[i][1], fb[i][1]);
        if (c !== 0) return c;
      }
    }
    case 'value': return compareValues(pa.value, (pb as { value: JsonValue }).value);
    case 'index': return pa.index - (pb as { index: number }).index;
  }
}

/** value.ToString: strings quoted, numbers and booleans bare. */
function valueString(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[' + v.map(valueString).join(', ') + ']';
  return '{' + Object.keys(v).sort().map((k) => `${k}=${valueString(v[k])}`).join(', ') + '}';
}

/** fieldpath.Path.String(): `.spec.ports[port=80,protocol="TCP"].targetPort`, `[=value]`, `[3]`. */
export function pathString(path: Path): string {
  return path.map((pe) => {
    const p = parsePathElement(pe);
    switch (p.kind) {
      case 'field': return '.' + p.name;
      case 'key': return '[' + p.fields.map(([k, v]) => `${k}=${valueString(v)}`).join(',') + ']';
      case 'value': return `[=${valueString(p.value)}]`;
      case 'index': return `[${p.index}]`;
    }
  }).join('');
}
