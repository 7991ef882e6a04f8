// The Status shapes kube-apiserver's patch handler produces that are not
// plain constructors of src/api/errors.ts.
import type { StatusCause } from 'kubernetes-types/meta/v1.js';
import { errors, StatusError } from '../../api/errors.js';

/**
 * apierrors.NewGenericServerResponse(422, …) with an empty resource: kube
 * swallows the engine's own text (a failed JSON patch `test`, a missing path)
 * and answers with this fixed message; kubectl prints
 * `The request is invalid: the server rejected our request due to an error in our request`.
 * The engine's text is kept as the error's `cause` for logs.
 */
export function genericInvalid(detail: string): StatusError {
  const e = errors.fromStatus({
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'the server rejected our request due to an error in our request',
    reason: 'Invalid', details: {}, code: 422,
  });
  (e as Error).cause = detail;
  return e;
}

/**
 * A plain Go error that reaches responsewriters.ErrorToAPIStatus: code 500,
 * reason StatusReasonUnknown (empty, so absent), the error text as message.
 */
export function unknownError(message: string): StatusError {
  return errors.fromStatus({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code: 500 });
}

/** apierrors.NewApplyConflict: 409 Conflict with one FieldManagerConflict cause per field. */
export function applyConflict(message: string, causes: StatusCause[]): StatusError {
  return errors.fromStatus({
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message,
    reason: 'Conflict', details: { causes }, code: 409,
  });
}
