// The pod-template-hash: kube's controller.ComputeHash is fnv32a over a deep
// print of the PodTemplateSpec plus the collision count, rendered with
// rand.SafeEncodeString. We hash a canonical JSON rendering instead of Go's
// spew output, so values differ from kube's; the properties that matter are
// kept: stable for equal templates, different after any change, and made of
// the same 27 "safe" characters (no vowels, no 0/1/3, so no words and no
// look-alikes), at most 10 of them.
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';

export const podTemplateHashLabel = 'pod-template-hash';

const safeAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

/** rand.SafeEncodeString: each byte of s picks a character of the safe alphabet. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += safeAlphabet[s.charCodeAt(i) % safeAlphabet.length];
  return out;
}

/** FNV-1a, 32 bits. */
export function fnv32a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Drops null, undefined, empty objects and empty arrays, and sorts keys: a
 * template read back from the server (where `creationTimestamp: null` or an
 * empty `resources: {}` may come and go) compares and hashes the same.
 */
export function normalize(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) {
    const items = v.map((x) => normalize(x) ?? null);
    return items.length ? items : undefined;
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) {
      const n = normalize((v as Record<string, unknown>)[k]);
      if (n !== undefined) out[k] = n;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v;
}

export function canonicalJSON(v: unknown): string {
  return JSON.stringify(normalize(v) ?? {});
}

/** controller.ComputeHash(template, collisionCount). */
export function computeHash(template: PodTemplateSpec | undefined, collisionCount?: number): string {
  const body = new TextEncoder().encode(canonicalJSON(template));
  let h = fnv32a(body);
  if (collisionCount !== undefined && collisionCount !== null) {
    // As kube: the count as a little-endian uint32 in an 8-byte buffer.
    const extra = new Uint8Array(8);
    new DataView(extra.buffer).setUint32(0, collisionCount >>> 0, true);
    h = fnv32a(extra, h);
  }
  return safeEncodeString(String(h));
}

function withoutHash(t: PodTemplateSpec | undefined): unknown {
  const c = structuredClone(t ?? {}) as PodTemplateSpec;
  if (c.metadata?.labels) delete c.metadata.labels[podTemplateHashLabel];
  return c;
}

/** deploymentutil.EqualIgnoreHash: templates equal once the pod-template-hash label is ignored. */
export function equalIgnoreHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return canonicalJSON(withoutHash(a)) === canonicalJSON(withoutHash(b));
}
