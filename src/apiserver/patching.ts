// The four PATCH content types and managedFields bookkeeping, over the pure
// engines in ./patch with patch metadata from our OpenAPI schemas.
import { resources, groupVersion } from '../api/resources.js';
import { definitions } from './openapi/index.js';
import { applyJsonPatch } from './patch/jsonpatch.js';
import { applyMergePatch } from './patch/mergepatch.js';
import { strategicMergePatch } from './patch/strategic.js';
import { serverSideApply, updateManagedFields } from './patch/apply.js';
import { openAPIPatchSchemaForKind, type PatchSchema } from './patch/schema.js';
import type { JsonObject, JsonValue } from './patch/json.js';
import type { Obj } from './registry/generic.js';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export interface PatchContext {
  apiVersion: string;
  kind: string;
  fieldManager: string;
  force: boolean;
  subresource: string;
}

const schemaCache = new Map<string, PatchSchema>();
function schemaFor(apiVersion: string, kind: string): PatchSchema {
  const k = `${apiVersion}/${kind}`;
  let s = schemaCache.get(k);
  if (!s) {
    s = openAPIPatchSchemaForKind(definitions() as Record<string, unknown>, apiVersion, kind);
    schemaCache.set(k, s);
  }
  return s;
}

const withStatus = new Map<string, boolean>();
function hasStatusSubresource(apiVersion: string, kind: string): boolean {
  const k = `${apiVersion}/${kind}`;
  let v = withStatus.get(k);
  if (v === undefined) {
    v = resources.some((r) => groupVersion(r) === apiVersion && r.kind === kind && r.subresources.includes('status'));
    withStatus.set(k, v);
  }
  return v;
}

const STATUS_ONLY: string[][] = [['status']];

/** What a write to the main resource may not own: status lives behind /status. */
function resetFields(apiVersion: string, kind: string, subresource: string): string[][] | undefined {
  if (subresource === 'status') return undefined;
  return hasStatusSubresource(apiVersion, kind) ? STATUS_ONLY : undefined;
}

export function applyPatch(type: PatchType, current: Obj | undefined, patch: unknown, ctx: PatchContext): unknown {
  const cur = (current ?? {}) as unknown as JsonObject;
  switch (type) {
    case 'json': return applyJsonPatch(cur, patch as JsonValue);
    case 'merge': return applyMergePatch(cur, patch as JsonValue);
    case 'strategic': return strategicMergePatch(cur, patch as JsonValue, schemaFor(ctx.apiVersion, ctx.kind));
    case 'apply':
      return serverSideApply(current as unknown as JsonObject | undefined, patch as JsonObject, {
        schema: schemaFor(ctx.apiVersion, ctx.kind), apiVersion: ctx.apiVersion, kind: ctx.kind,
        fieldManager: ctx.fieldManager, force: ctx.force, subresource: ctx.subresource || undefined,
        resetFields: resetFields(ctx.apiVersion, ctx.kind, ctx.subresource),
      });
  }
}

/** Records an Update entry for `manager` in obj's managedFields (create: old undefined). */
export function trackManagedFields(old: Obj | undefined, obj: Obj, manager: string, subresource: string): Obj {
  const apiVersion = obj.apiVersion ?? 'v1';
  const kind = obj.kind ?? '';
  return updateManagedFields(old as unknown as JsonObject | undefined, obj as unknown as JsonObject, manager, {
    schema: schemaFor(apiVersion, kind), apiVersion, subresource: subresource || undefined,
    resetFields: resetFields(apiVersion, kind, subresource),
  }) as unknown as Obj;
}

/** The manager name kube-apiserver derives from a User-Agent: `kubectl/v1.32.4 (linux/amd64) …` → `kubectl`. */
export function managerFromUserAgent(ua: string | undefined): string {
  const first = (ua ?? '').split('/')[0]!.trim();
  return first.slice(0, 128) || 'unknown';
}
