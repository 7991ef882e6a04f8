// Pieces of txn semantics that every backend shares.
//
// Ops of one txn run in order and each sees the effect of the ones before it,
// so a put then a delete of the same key in one txn leaves it absent and emits
// two events at the same revision. (etcd refuses duplicate keys in a txn; we
// define the sequential meaning instead of adding an error code for it.)
import type { KeyValue, TxnRequest } from './store.js';

/** Refuses malformed requests before anything is written, so a bad op cannot leave a txn half-applied. */
export function validateTxn(req: TxnRequest): void {
  if (!req || !Array.isArray(req.compare) || !Array.isArray(req.success)) {
    throw new TypeError('txn: request needs compare and success arrays');
  }
  for (const c of req.compare) {
    if (typeof c.key !== 'string') throw new TypeError('txn: compare key must be a string');
    if (!Number.isSafeInteger(c.modRevision) || c.modRevision < 0) {
      throw new TypeError(`txn: compare modRevision of ${JSON.stringify(c.key)} must be a non-negative integer`);
    }
  }
  for (const op of req.success) {
    if (typeof op.key !== 'string') throw new TypeError('txn: op key must be a string');
    if (op.type === 'put') {
      if (typeof op.value !== 'string') throw new TypeError(`txn: put of ${JSON.stringify(op.key)} needs a string value`);
    } else if (op.type !== 'delete') {
      throw new TypeError(`txn: unknown op type ${JSON.stringify((op as { type: unknown }).type)}`);
    }
  }
}

/** The kv of a delete event, as etcd reports it. */
export function tombstone(key: string, revision: number): KeyValue {
  return Object.freeze({ key, value: '', createRevision: 0, modRevision: revision, version: 0 });
}
