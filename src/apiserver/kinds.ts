// Per-kind defaulting and validation entry points, over the pure functions in
// api/defaults and api/validation.
import type { FieldError } from '../api/errors.js';
import { setDefaults } from '../api/defaults/index.js';
import { validate } from '../api/validation/index.js';
import type { Obj } from './registry/generic.js';

export function validateObject(kind: string, o: Obj): FieldError[] {
  return validate(kind, o);
}

export function validateObjectUpdate(kind: string, o: Obj, old: Obj): FieldError[] {
  return validate(kind, o, old);
}

export function applyDefaults(kind: string, o: Obj): void {
  setDefaults(kind, o);
}
