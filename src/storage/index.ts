// Entry point of the storage layer: pick a backend from the --storage flag.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import { EtcdStore, parseEtcdEndpoint } from './etcd.js';
import type { Store } from './store.js';

export * from './store.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { SqliteStore, type SqliteStoreOptions, type SqliteStoreInfo } from './sqlite.js';
export { EtcdStore, type EtcdStoreOptions } from './etcd.js';
export type { WatchOptions } from './watch.js';
export { startCompactor, compactKeeping, defaultCompactorOptions, type Compactor, type CompactorOptions } from './compactor.js';
export { compareKeys } from './keys.js';

/** The parsed form of a --storage flag. */
export type StoreSpec =
  | { kind: 'memory' }
  | { kind: 'sqlite'; path: string }
  | { kind: 'etcd'; endpoints: string[] };

const usage = 'expected memory, sqlite:PATH or etcd:URL[,URL...]';

/** Parses `memory`, `sqlite:PATH` or `etcd:URL,...`; throws an Error naming the accepted forms. Lets the CLI validate the flag before starting anything. */
export function parseStoreSpec(spec: string): StoreSpec {
  if (spec === 'memory') return { kind: 'memory' };
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length);
    if (path === '') throw new Error(`invalid storage "${spec}": sqlite needs a file path (sqlite:PATH)`);
    return { kind: 'sqlite', path: resolve(path) };
  }
  if (spec.startsWith('etcd:')) {
    const endpoints = spec.slice('etcd:'.length).split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (endpoints.length === 0) throw new Error(`invalid storage "${spec}": etcd needs at least one URL (etcd:URL[,URL...])`);
    for (const e of endpoints) {
      try {
        parseEtcdEndpoint(e);
      } catch (err) {
        throw new Error(`invalid storage "${spec}": ${(err as Error).message}`);
      }
    }
    return { kind: 'etcd', endpoints };
  }
  throw new Error(`invalid storage "${spec}": ${usage}`);
}

/**
 * Opens the store a --storage flag names; for sqlite, creates the file's
 * directory; for etcd, checks that an endpoint answers (Unavailable if none).
 */
export async function openStore(spec: string): Promise<Store> {
  const s = parseStoreSpec(spec);
  switch (s.kind) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      mkdirSync(dirname(s.path), { recursive: true });
      return new SqliteStore(s.path);
    case 'etcd': {
      const store = new EtcdStore(s.endpoints);
      try {
        await store.ping();
      } catch (e) {
        await store.close();
        throw e;
      }
      return store;
    }
  }
}
