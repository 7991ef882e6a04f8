// The list-then-watch reflector as an explicit state machine (kube-rs
// kube-runtime watcher.rs): one pure `step(state, input) → {state, effects}`.
// The driver in informer.ts performs the effects (API calls, cache writes,
// timers) and feeds their outcomes back as inputs; nothing here does I/O.
//
//   Empty ──Resume──▶ Listing ──last page──▶ Watching(rv) ──normal end──▶ Watching(rv) (re-watch)
//     ▲                 │ more pages: List(continue)   │ event/bookmark: rv advances
//     │                 │ failure: Backoff → Empty     │ ERROR 410 / Expired: relist now
//     └────Backoff──────┴──────────────────────────────┤ other ERROR: Backoff → Empty (relist)
//                                                      │ stream failed: Backoff → WatchPending(rv)
//                                   WatchPending(rv) ──Resume──▶ Watching(rv)
//
// A relist (410: the server compacted past our rv) collects every page
// before handing the set to the cache in one Replace, so a reader never sees
// half a list and vanished objects become synthetic deletes.
import type { Status } from 'kubernetes-types/meta/v1.js';
import { StatusError } from '../api/errors.js';
import type { KObject, ListResult, WatchEvent } from './types.js';

export type WatcherState =
  /** Nothing in flight; a Resume starts a full list. */
  | { readonly phase: 'Empty' }
  /** A list request is in flight; `items` are the pages received so far, `resourceVersion` the first page's. */
  | { readonly phase: 'Listing'; readonly items: readonly KObject[]; readonly resourceVersion?: string; readonly continue?: string }
  /** A watch from `resourceVersion` is open; `healthy` once it delivered anything. */
  | { readonly phase: 'Watching'; readonly resourceVersion: string; readonly healthy: boolean }
  /** The watch failed; a Resume re-opens it from `resourceVersion`. */
  | { readonly phase: 'WatchPending'; readonly resourceVersion: string };

export type WatcherInput =
  /** Start, or a backoff delay has elapsed. */
  | { readonly type: 'Resume' }
  | { readonly type: 'ListPage'; readonly page: ListResult }
  | { readonly type: 'ListFailed'; readonly error: Error }
  | { readonly type: 'WatchEvent'; readonly event: WatchEvent }
  /** The watch stream ended: normally (server timeout) without error. */
  | { readonly type: 'WatchClosed'; readonly error?: Error };

export type WatcherEffect =
  | { readonly type: 'List'; readonly limit: number; readonly continue?: string }
  | { readonly type: 'Watch'; readonly resourceVersion: string }
  /** Close the open watch and ignore anything more it says. */
  | { readonly type: 'StopWatch' }
  /** The complete list: replace the cache content with it. */
  | { readonly type: 'Replace'; readonly items: readonly KObject[]; readonly resourceVersion: string }
  /** An ADDED, MODIFIED or DELETED event for the cache. */
  | { readonly type: 'Apply'; readonly event: WatchEvent }
  /** Wait (exponential, jittered), then feed Resume. */
  | { readonly type: 'Backoff'; readonly error: Error }
  /** Things work again: the next Backoff starts from its initial delay. */
  | { readonly type: 'ResetBackoff' };

export interface StepResult {
  state: WatcherState;
  effects: WatcherEffect[];
}

export interface WatcherConfig {
  /** Page size of the initial list and relists (client-go pages by 500). */
  pageSize: number;
}

export const initialWatcherState: WatcherState = Object.freeze({ phase: 'Empty' });

const defaultConfig: WatcherConfig = { pageSize: 500 };

/** 410 Gone / reason Expired: the resourceVersion (or continue token) is older than the server keeps. */
export function isExpired(e: unknown): boolean {
  return e instanceof StatusError && (e.code === 410 || e.reason === 'Expired' || e.reason === 'Gone');
}

function isExpiredStatus(s: Status | undefined): boolean {
  return !!s && (s.code === 410 || s.reason === 'Expired' || s.reason === 'Gone');
}

const stay = (state: WatcherState): StepResult => ({ state, effects: [] });

function startList(cfg: WatcherConfig, extra: WatcherEffect[] = []): StepResult {
  return { state: { phase: 'Listing', items: [] }, effects: [...extra, { type: 'List', limit: cfg.pageSize }] };
}

export function step(state: WatcherState, input: WatcherInput, config: Partial<WatcherConfig> = {}): StepResult {
  const cfg = { ...defaultConfig, ...config };
  switch (state.phase) {
    case 'Empty':
      return input.type === 'Resume' ? startList(cfg) : stay(state);

    case 'Listing':
      if (input.type === 'ListPage') {
        const items = state.items.concat(input.page.items);
        // Every page after the first is read at a later revision on a server whose
        // continue tokens are not snapshots; watching from the first page's rv
        // replays anything that changed meanwhile instead of losing it.
        const rv = state.resourceVersion ?? input.page.metadata.resourceVersion;
        if (input.page.metadata.continue) {
          return {
            state: { phase: 'Listing', items, resourceVersion: rv, continue: input.page.metadata.continue },
            effects: [{ type: 'List', limit: cfg.pageSize, continue: input.page.metadata.continue }],
          };
        }
        return {
          state: { phase: 'Watching', resourceVersion: rv, healthy: false },
          effects: [{ type: 'Replace', items, resourceVersion: rv }, { type: 'ResetBackoff' }, { type: 'Watch', resourceVersion: rv }],
        };
      }
      if (input.type === 'ListFailed') {
        // An expired continue token: start the list over at once (client-go does the same).
        if (state.continue !== undefined && isExpired(input.error)) return startList(cfg);
        return { state: initialWatcherState, effects: [{ type: 'Backoff', error: input.error }] };
      }
      return stay(state);

    case 'Watching':
      if (input.type === 'WatchEvent') {
        const e = input.event;
        if (e.type === 'ERROR') {
          const s = e.object as unknown as Status;
          if (isExpiredStatus(s)) return startList(cfg, [{ type: 'StopWatch' }]);
          return { state: initialWatcherState, effects: [{ type: 'StopWatch' }, { type: 'Backoff', error: new StatusError({ ...s, kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure' }) }] };
        }
        const rv = e.object?.metadata?.resourceVersion || state.resourceVersion;
        const effects: WatcherEffect[] = [];
        if (!state.healthy) effects.push({ type: 'ResetBackoff' });
        if (e.type !== 'BOOKMARK') effects.push({ type: 'Apply', event: e });
        return { state: { phase: 'Watching', resourceVersion: rv, healthy: true }, effects };
      }
      if (input.type === 'WatchClosed') {
        if (input.error && isExpired(input.error)) return startList(cfg);
        if (input.error) return { state: { phase: 'WatchPending', resourceVersion: state.resourceVersion }, effects: [{ type: 'Backoff', error: input.error }] };
        // A normal end (the server's timeout): re-watch from where we are. A watch
        // that ended without delivering anything goes through backoff so a server
        // that closes at once cannot make us spin.
        if (!state.healthy) {
          return { state: { phase: 'WatchPending', resourceVersion: state.resourceVersion }, effects: [{ type: 'Backoff', error: new Error('watch closed without events') }] };
        }
        return { state: { phase: 'Watching', resourceVersion: state.resourceVersion, healthy: false }, effects: [{ type: 'Watch', resourceVersion: state.resourceVersion }] };
      }
      return stay(state);

    case 'WatchPending':
      if (input.type === 'Resume') {
        return { state: { phase: 'Watching', resourceVersion: state.resourceVersion, healthy: false }, effects: [{ type: 'Watch', resourceVersion: state.resourceVersion }] };
      }
      return stay(state);
  }
}
