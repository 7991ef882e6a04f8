// Type checking of decoded bodies against our OpenAPI schemas, as decoding
// JSON into Go structs does in kube-apiserver: a string where an integer
// belongs is a 400 BadRequest with encoding/json's wording, before any
// defaulting or validation sees the object.
import { definitions, resolveSchema, schemaFor, type Schema } from './openapi/index.js';

const REF = '#/components/schemas/';

function refName(s: Schema): string | undefined {
  const r = s.$ref ?? (s.allOf?.length === 1 ? s.allOf[0]!.$ref : undefined);
  return r?.startsWith(REF) ? r.slice(REF.length) : undefined;
}

function shortName(def: string): string {
  // io.k8s.api.core.v1.ServiceSpec → v1.ServiceSpec (Go's package.Type).
  const parts = def.split('.');
  return parts.slice(-2).join('.');
}

function goType(s: Schema): string {
  const name = refName(s);
  const r = resolveSchema(s);
  if (r.format === 'int-or-string') return 'intstr.IntOrString';
  if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') return 'resource.Quantity';
  if (name && r.type === 'object' && r.properties) return shortName(name);
  switch (r.type) {
    case 'string': return 'string';
    case 'boolean': return 'bool';
    case 'integer': return r.format === 'int64' ? 'int64' : 'int32';
    case 'number': return 'float64';
    case 'array': return `[]${r.items ? goType(r.items) : 'interface {}'}`;
    case 'object':
      if (r.additionalProperties && typeof r.additionalProperties === 'object') return `map[string]${goType(r.additionalProperties)}`;
      return name ? shortName(name) : 'map[string]interface {}';
    default: return name ? shortName(name) : 'interface {}';
  }
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return typeof v === 'boolean' ? 'bool' : typeof v;
}

/** Whether v fits the scalar/shape of a (resolved) schema. null fits anything (Go leaves the zero value). */
function fits(v: unknown, r: Schema): boolean {
  if (v === null) return true;
  if (r.format === 'int-or-string') return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
  if (r.oneOf) return r.oneOf.some((o) => fits(v, resolveSchema(o)));
  switch (r.type) {
    case 'string': return typeof v === 'string';
    case 'boolean': return typeof v === 'boolean';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'array': return Array.isArray(v);
    case 'object': return typeof v === 'object' && !Array.isArray(v);
    default: return true;
  }
}

/**
 * The first type error in obj, as `json: cannot unmarshal <json> into Go struct
 * field <Struct>.<path> of type <go type>`, or undefined when the types fit.
 */
export function typeError(obj: unknown, apiVersion: string, kind: string): string | undefined {
  const root = schemaFor(apiVersion, kind);
  if (!root) return undefined;
  void definitions;
  type Frame = { v: unknown; s: Schema; path: string; struct: string };
  const rootName = shortName(`x.${kind}`);
  const stack: Frame[] = [{ v: obj, s: root, path: '', struct: rootName }];
  while (stack.length) {
    const { v, s, path, struct } = stack.shift()!;
    const r = resolveSchema(s);
    if (!fits(v, r)) {
      if (!path) return `json: cannot unmarshal ${jsonKind(v)} into Go value of type ${goType(s)}`;
      return `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${struct}.${path} of type ${goType(s)}`;
    }
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      if (r.items) for (const item of v) stack.push({ v: item, s: r.items, path, struct });
      continue;
    }
    if (r.properties) {
      const name = refName(s);
      const here = name ? shortName(name).split('.')[1]! : struct;
      for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
        const cs = r.properties[k];
        if (!cs) continue; // unknown fields are fieldValidation's business
        stack.push({ v: child, s: cs, path: path ? `${path}.${k}` : k, struct: path ? struct : here });
      }
    } else if (r.additionalProperties && typeof r.additionalProperties === 'object') {
      for (const child of Object.values(v as Record<string, unknown>)) stack.push({ v: child, s: r.additionalProperties, path, struct });
    }
  }
  return undefined;
}

const resolved = new WeakMap<Schema, Schema>();

/** resolveSchema, remembered per schema object (the schemas are frozen and live for the process). */
function resolveCached(s: Schema): Schema {
  let r = resolved.get(s);
  if (!r) {
    r = resolveSchema(s);
    resolved.set(s, r);
  }
  return r;
}

/**
 * Whether obj certainly has no type error (typeError) and no field its schema
 * does not declare (unknownFields): one walk without building any path, so
 * that a well-formed body, the usual case, costs little. False means "look
 * closer" with those two functions, which give the messages.
 */
export function wellFormed(obj: unknown, apiVersion: string, kind: string): boolean {
  const root = schemaFor(apiVersion, kind);
  return !root || clean(obj, root);
}

function clean(v: unknown, s: Schema): boolean {
  const r = resolveCached(s);
  if (!fits(v, r)) return false;
  if (v === null || typeof v !== 'object') return true;
  if (r.oneOf) {
    // unknownFields stops at a oneOf (IntOrString, Quantity); typeError would look further if it could.
    return !r.items && !r.properties && !(r.additionalProperties && typeof r.additionalProperties === 'object');
  }
  if (Array.isArray(v)) {
    if (r.items) for (const item of v) if (!clean(item, r.items)) return false;
    return true;
  }
  const o = v as Record<string, unknown>;
  if (r.properties) {
    const props = r.properties;
    for (const k of Object.keys(o)) {
      const cs = Object.prototype.hasOwnProperty.call(props, k) ? props[k] : undefined;
      if (!cs || !clean(o[k], cs)) return false;
    }
  } else if (r.additionalProperties && typeof r.additionalProperties === 'object') {
    const ap = r.additionalProperties;
    for (const k of Object.keys(o)) if (!clean(o[k], ap)) return false;
  }
  return true;
}
