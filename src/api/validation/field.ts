// Field paths and FieldError constructors shaped like apimachinery's
// util/validation/field, so validators read like their Kubernetes originals.
import type { FieldError } from '../errors.js';

/** A field path as field.Path prints it: `spec.ports[0].name`, `metadata.labels[app]`. */
export class Path {
  // The text is built when an error asks for it: validators derive a path for
  // every field they visit, and most objects have no error at all.
  private text: string | undefined;
  private constructor(
    private readonly parent: Path | undefined,
    private readonly step: (parent: string) => string,
    text?: string,
  ) {
    this.text = text;
  }
  static root(...names: string[]): Path {
    return new Path(undefined, () => '', names.join('.'));
  }
  child(...names: string[]): Path {
    return new Path(this, (t) => [t, ...names].filter((s) => s !== '').join('.'));
  }
  index(i: number): Path { return new Path(this, (t) => `${t}[${i}]`); }
  key(k: string): Path { return new Path(this, (t) => `${t}[${k}]`); }
  toString(): string {
    if (this.text === undefined) this.text = this.step(this.parent ? this.parent.toString() : '');
    return this.text;
  }
}

export const field = {
  required: (p: Path, detail = ''): FieldError => ({ type: 'FieldValueRequired', field: p.toString(), detail }),
  invalid: (p: Path, value: unknown, detail = ''): FieldError => ({ type: 'FieldValueInvalid', field: p.toString(), value, detail }),
  duplicate: (p: Path, value: unknown): FieldError => ({ type: 'FieldValueDuplicate', field: p.toString(), value }),
  forbidden: (p: Path, detail: string): FieldError => ({ type: 'FieldValueForbidden', field: p.toString(), detail }),
  notFound: (p: Path, value: unknown): FieldError => ({ type: 'FieldValueNotFound', field: p.toString(), value }),
  /** field.NotSupported: the valid values are listed quoted, in the order given (Kubernetes often sorts them first). */
  notSupported: (p: Path, value: unknown, valid: readonly string[]): FieldError => ({
    type: 'FieldValueNotSupported', field: p.toString(), value,
    detail: valid.length ? `supported values: ${valid.map((v) => JSON.stringify(v)).join(', ')}` : '',
  }),
  /** field.TooLong: current apimachinery omits the (long) value. */
  tooLong: (p: Path, max: number): FieldError => ({ type: 'FieldValueTooLong', field: p.toString(), detail: `must have at most ${max} bytes` }),
  tooMany: (p: Path, actual: number, max: number): FieldError =>
    ({ type: 'FieldValueTooMany', field: p.toString(), value: actual, detail: `must have at most ${max} items` }),
  internal: (p: Path, detail: string): FieldError => ({ type: 'InternalError', field: p.toString(), detail }),
};

/** Turns each message of a format check into field.Invalid(path, value, msg). */
export function invalidEach(p: Path, value: unknown, msgs: readonly string[]): FieldError[] {
  return msgs.map((m) => field.invalid(p, value, m));
}
