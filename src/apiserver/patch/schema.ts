// Patch metadata of an API type, read from OpenAPI v3 definitions in the
// shape kube-apiserver serves under /openapi/v3 (components.schemas):
// properties reference other definitions through `$ref` or
// `allOf: [{$ref}]`, and carry the extensions that drive patching:
// x-kubernetes-patch-strategy / -patch-merge-key (strategic merge patch, from
// the Go struct tags) and x-kubernetes-list-type / -list-map-keys / -map-type
// (server-side apply, from the +listType/+mapType markers).
import type { JsonValue } from './json.js';

export type ListType = 'atomic' | 'set' | 'map';
export type SchemaType = 'object' | 'array' | 'scalar' | 'unknown';

/** One node of a type: a struct, a map, a list or a scalar, with the extensions of the property that leads to it. */
export interface PatchSchema {
  /** Definition name this node resolved to ('' when inline or unknown); used in messages. */
  readonly name: string;
  /** `unknown` when the schema says nothing: such values are patched as plain JSON. */
  readonly type: SchemaType;
  /** An object with declared properties (a Go struct), as opposed to a map. */
  readonly isStruct: boolean;
  /** x-kubernetes-patch-strategy split on ',' (`[]` when absent). */
  readonly patchStrategies: readonly string[];
  readonly patchMergeKey: string | undefined;
  readonly listType: ListType | undefined;
  readonly listMapKeys: readonly string[] | undefined;
  readonly mapType: 'atomic' | 'granular' | undefined;
  /** The schema's `default`, used for defaulted list-map keys such as ServicePort.protocol. */
  readonly default: JsonValue | undefined;
  /** True when `name` is a declared property (not a map key). */
  hasField(name: string): boolean;
  /** The schema of property `name` or, for a map, of every value; undefined when unknown. */
  field(name: string): PatchSchema | undefined;
  /** The schema of a list's items; undefined when unknown. */
  items(): PatchSchema | undefined;
}

type Raw = Record<string, unknown>;

const isRaw = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A schema that knows nothing: everything is patched as JSON merge patch / deduced by value. */
export const noSchema: PatchSchema = Object.freeze({
  name: '', type: 'unknown' as SchemaType, isStruct: false, patchStrategies: [], patchMergeKey: undefined,
  listType: undefined, listMapKeys: undefined, mapType: undefined, default: undefined,
  hasField: () => false, field: () => undefined, items: () => undefined,
});

class OpenAPINode implements PatchSchema {
  readonly name: string;
  readonly type: SchemaType;
  readonly isStruct: boolean;
  readonly patchStrategies: readonly string[];
  readonly patchMergeKey: string | undefined;
  readonly listType: ListType | undefined;
  readonly listMapKeys: readonly string[] | undefined;
  readonly mapType: 'atomic' | 'granular' | undefined;
  readonly default: JsonValue | undefined;
  private readonly props: Raw | undefined;
  private readonly additional: Raw | undefined;
  private readonly itemSchema: Raw | undefined;

  constructor(private readonly resolver: Resolver, prop: Raw) {
    const { def, name } = resolver.resolve(prop);
    this.name = name;
    const ext = (k: string): unknown => (prop[k] !== undefined ? prop[k] : def[k]);
    const ps = ext('x-kubernetes-patch-strategy');
    this.patchStrategies = typeof ps === 'string' && ps ? ps.split(',') : [];
    const mk = ext('x-kubernetes-patch-merge-key');
    this.patchMergeKey = typeof mk === 'string' && mk ? mk : undefined;
    const lt = ext('x-kubernetes-list-type');
    this.listType = lt === 'atomic' || lt === 'set' || lt === 'map' ? lt : undefined;
    const lk = ext('x-kubernetes-list-map-keys');
    this.listMapKeys = Array.isArray(lk) ? lk.filter((x): x is string => typeof x === 'string') : undefined;
    const mt = ext('x-kubernetes-map-type');
    this.mapType = mt === 'atomic' || mt === 'granular' ? mt : undefined;
    this.default = (prop.default !== undefined ? prop.default : def.default) as JsonValue | undefined;
    this.props = isRaw(def.properties) ? def.properties : isRaw(prop.properties) ? prop.properties : undefined;
    const ap = def.additionalProperties ?? prop.additionalProperties;
    this.additional = isRaw(ap) ? ap : undefined;
    const it = def.items ?? prop.items;
    this.itemSchema = isRaw(it) ? it : undefined;
    this.isStruct = this.props !== undefined;
    this.type = schemaType(def, prop, this);
  }

  hasField(name: string): boolean {
    return this.props !== undefined && Object.prototype.hasOwnProperty.call(this.props, name);
  }

  field(name: string): PatchSchema | undefined {
    if (this.props && Object.prototype.hasOwnProperty.call(this.props, name)) {
      const p = this.props[name];
      return isRaw(p) ? this.resolver.node(p) : undefined;
    }
    return this.additional ? this.resolver.node(this.additional) : undefined;
  }

  items(): PatchSchema | undefined {
    return this.itemSchema ? this.resolver.node(this.itemSchema) : undefined;
  }
}

function schemaType(def: Raw, prop: Raw, n: OpenAPINode): SchemaType {
  if (def['x-kubernetes-int-or-string'] === true || def.format === 'int-or-string') return 'scalar';
  const t = def.type ?? prop.type;
  if (t === 'array' || (t === undefined && n.items() !== undefined)) return 'array';
  if (n.isStruct || def.additionalProperties !== undefined || prop.additionalProperties !== undefined) return 'object';
  if (t === 'string' || t === 'integer' || t === 'number' || t === 'boolean') return 'scalar';
  const alts = def.oneOf ?? def.anyOf;
  if (Array.isArray(alts) && alts.length > 0 &&
      alts.every((a) => isRaw(a) && ['string', 'integer', 'number', 'boolean'].includes(a.type as string))) return 'scalar';
  // `type: object` without properties (RawExtension, preserve-unknown-fields): deduced from the value.
  return 'unknown';
}

class Resolver {
  private readonly cache = new WeakMap<Raw, OpenAPINode>();
  constructor(private readonly defs: Record<string, unknown>) {}

  node(prop: Raw): OpenAPINode {
    let n = this.cache.get(prop);
    if (!n) { n = new OpenAPINode(this, prop); this.cache.set(prop, n); }
    return n;
  }

  /** Follows `$ref` and single-reference `allOf` wrappers to the definition. */
  resolve(prop: Raw): { def: Raw; name: string } {
    let cur: Raw = prop, name = '';
    for (let depth = 0; depth < 32; depth++) {
      let ref: unknown = cur.$ref;
      if (ref === undefined && Array.isArray(cur.allOf) && cur.allOf.length === 1 && isRaw(cur.allOf[0])) ref = cur.allOf[0].$ref;
      if (typeof ref !== 'string') break;
      const n = ref.replace(/^#\/(components\/schemas|definitions)\//, '');
      const d = this.defs[n];
      if (!isRaw(d)) break;
      name = n; cur = d;
    }
    return { def: cur, name };
  }
}

/** The patch schema of definition `root` in `definitions` (components.schemas of /openapi/v3). */
export function openAPIPatchSchema(definitions: Record<string, unknown>, root: string): PatchSchema {
  const d = definitions[root];
  if (!isRaw(d)) return noSchema;
  return new Resolver(definitions).node({ $ref: `#/components/schemas/${root}` });
}

/** The definition carrying x-kubernetes-group-version-kind for apiVersion/kind, or `noSchema`. */
export function openAPIPatchSchemaForKind(definitions: Record<string, unknown>, apiVersion: string, kind: string): PatchSchema {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  for (const [name, d] of Object.entries(definitions)) {
    if (!isRaw(d)) continue;
    const gvks = d['x-kubernetes-group-version-kind'];
    if (!Array.isArray(gvks)) continue;
    if (gvks.some((g) => isRaw(g) && (g.group ?? '') === group && g.version === version && g.kind === kind)) {
      return openAPIPatchSchema(definitions, name);
    }
  }
  return noSchema;
}
