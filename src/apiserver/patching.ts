// The four PATCH content types over the pure engines in ./patch.
import { errors } from '../api/errors.js';
import type { Obj } from './registry/generic.js';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export interface PatchContext {
  apiVersion: string;
  kind: string;
  fieldManager: string;
  force: boolean;
  subresource: string;
}

export function applyPatch(type: PatchType, current: Obj | undefined, patch: unknown, ctx: PatchContext): unknown {
  void type; void current; void patch; void ctx;
  throw errors.unsupportedMediaType('');
}
