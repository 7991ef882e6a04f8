// Field selectors, as k8s.io/apimachinery/pkg/fields implements them
// (`?fieldSelector=`, `kubectl --field-selector`), plus what kube-apiserver
// allows to be selected per kind:
//  - the field label conversion funcs (pkg/apis/core/v1/conversion.go and
//    runtime.DefaultMetaV1FieldSelectorConversion) decide which field paths a
//    request may name, and word the rejection;
//  - each registry's ToSelectableFields/GetAttrs gives the string a field
//    path has on a stored object.
// Texts follow Kubernetes 1.32.

/** The three operators a field selector term may use. */
export type FieldOperator = '=' | '==' | '!=';

export interface FieldRequirement {
  readonly field: string;
  readonly operator: FieldOperator;
  /** Unescaped. */
  readonly value: string;
}

/** A field selector that failed to parse or names an unsupported field. */
export class FieldSelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FieldSelectorError';
  }
}

// ---------------------------------------------------------------------------
// Escaping: `\`, `,` and `=` in a value are written `\\`, `\,`, `\=`.

/** fields.EscapeValue. */
export function escapeValue(s: string): string {
  return s.replace(/[\\,=]/g, (c) => `\\${c}`);
}

/** fields.UnescapeValue; throws FieldSelectorError with apimachinery's text. */
export function unescapeValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') {
        throw new FieldSelectorError(`invalid field selector: invalid escape sequence: \\${c}`);
      }
      out += c;
      inSlash = false;
      continue;
    }
    if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') {
      // Go formats the rune with %v, which prints its code point: "61" for '='.
      throw new FieldSelectorError(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    } else out += c;
  }
  if (inSlash) throw new FieldSelectorError('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** Splits on commas that are not escaped; escapes stay in the terms. */
function splitTerms(selector: string): string[] {
  if (selector === '') return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') { terms.push(selector.slice(start, i)); start = i + 1; }
  }
  terms.push(selector.slice(start));
  return terms;
}

/** The first operator occurrence splits the term: the field part has no escaping. */
function splitTerm(term: string): { lhs: string; op: FieldOperator; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    // "!=" and "==" are tried before "=" so that "a==b" does not leave "=b".
    for (const op of ['!=', '==', '='] as const) {
      if (term.startsWith(op, i)) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
    }
  }
  return undefined;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * fields.ParseSelector: `a=b`, `a==b`, `a!=b`, comma-separated, values with
 * backslash escapes. Empty terms are skipped; terms come back sorted by their
 * raw text, as Go sorts them. Throws FieldSelectorError.
 */
export function parse(selector: string): FieldRequirement[] {
  const parts = splitTerms(selector).sort(compareStrings);
  const reqs: FieldRequirement[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const t = splitTerm(part);
    if (!t) throw new FieldSelectorError(`invalid selector: '${selector}'; can't understand '${part}'`);
    reqs.push({ field: t.lhs, operator: t.op, value: unescapeValue(t.rhs) });
  }
  return reqs;
}

/** Selector.String(): terms joined by ",", values escaped ("==" prints as "="). */
export function toString(requirements: readonly FieldRequirement[]): string {
  return requirements.map((r) => `${r.field}${r.operator === '!=' ? '!=' : '='}${escapeValue(r.value)}`).join(',');
}

/** fields.SelectorFromSet: one "=" term per entry. */
export function selectorFromSet(set: Readonly<Record<string, string>> | undefined | null): FieldRequirement[] {
  if (!set) return [];
  return Object.keys(set).sort(compareStrings).map((k) => ({ field: k, operator: '=' as const, value: set[k]! }));
}

/**
 * Whether a set of selectable fields satisfies every term. A field absent from
 * the set reads as "" (fields.Set.Get), so `spec.nodeName=` selects unscheduled
 * pods and `x!=y` holds for objects without x.
 */
export function matches(requirements: readonly FieldRequirement[], fields: Readonly<Record<string, string>>): boolean {
  return requirements.every((r) => {
    const v = Object.prototype.hasOwnProperty.call(fields, r.field) ? fields[r.field]! : '';
    return r.operator === '!=' ? v !== r.value : v === r.value;
  });
}

/** Selector.RequiresExactMatch: the value an "="/"==" term pins `field` to. */
export function requiresExactMatch(requirements: readonly FieldRequirement[], field: string): string | undefined {
  for (const r of requirements) {
    if (r.field === field && r.operator !== '!=') return r.value;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// What each kind lets a request select

interface KindRules {
  /** Field paths a request may name. */
  readonly accepted: readonly string[];
  /** Old names kube-apiserver still accepts and rewrites. */
  readonly renamed?: Readonly<Record<string, string>>;
  /** The rejection text for any other path. */
  readonly reject: (label: string) => string;
}

// Kinds with a registered conversion func use its terse text; all others get
// the default meta conversion text, listing only metadata.name/namespace.
const notSupported = (label: string): string => `field label not supported: ${label}`;
const metadataOnly: KindRules = {
  accepted: ['metadata.name', 'metadata.namespace'],
  reject: (label) => `${JSON.stringify(label)} is not a known field selector: only "metadata.name", "metadata.namespace"`,
};

const rules: Readonly<Record<string, KindRules>> = {
  Pod: {
    accepted: ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName',
      'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
    // Old v1 clients sent spec.host.
    renamed: { 'spec.host': 'spec.nodeName' },
    reject: notSupported,
  },
  // Nodes and Namespaces are cluster-scoped: their conversion funcs do not
  // accept metadata.namespace.
  Node: { accepted: ['metadata.name', 'spec.unschedulable'], reject: notSupported },
  Namespace: { accepted: ['status.phase', 'metadata.name'], reject: notSupported },
  Event: {
    accepted: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid',
      'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason',
      'reportingComponent', 'source', 'type', 'metadata.namespace', 'metadata.name'],
    reject: notSupported,
  },
  // The ReplicaSet registry exposes status.replicas as a selectable field.
  ReplicaSet: { accepted: ['metadata.name', 'metadata.namespace', 'status.replicas'], reject: metadataOnly.reject },
};

function rulesFor(kind: string): KindRules {
  return Object.prototype.hasOwnProperty.call(rules, kind) ? rules[kind]! : metadataOnly;
}

/**
 * runtime.Scheme.ConvertFieldLabel for `kind`: the canonical field path, or a
 * FieldSelectorError with kube-apiserver's text (which the API server returns
 * as a 400 BadRequest).
 */
export function convertFieldLabel(kind: string, label: string): string {
  const r = rulesFor(kind);
  if (r.accepted.includes(label)) return label;
  const renamed = r.renamed?.[label];
  if (renamed !== undefined) return renamed;
  throw new FieldSelectorError(r.reject(label));
}

/**
 * Selector.Transform with the kind's conversion: every term checked (in the
 * selector's order, so the first bad term is the one reported) and renamed.
 */
export function convertSelector(kind: string, requirements: readonly FieldRequirement[]): FieldRequirement[] {
  return requirements.map((r) => ({ ...r, field: convertFieldLabel(kind, r.field) }));
}

// ---------------------------------------------------------------------------
// Selectable values of stored (v1) objects

interface Meta { name?: string; namespace?: string }
type Obj = { metadata?: Meta } & Record<string, unknown>;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function rec(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

// Whether a kind's objects carry metadata.namespace in their field set
// (generic.ObjectMetaFieldsSet's hasNamespaceField).
const clusterScoped = new Set(['Node', 'Namespace']);

/**
 * The registry's field set for an object of `kind` (e.g. pod.ToSelectableFields):
 * every selectable path mapped to the string matching compares against.
 */
export function selectableFields(kind: string, obj: object): Record<string, string> {
  const o = obj as Obj;
  const meta = rec(o.metadata);
  const spec = rec(o['spec']);
  const status = rec(o['status']);
  const set: Record<string, string> = { 'metadata.name': str(meta['name']) };
  if (!clusterScoped.has(kind)) set['metadata.namespace'] = str(meta['namespace']);
  switch (kind) {
    case 'Pod': {
      const podIPs = Array.isArray(status['podIPs']) ? (status['podIPs'] as unknown[]) : [];
      // v1 objects may carry only status.podIP; conversion to the internal
      // type turns it into podIPs[0], which is what the registry reads.
      const podIP = podIPs.length > 0 ? str(rec(podIPs[0])['ip']) : str(status['podIP']);
      Object.assign(set, {
        'spec.nodeName': str(spec['nodeName']),
        'spec.restartPolicy': str(spec['restartPolicy']),
        'spec.schedulerName': str(spec['schedulerName']),
        'spec.serviceAccountName': str(spec['serviceAccountName']),
        'spec.hostNetwork': spec['hostNetwork'] === true ? 'true' : 'false',
        'status.phase': str(status['phase']),
        'status.podIP': podIP,
        'status.nominatedNodeName': str(status['nominatedNodeName']),
      });
      break;
    }
    case 'Node':
      set['spec.unschedulable'] = spec['unschedulable'] === true ? 'true' : 'false';
      break;
    case 'Namespace':
      set['status.phase'] = str(status['phase']);
      break;
    case 'ReplicaSet':
      set['status.replicas'] = String(typeof status['replicas'] === 'number' ? status['replicas'] : 0);
      break;
    case 'Event': {
      const io = rec(o['involvedObject']);
      const source = rec(o['source']);
      // "source" falls back to the events.k8s.io reporter for events that
      // only carry the new fields.
      const component = str(source['component']) || str(o['reportingComponent']);
      Object.assign(set, {
        'involvedObject.kind': str(io['kind']),
        'involvedObject.namespace': str(io['namespace']),
        'involvedObject.name': str(io['name']),
        'involvedObject.uid': str(io['uid']),
        'involvedObject.apiVersion': str(io['apiVersion']),
        'involvedObject.resourceVersion': str(io['resourceVersion']),
        'involvedObject.fieldPath': str(io['fieldPath']),
        'reason': str(o['reason']),
        'reportingComponent': str(o['reportingComponent']),
        'source': component,
        'type': str(o['type']),
      });
      break;
    }
    default:
      break;
  }
  return set;
}

/**
 * The value `fieldPath` has on `obj` for field-selector matching, or undefined
 * when the kind does not expose that path.
 */
export function fieldValue(kind: string, obj: object, fieldPath: string): string | undefined {
  const set = selectableFields(kind, obj);
  return Object.prototype.hasOwnProperty.call(set, fieldPath) ? set[fieldPath] : undefined;
}

/** Whether `obj` of `kind` satisfies already-converted requirements. */
export function objectMatches(kind: string, obj: object, requirements: readonly FieldRequirement[]): boolean {
  return requirements.length === 0 || matches(requirements, selectableFields(kind, obj));
}
