// Per-kind defaulting and validation entry points, over the pure functions in
// api/defaults and api/validation.
import type { FieldError } from '../api/errors.js';
import type { Obj } from './registry/generic.js';

export function validateObject(kind: string, o: Obj): FieldError[] {
  void kind; void o;
  return [];
}

export function validateObjectUpdate(kind: string, o: Obj, old: Obj): FieldError[] {
  void kind; void o; void old;
  return [];
}

export function applyDefaults(kind: string, o: Obj): void {
  void kind; void o;
}
