// ObjectMeta, labels, annotations, owner references, finalizers and label
// selectors, as apimachinery's api/validation/objectmeta.go and
// apis/meta/v1/validation validate them, plus core's extra finalizer rule
// (pkg/apis/core/validation ValidateObjectMeta).
import type { LabelSelector, ObjectMeta, OwnerReference } from 'kubernetes-types/meta/v1.js';
import { goValue, type FieldError } from '../errors.js';
import { field, invalidEach, Path } from './field.js';
import { IsQualifiedName, IsValidLabelValue, NameIsDNSLabel, type ValidateNameFunc } from './names.js';

export const FieldImmutableErrorMsg = 'field is immutable';
export const IsNegativeErrorMsg = 'must be greater than or equal to 0';
/** 256 kB, counted over keys and values together. */
export const TotalAnnotationSizeLimitB = 256 * (1 << 10);

/** Finalizer names Kubernetes itself defines; any other must be domain-qualified. */
const standardFinalizers = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

export function ValidateNonnegativeField(value: number, p: Path): FieldError[] {
  return value < 0 ? [field.invalid(p, value, IsNegativeErrorMsg)] : [];
}

/** Deep equality over JSON values, as apiequality.Semantic.DeepEqual on decoded objects. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => deepEqual(v, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => deepEqual(ao[k], bo[k]));
}

export function ValidateImmutableField(newVal: unknown, oldVal: unknown, p: Path): FieldError[] {
  // A nil pointer prints as `null`; callers pass '' for Go strings.
  return deepEqual(newVal, oldVal) ? [] : [field.invalid(p, newVal ?? null, FieldImmutableErrorMsg)];
}

export function ValidateLabelName(name: string, p: Path): FieldError[] {
  return invalidEach(p, name, IsQualifiedName(name));
}

export function ValidateLabels(labels: Readonly<Record<string, string>> | undefined, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    errs.push(...ValidateLabelName(k, p));
    errs.push(...invalidEach(p, v, IsValidLabelValue(v)));
  }
  return errs;
}

export function ValidateAnnotations(annotations: Readonly<Record<string, string>> | undefined, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    // Annotation keys are qualified names in any case.
    errs.push(...invalidEach(p, k, IsQualifiedName(k.toLowerCase())));
    total += Buffer.byteLength(k) + Buffer.byteLength(v ?? '');
  }
  if (total > TotalAnnotationSizeLimitB) errs.push(field.tooLong(p, TotalAnnotationSizeLimitB));
  return errs;
}

function parseAPIVersion(apiVersion: string): { group: string; version: string } {
  if (apiVersion === '' || apiVersion === '/') return { group: '', version: '' };
  const parts = apiVersion.split('/');
  if (parts.length === 1) return { group: '', version: parts[0] };
  if (parts.length === 2) return { group: parts[0], version: parts[1] };
  return { group: '', version: '' };
}

function goOwnerRef(r: OwnerReference): string {
  const ptr = (v: boolean | undefined) => (v === undefined ? '(*bool)(nil)' : `(*bool)(${v})`);
  return `v1.OwnerReference{APIVersion:${JSON.stringify(r.apiVersion ?? '')}, Kind:${JSON.stringify(r.kind ?? '')}, ` +
    `Name:${JSON.stringify(r.name ?? '')}, UID:${JSON.stringify(r.uid ?? '')}, Controller:${ptr(r.controller)}, BlockOwnerDeletion:${ptr(r.blockOwnerDeletion)}}`;
}

export function ValidateOwnerReferences(refs: readonly OwnerReference[] | undefined, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  let firstController = '';
  for (const ref of refs ?? []) {
    const gv = parseAPIVersion(ref.apiVersion ?? '');
    if (!gv.version) errs.push(field.invalid(p.child('apiVersion'), ref.apiVersion ?? '', 'version must not be empty'));
    if (!ref.kind) errs.push(field.invalid(p.child('kind'), ref.kind ?? '', 'must not be empty'));
    if (!ref.name) errs.push(field.invalid(p.child('name'), ref.name ?? '', 'must not be empty'));
    if (!ref.uid) errs.push(field.invalid(p.child('uid'), ref.uid ?? '', 'must not be empty'));
    // Events may not own anything (BannedOwners).
    if (gv.group === '' && gv.version === 'v1' && ref.kind === 'Event') {
      errs.push(field.invalid(p, goValue.raw(goOwnerRef(ref)), '/v1, Kind=Event is disallowed from being an owner'));
    }
    if (ref.controller) {
      const cur = `${ref.kind}/${ref.name}`;
      if (firstController) {
        errs.push(field.invalid(p, goValue.raw(`[]v1.OwnerReference{${(refs ?? []).map(goOwnerRef).join(', ')}}`),
          `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${cur}`));
      } else {
        firstController = cur;
      }
    }
  }
  return errs;
}

export function ValidateFinalizerName(name: string, p: Path): FieldError[] {
  return invalidEach(p, name, IsQualifiedName(name));
}

/** pkg/apis/core/validation: a finalizer without a '/' must be one Kubernetes defines. */
export function validateKubeFinalizerName(name: string, p: Path): FieldError[] {
  if (name.split('/').length === 1 && !standardFinalizers.has(name)) {
    return [field.invalid(p, name, 'name is neither a standard finalizer name nor is it fully qualified')];
  }
  return [];
}

export function ValidateFinalizers(finalizers: readonly string[] | undefined, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  let orphan = false;
  let foreground = false;
  for (const f of finalizers ?? []) {
    errs.push(...ValidateFinalizerName(f, p));
    if (f === 'orphan') orphan = true;
    if (f === 'foregroundDeletion') foreground = true;
  }
  if (orphan && foreground) {
    errs.push(field.invalid(p, goValue.slice(finalizers), 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  return errs;
}

/**
 * ValidateObjectMeta for objects on creation (name generation already done).
 * `requiresNamespace` is true for namespaced kinds. Core's variant also
 * checks finalizer names against the standard ones.
 */
export function ValidateObjectMeta(meta: ObjectMeta | undefined, requiresNamespace: boolean, nameFn: ValidateNameFunc, p: Path = Path.root('metadata')): FieldError[] {
  const m = meta ?? {};
  const errs: FieldError[] = [];
  if (m.generateName) errs.push(...invalidEach(p.child('generateName'), m.generateName, nameFn(m.generateName, true)));
  if (!m.name) errs.push(field.required(p.child('name'), 'name or generateName is required'));
  else errs.push(...invalidEach(p.child('name'), m.name, nameFn(m.name, false)));
  if (requiresNamespace) {
    if (!m.namespace) errs.push(field.required(p.child('namespace'), ''));
    else errs.push(...invalidEach(p.child('namespace'), m.namespace, NameIsDNSLabel(m.namespace, false)));
  } else if (m.namespace) {
    errs.push(field.forbidden(p.child('namespace'), 'not allowed on this type'));
  }
  errs.push(...ValidateNonnegativeField(m.generation ?? 0, p.child('generation')));
  errs.push(...ValidateLabels(m.labels, p.child('labels')));
  errs.push(...ValidateAnnotations(m.annotations, p.child('annotations')));
  errs.push(...ValidateOwnerReferences(m.ownerReferences, p.child('ownerReferences')));
  errs.push(...ValidateFinalizers(m.finalizers, p.child('finalizers')));
  for (const f of m.finalizers ?? []) errs.push(...validateKubeFinalizerName(f, p.child('finalizers')));
  return errs;
}

/**
 * ValidateObjectMetaUpdate: identity fields are immutable. As in
 * kube-apiserver, the registry fills a missing resourceVersion for
 * unconditional updates before this runs; an empty one here is an error.
 */
export function ValidateObjectMetaUpdate(newMeta: ObjectMeta | undefined, oldMeta: ObjectMeta | undefined, p: Path = Path.root('metadata')): FieldError[] {
  const n = newMeta ?? {};
  const o = oldMeta ?? {};
  const errs: FieldError[] = [];
  if (o.deletionTimestamp) {
    const oldSet = new Set(o.finalizers ?? []);
    const extra = [...new Set((n.finalizers ?? []).filter((f) => !oldSet.has(f)))].sort();
    if (extra.length) {
      errs.push(field.forbidden(p.child('finalizers'),
        `no new finalizers can be added if the object is being deleted, found new finalizers ${goValue.slice(extra).text}`));
    }
  }
  if (!n.resourceVersion) errs.push(field.invalid(p.child('resourceVersion'), n.resourceVersion ?? '', 'must be specified for an update'));
  if ((n.generation ?? 0) < (o.generation ?? 0)) errs.push(field.invalid(p.child('generation'), n.generation ?? 0, 'must not be decremented'));
  errs.push(...ValidateImmutableField(n.name ?? '', o.name ?? '', p.child('name')));
  errs.push(...ValidateImmutableField(n.namespace ?? '', o.namespace ?? '', p.child('namespace')));
  errs.push(...ValidateImmutableField(n.uid ?? '', o.uid ?? '', p.child('uid')));
  errs.push(...ValidateImmutableField(n.creationTimestamp ?? '', o.creationTimestamp ?? '', p.child('creationTimestamp')));
  errs.push(...ValidateImmutableField(n.deletionTimestamp ?? '', o.deletionTimestamp ?? '', p.child('deletionTimestamp')));
  errs.push(...ValidateImmutableField(n.deletionGracePeriodSeconds ?? null, o.deletionGracePeriodSeconds ?? null, p.child('deletionGracePeriodSeconds')));
  errs.push(...ValidateLabels(n.labels, p.child('labels')));
  errs.push(...ValidateAnnotations(n.annotations, p.child('annotations')));
  errs.push(...ValidateOwnerReferences(n.ownerReferences, p.child('ownerReferences')));
  errs.push(...ValidateFinalizers(n.finalizers, p.child('finalizers')));
  for (const f of n.finalizers ?? []) errs.push(...validateKubeFinalizerName(f, p.child('finalizers')));
  return errs;
}

// Label selectors (apis/meta/v1/validation ValidateLabelSelector) and matching
// (metav1.LabelSelectorAsSelector semantics).

export function ValidateLabelSelector(ps: LabelSelector | undefined, p: Path): FieldError[] {
  if (!ps) return [];
  const errs = ValidateLabels(ps.matchLabels, p.child('matchLabels'));
  (ps.matchExpressions ?? []).forEach((sr, i) => {
    const ip = p.child('matchExpressions').index(i);
    switch (sr.operator) {
      case 'In':
      case 'NotIn':
        if (!sr.values || sr.values.length === 0) {
          errs.push(field.required(ip.child('values'), "must be specified when `operator` is 'In' or 'NotIn'"));
        }
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (sr.values && sr.values.length > 0) {
          errs.push(field.forbidden(ip.child('values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        }
        break;
      default:
        errs.push(field.invalid(ip.child('operator'), sr.operator, 'not a valid selector operator'));
    }
    errs.push(...ValidateLabelName(sr.key, ip.child('key')));
    (sr.values ?? []).forEach((v, j) => errs.push(...invalidEach(ip.child('values').index(j), v, IsValidLabelValue(v))));
  });
  return errs;
}

/** Whether a LabelSelector selects these labels; an empty selector selects everything. */
export function labelSelectorMatches(ps: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(ps.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const sr of ps.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, sr.key);
    const vals = sr.values ?? [];
    switch (sr.operator) {
      case 'In': if (!has || !vals.includes(l[sr.key])) return false; break;
      case 'NotIn': if (has && vals.includes(l[sr.key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

/** `%#v` of a *metav1.LabelSelector, as validation messages show it. */
export function goLabelSelector(ps: LabelSelector | undefined): string {
  if (!ps) return '<nil>';
  const ml = goValue.stringMap(ps.matchLabels).text;
  const me = ps.matchExpressions === undefined
    ? '[]v1.LabelSelectorRequirement(nil)'
    : `[]v1.LabelSelectorRequirement{${ps.matchExpressions.map((r) =>
      `v1.LabelSelectorRequirement{Key:${JSON.stringify(r.key)}, Operator:${JSON.stringify(r.operator)}, Values:${goValue.slice(r.values).text}}`).join(', ')}}`;
  return `v1.LabelSelector{MatchLabels:${ml}, MatchExpressions:${me}}`;
}
