// The field table of the Kubernetes protobuf messages, generated from a kubectl binary
// by scripts/gen-protobuf.mjs (see that script for the format and the facts behind it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../pkgroot.js';

/** `[jsonName, type, flags?]`; flags: r repeated, m map<string,type>, i inline, o omit when zero. */
export type FieldSpec = readonly [jsonName: string, type: string, flags?: string];
export type MessageSpec = Readonly<Record<string, FieldSpec>>;
export interface ProtobufSchema {
  /** `apiVersion/kind` → message name; `*` stands for every group version. */
  readonly kinds: Readonly<Record<string, string>>;
  readonly messages: Readonly<Record<string, MessageSpec>>;
}

/** Messages whose JSON form is not their fields (custom MarshalJSON in apimachinery). */
export const SPECIAL_MESSAGES = new Set([
  'meta.v1.Time', 'meta.v1.MicroTime', 'meta.v1.Duration', 'meta.v1.FieldsV1',
  'util.intstr.IntOrString', 'api.resource.Quantity', 'runtime.RawExtension',
]);

export const SCALAR_TYPES = new Set([
  'string', 'bytes', 'bool', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64',
  'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'float', 'double',
]);

let cache: ProtobufSchema | undefined;


/** The directory of this folder's sources (schema.json, testdata/), found from the package root. */
export function protobufSourceDir(): string {
  return join(packageRoot(), 'src', 'apiserver', 'protobuf');
}

/** The table, read once from schema.json. */
export function protobufSchema(): ProtobufSchema {
  if (!cache) {
    const raw = JSON.parse(readFileSync(join(protobufSourceDir(), 'schema.json'), 'utf8')) as Partial<ProtobufSchema>;
    if (typeof raw.kinds !== 'object' || raw.kinds === null || typeof raw.messages !== 'object' || raw.messages === null) {
      throw new Error('protobuf: schema.json has no kinds/messages; regenerate it (node scripts/gen-protobuf.mjs)');
    }
    cache = { kinds: raw.kinds, messages: raw.messages };
  }
  return cache;
}

/** The message for an object of this apiVersion and kind, or undefined when the table has none. */
export function messageForKind(apiVersion: string, kind: string): string | undefined {
  const { kinds } = protobufSchema();
  return kinds[`${apiVersion}/${kind}`] ?? kinds[`*/${kind}`];
}
