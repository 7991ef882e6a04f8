// Kubernetes `Status` errors. Every error that reaches an API client is one of
// these: same reason, code and message text kube-apiserver uses
// (k8s.io/apimachinery/pkg/api/errors).
import type { Status, StatusCause } from 'kubernetes-types/meta/v1.js';

export type StatusReason =
  | 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'AlreadyExists'
  | 'Conflict' | 'Gone' | 'Invalid' | 'ServerTimeout' | 'Timeout' | 'TooManyRequests'
  | 'MethodNotAllowed' | 'NotAcceptable' | 'UnsupportedMediaType' | 'InternalError'
  | 'Expired' | 'ServiceUnavailable' | 'RequestEntityTooLarge';

export interface GroupKind { group: string; kind: string }
export interface GroupResource { group: string; resource: string }

/** One field error, as apimachinery's field.Error. */
export interface FieldError {
  type: FieldErrorType;
  field: string;
  /** The offending value; `undefined` when the error type omits it (Required, Forbidden, TooMany). */
  value?: unknown;
  detail?: string;
}

export type FieldErrorType =
  | 'FieldValueNotFound' | 'FieldValueRequired' | 'FieldValueDuplicate' | 'FieldValueInvalid'
  | 'FieldValueNotSupported' | 'FieldValueForbidden' | 'FieldValueTooLong' | 'FieldValueTooMany'
  | 'InternalError' | 'FieldValueTypeInvalid';

const typeText: Record<FieldErrorType, string> = {
  FieldValueNotFound: 'Not found',
  FieldValueRequired: 'Required value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  InternalError: 'Internal error',
  FieldValueTypeInvalid: 'Invalid value',
};

/**
 * A bad value that field.Error prints with Go's `%#v` (slices, maps, structs):
 * the text is kept verbatim, e.g. `[]string{"10.0.0.1", "10.0.0.2"}` or
 * `map[string]string{"app":"web"}`. Build one with `goValue`.
 */
export class GoLiteral {
  constructor(readonly text: string) {}
  toJSON(): string { return this.text; }
}

/** Go `%#v` renderings of the values Kubernetes' validators pass to field.Invalid/Duplicate. */
export const goValue = {
  /** `[]string{"a", "b"}`; `[]string(nil)` for an absent list. `type` as Go names it (e.g. `core.IPFamily`). */
  slice(values: readonly string[] | undefined | null, type = 'string'): GoLiteral {
    if (values === undefined || values === null) return new GoLiteral(`[]${type}(nil)`);
    return new GoLiteral(`[]${type}{${values.map((v) => JSON.stringify(v)).join(', ')}}`);
  },
  /** `map[string]string{"a":"b", "c":"d"}` with keys sorted as fmt does; `map[string]string(nil)` when absent. */
  stringMap(m: Readonly<Record<string, string>> | undefined | null): GoLiteral {
    if (m === undefined || m === null) return new GoLiteral('map[string]string(nil)');
    const keys = Object.keys(m).sort();
    return new GoLiteral(`map[string]string{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(m[k])}`).join(', ')}}`);
  },
  /** Any other `%#v` text, already rendered. */
  raw(text: string): GoLiteral { return new GoLiteral(text); },
};

/** Renders a value the way apimachinery's field.Error does: strings quoted, numbers bare. */
function renderValue(v: unknown): string {
  if (v instanceof GoLiteral) return v.text;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return '[]' + (v.length ? JSON.stringify(v).replace(/,/g, ' ') : '{}');
  return JSON.stringify(v);
}

/** `<field>: <Type>: <value>: <detail>` as field.Error.Error() prints it. */
export function fieldErrorText(e: FieldError): string {
  const hasValue = !(e.type === 'FieldValueRequired' || e.type === 'FieldValueForbidden' ||
    e.type === 'FieldValueTooMany' || e.type === 'InternalError') && e.value !== undefined;
  let s = `${e.field}: ${typeText[e.type]}`;
  if (hasValue) s += `: ${renderValue(e.value)}`;
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

/** The field-less message part, as used in StatusCause.message. */
export function fieldErrorCauseMessage(e: FieldError): string {
  const full = fieldErrorText(e);
  return full.slice(e.field.length + 2);
}

export const fieldErrors = {
  required: (field: string, detail = ''): FieldError => ({ type: 'FieldValueRequired', field, detail }),
  invalid: (field: string, value: unknown, detail = ''): FieldError => ({ type: 'FieldValueInvalid', field, value, detail }),
  duplicate: (field: string, value: unknown): FieldError => ({ type: 'FieldValueDuplicate', field, value }),
  forbidden: (field: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field, detail }),
  notFound: (field: string, value: unknown): FieldError => ({ type: 'FieldValueNotFound', field, value }),
  tooLong: (field: string, value: unknown, max: number): FieldError =>
    ({ type: 'FieldValueTooLong', field, value, detail: `must have at most ${max} bytes` }),
  tooMany: (field: string, actual: number, max: number): FieldError =>
    ({ type: 'FieldValueTooMany', field, detail: `must have at most ${max} items` + (actual ? '' : '') }),
  notSupported: (field: string, value: unknown, valid: string[]): FieldError => ({
    type: 'FieldValueNotSupported', field, value,
    detail: valid.length ? `supported values: ${valid.map((v) => JSON.stringify(v)).join(', ')}` : '',
  }),
  internal: (field: string, detail: string): FieldError => ({ type: 'InternalError', field, detail }),
};

/** A Kubernetes API error. `status` is what goes on the wire. */
export class StatusError extends Error {
  readonly status: Status;
  constructor(status: Status) {
    super(status.message ?? status.reason ?? 'error');
    this.name = 'StatusError';
    this.status = status;
  }
  get code(): number { return this.status.code ?? 500; }
  get reason(): StatusReason { return (this.status.reason ?? 'InternalError') as StatusReason; }
}

function status(code: number, reason: StatusReason, message: string, details?: Status['details']): StatusError {
  const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) s.details = details;
  return new StatusError(s);
}

function qualified(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}
function qualifiedKind(gk: GroupKind): string {
  return gk.group ? `${gk.kind}.${gk.group}` : gk.kind;
}

export const errors = {
  notFound(gr: GroupResource, name: string): StatusError {
    return status(404, 'NotFound', `${qualified(gr)} "${name}" not found`, { name, group: gr.group, kind: gr.resource });
  },
  alreadyExists(gr: GroupResource, name: string): StatusError {
    return status(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, { name, group: gr.group, kind: gr.resource });
  },
  conflict(gr: GroupResource, name: string, why: string): StatusError {
    return status(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, { name, group: gr.group, kind: gr.resource });
  },
  /** The optimistic-concurrency conflict text kube-apiserver uses. */
  staleObject(gr: GroupResource, name: string): StatusError {
    return errors.conflict(gr, name, 'the object has been modified; please apply your changes to the latest version and try again');
  },
  invalid(gk: GroupKind, name: string, errs: FieldError[]): StatusError {
    const causes: StatusCause[] = errs.map((e) => ({ reason: e.type, message: fieldErrorCauseMessage(e), field: e.field }));
    const texts = errs.map(fieldErrorText);
    const agg = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
    return status(422, 'Invalid', `${qualifiedKind(gk)} "${name}" is invalid: ${agg}`, { name, group: gk.group, kind: gk.kind, causes });
  },
  badRequest(message: string): StatusError { return status(400, 'BadRequest', message); },
  methodNotAllowed(message: string): StatusError { return status(405, 'MethodNotAllowed', message); },
  notAcceptable(message: string): StatusError { return status(406, 'NotAcceptable', message); },
  unsupportedMediaType(contentType: string): StatusError {
    return status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${contentType ? '' : ''}`);
  },
  gone(message: string): StatusError { return status(410, 'Expired', message); },
  /** 410 for a watch/list from a compacted revision. */
  resourceExpired(message = 'too old resource version'): StatusError { return status(410, 'Expired', message); },
  forbidden(gr: GroupResource, name: string, why: string): StatusError {
    return status(403, 'Forbidden', `${qualified(gr)} "${name}" is forbidden: ${why}`, { name, group: gr.group, kind: gr.resource });
  },
  internal(message: string): StatusError { return status(500, 'InternalError', `Internal error occurred: ${message}`); },
  serviceUnavailable(message: string): StatusError { return status(503, 'ServiceUnavailable', message); },
  tooLarge(message: string): StatusError { return status(413, 'RequestEntityTooLarge', message); },
  timeout(message: string): StatusError { return status(504, 'Timeout', message); },
  fromStatus(s: Status): StatusError { return new StatusError(s); },
};

export function isStatusError(e: unknown): e is StatusError { return e instanceof StatusError; }
