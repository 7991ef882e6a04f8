// The Deployment controller (kube's pkg/controller/deployment), as a pure
// reconciler. It follows kube's sync step by step (sync.go, rolling.go,
// recreate.go, progress.go, util/deployment_util.go) on working copies of the
// ReplicaSets, then turns what changed into one write per object:
// - ReplicaSets owned by the Deployment, one per pod template, named
//   `<deployment>-<pod-template-hash>`;
// - RollingUpdate (maxSurge rounds up, maxUnavailable down), Recreate, and
//   proportional scaling when spec.replicas changes mid-rollout;
// - revisions (`deployment.kubernetes.io/revision`), rollback by template
//   (`kubectl rollout undo` patches the template back: the old ReplicaSet is
//   reused and gets the next revision), revisionHistoryLimit cleanup;
// - status and the Available / Progressing conditions that
//   `kubectl rollout status` reads.
import type { Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import type { KObject } from '../../client/types.js';
import type { Action, Cache, EventRecord, Plan, Reconciler } from '../types.js';
import {
  asPod, claim, controllerRefOf, isBeingDeleted, isPodTerminal, namespaceWildcardKey, newControllerRef,
  parseTime, rfc3339, selectorRequirements, selects, splitKey,
} from '../replicaset/util.js';
import { computeHash, equalIgnoreHash, podTemplateHashLabel } from './hash.js';

const podsRes = findResource('', 'v1', 'pods')!;
const rsRes = findResource('apps', 'v1', 'replicasets')!;
const deployRes = findResource('apps', 'v1', 'deployments')!;

export const RevisionAnnotation = 'deployment.kubernetes.io/revision';
export const RevisionHistoryAnnotation = 'deployment.kubernetes.io/revision-history';
export const DesiredReplicasAnnotation = 'deployment.kubernetes.io/desired-replicas';
export const MaxReplicasAnnotation = 'deployment.kubernetes.io/max-replicas';

/** Annotations a Deployment does not pass on to its ReplicaSets (annotationsToSkip). */
const annotationsToSkip = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  RevisionAnnotation, RevisionHistoryAnnotation, DesiredReplicasAnnotation, MaxReplicasAnnotation,
  'deprecated.deployment.rollback.to',
]);

/** Condition reasons (deploymentutil). */
export const Reasons = {
  NewReplicaSet: 'NewReplicaSetCreated',
  FoundNewRS: 'FoundNewReplicaSet',
  NewRSAvailable: 'NewReplicaSetAvailable',
  ReplicaSetUpdated: 'ReplicaSetUpdated',
  TimedOut: 'ProgressDeadlineExceeded',
  PausedDeploy: 'DeploymentPaused',
  ResumedDeploy: 'DeploymentResumed',
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  MinimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const;

const deploymentKind = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;
const maxRevHistoryLengthInChars = 2000;
const maxInt32 = 2147483647;

// ---------------------------------------------------------------------------
// intstr and fenceposts

/**
 * intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of total rounded
 * up or down. A bare numeric string is read as an int (validation rejects it
 * anyway).
 */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) return Number.parseInt(v, 10) || 0;
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/** deploymentutil.ResolveFenceposts: [maxSurge, maxUnavailable]; both zero becomes unavailable 1. */
export function resolveFenceposts(maxSurge: number | string | undefined, maxUnavailable: number | string | undefined, desired: number): [number, number] {
  const surge = scaledValue(maxSurge, desired, true);
  const unavailable = scaledValue(maxUnavailable, desired, false);
  if (surge === 0 && unavailable === 0) return [0, 1];
  return [surge, unavailable];
}

function isRollingUpdate(d: Deployment): boolean {
  return (d.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

function replicasOf(d: Deployment): number {
  return d.spec?.replicas ?? 1;
}

export function maxSurge(d: Deployment): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec?.strategy?.rollingUpdate;
  return resolveFenceposts(ru?.maxSurge ?? '25%', ru?.maxUnavailable ?? '25%', replicasOf(d))[0];
}

export function maxUnavailable(d: Deployment): number {
  const replicas = replicasOf(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  const ru = d.spec?.strategy?.rollingUpdate;
  const u = resolveFenceposts(ru?.maxSurge ?? '25%', ru?.maxUnavailable ?? '25%', replicas)[1];
  return Math.min(u, replicas);
}

function hasProgressDeadline(d: Deployment): boolean {
  const p = d.spec?.progressDeadlineSeconds;
  return p !== undefined && p !== null && p !== maxInt32;
}

// ---------------------------------------------------------------------------
// Working copies

/** A ReplicaSet as this sync sees it: the cached object plus the changes decided so far. */
interface RSView {
  readonly orig: ReplicaSet | undefined;
  name: string;
  uid: string | undefined;
  replicas: number;
  annotations: Record<string, string>;
  minReadySeconds: number;
  /** Built in this sync, to be created. */
  create?: ReplicaSet;
  readonly status: { replicas: number; readyReplicas: number; availableReplicas: number };
  readonly creation: number;
}

function viewOf(rs: ReplicaSet): RSView {
  return {
    orig: rs, name: rs.metadata?.name ?? '', uid: rs.metadata?.uid,
    replicas: rs.spec?.replicas ?? 1,
    annotations: { ...(rs.metadata?.annotations ?? {}) },
    minReadySeconds: rs.spec?.minReadySeconds ?? 0,
    status: { replicas: rs.status?.replicas ?? 0, readyReplicas: rs.status?.readyReplicas ?? 0, availableReplicas: rs.status?.availableReplicas ?? 0 },
    creation: parseTime(rs.metadata?.creationTimestamp) ?? 0,
  };
}

function revisionOf(rs: RSView): number {
  const v = Number.parseInt(rs.annotations[RevisionAnnotation] ?? '', 10);
  return Number.isNaN(v) ? 0 : v;
}

function byCreationView(a: RSView, b: RSView): number {
  return a.creation - b.creation || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

const sum = (xs: readonly RSView[], f: (r: RSView) => number): number => xs.reduce((n, r) => n + f(r), 0);
const active = (xs: readonly (RSView | undefined)[]): RSView[] => xs.filter((r): r is RSView => !!r && r.replicas > 0);

// ---------------------------------------------------------------------------
// Conditions

function newCondition(type: string, status: string, reason: string, message: string, now: Date): DeploymentCondition {
  const t = rfc3339(now);
  return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
}

function getCondition(s: DeploymentStatus, type: string): DeploymentCondition | undefined {
  return s.conditions?.find((c) => c.type === type);
}

/** deploymentutil.SetDeploymentCondition: same status and reason is a no-op; same status keeps lastTransitionTime. */
function setCondition(s: DeploymentStatus, c: DeploymentCondition): void {
  const cur = getCondition(s, c.type);
  if (cur && cur.status === c.status && cur.reason === c.reason) return;
  if (cur && cur.status === c.status) c = { ...c, lastTransitionTime: cur.lastTransitionTime };
  s.conditions = [...(s.conditions ?? []).filter((x) => x.type !== c.type), c];
}

function removeCondition(s: DeploymentStatus, type: string): void {
  if (s.conditions) s.conditions = s.conditions.filter((x) => x.type !== type);
}

/** deploymentutil.DeploymentComplete. */
function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const r = replicasOf(d);
  return (s.updatedReplicas ?? 0) === r && (s.replicas ?? 0) === r && (s.availableReplicas ?? 0) === r
    && (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
}

/** deploymentutil.DeploymentProgressing: any sign of progress against the previous status. */
function deploymentProgressing(old: DeploymentStatus, s: DeploymentStatus): boolean {
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld
    || (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

function deploymentTimedOut(d: Deployment, s: DeploymentStatus, now: Date): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, 'Progressing');
  if (!c) return false;
  if (c.reason === Reasons.NewRSAvailable) return false;
  if (c.reason === Reasons.TimedOut) return true;
  const from = parseTime(c.lastUpdateTime);
  if (from === undefined) return false;
  return from + (d.spec?.progressDeadlineSeconds ?? 0) * 1000 < now.getTime();
}

function normalizedStatus(s: DeploymentStatus | undefined): string {
  const x = s ?? {};
  return JSON.stringify({
    observedGeneration: x.observedGeneration ?? 0, replicas: x.replicas ?? 0, updatedReplicas: x.updatedReplicas ?? 0,
    readyReplicas: x.readyReplicas ?? 0, availableReplicas: x.availableReplicas ?? 0, unavailableReplicas: x.unavailableReplicas ?? 0,
    collisionCount: x.collisionCount ?? null,
    conditions: (x.conditions ?? []).map((c) => [c.type, c.status, c.reason ?? '', c.message ?? '', c.lastUpdateTime ?? '', c.lastTransitionTime ?? '']),
  });
}

// ---------------------------------------------------------------------------
// One sync

class Sync {
  readonly actions: Action[] = [];
  readonly events: EventRecord[] = [];
  /** The deployment's status as this sync has changed it so far (kube mutates d.Status in place). */
  readonly status: DeploymentStatus;
  revision: string | undefined;
  requeueAfterMs: number | undefined;
  private readonly ns: string;

  constructor(readonly d: Deployment, readonly now: Date, readonly rss: RSView[], readonly pods: readonly Pod[]) {
    this.status = structuredClone(d.status ?? {});
    this.ns = d.metadata?.namespace ?? '';
    this.revision = d.metadata?.annotations?.[RevisionAnnotation];
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    const md = this.d.metadata ?? {};
    this.events.push({
      involvedObject: { ...deploymentKind, namespace: md.namespace, name: md.name ?? '', uid: md.uid, resourceVersion: md.resourceVersion },
      type, reason, message,
    });
  }

  requeue(ms: number): void {
    this.requeueAfterMs = Math.min(this.requeueAfterMs ?? Infinity, Math.max(0, ms));
  }

  // --- ReplicaSets -----------------------------------------------------------

  /** FindNewReplicaSet / FindOldReplicaSets: the oldest RS whose template equals the deployment's is the new one. */
  split(): { newRS: RSView | undefined; old: RSView[] } {
    const sorted = [...this.rss].sort(byCreationView);
    const newRS = sorted.find((r) => equalIgnoreHash(r.orig?.spec?.template ?? r.create?.spec?.template, this.d.spec?.template));
    return { newRS, old: sorted.filter((r) => r !== newRS) };
  }

  /** copyDeploymentAnnotationsToReplicaSet + revision bookkeeping (SetNewReplicaSetAnnotations). */
  private setNewReplicaSetAnnotations(rs: RSView, newRevision: string, exists: boolean): void {
    for (const [k, v] of Object.entries(this.d.metadata?.annotations ?? {})) {
      if (!annotationsToSkip.has(k)) rs.annotations[k] = v;
    }
    const oldRevision = rs.annotations[RevisionAnnotation];
    let oldRev = 0;
    if (oldRevision !== undefined && oldRevision !== '') {
      oldRev = Number.parseInt(oldRevision, 10);
      if (Number.isNaN(oldRev)) return;
    }
    const newRev = Number.parseInt(newRevision, 10);
    if (oldRev < newRev) {
      rs.annotations[RevisionAnnotation] = newRevision;
      // A rollback to this ReplicaSet: keep its earlier revisions for `rollout history`.
      if (oldRevision !== undefined) {
        const history = rs.annotations[RevisionHistoryAnnotation] ?? '';
        let revs = history ? history.split(',') : [];
        let total = history.length + oldRevision.length + 1;
        while (history && total > maxRevHistoryLengthInChars && revs.length) total -= revs.shift()!.length + 1;
        if (total <= maxRevHistoryLengthInChars) {
          revs = [...revs, oldRevision];
          rs.annotations[RevisionHistoryAnnotation] = revs.join(',');
        }
      }
    }
    if (!exists) this.setReplicasAnnotations(rs);
  }

  private setReplicasAnnotations(rs: RSView): void {
    rs.annotations[DesiredReplicasAnnotation] = String(replicasOf(this.d));
    rs.annotations[MaxReplicasAnnotation] = String(replicasOf(this.d) + maxSurge(this.d));
  }

  private setDeploymentRevision(revision: string | undefined): void {
    if (revision !== undefined) this.revision = revision;
  }

  /**
   * getAllReplicaSetsAndSyncRevision: the new RS (synced to the next revision)
   * and the old ones; with `create`, a missing new RS is built. Returns
   * undefined after a hash collision (the status records it and the sync stops).
   */
  getAll(create: boolean): { newRS: RSView | undefined; old: RSView[] } | undefined {
    const { newRS, old } = this.split();
    const maxOld = Math.max(0, ...old.map(revisionOf));
    const newRevision = String(maxOld + 1);
    if (newRS) {
      if (!newRS.create) {
        this.setNewReplicaSetAnnotations(newRS, newRevision, true);
        newRS.minReadySeconds = this.d.spec?.minReadySeconds ?? 0;
        this.setDeploymentRevision(newRS.annotations[RevisionAnnotation]);
        if (hasProgressDeadline(this.d) && !getCondition(this.status, 'Progressing')) {
          setCondition(this.status, newCondition('Progressing', 'True', Reasons.FoundNewRS, `Found new replica set "${newRS.name}"`, this.now));
        }
      }
      return { newRS, old };
    }
    if (!create) return { newRS: undefined, old };
    return this.createNewRS(old, newRevision);
  }

  private createNewRS(old: RSView[], newRevision: string): { newRS: RSView | undefined; old: RSView[] } | undefined {
    const d = this.d;
    const template = structuredClone(d.spec?.template ?? {});
    const hash = computeHash(d.spec?.template, d.status?.collisionCount);
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [podTemplateHashLabel]: hash } };
    const selector = structuredClone(d.spec?.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [podTemplateHashLabel]: hash };
    const name = `${d.metadata?.name}-${hash}`;
    if (this.rss.some((r) => r.name === name) || this.foreignNames.has(name)) {
      // An RS of that name exists with another template (or another owner):
      // bump collisionCount so the next hash differs.
      this.status.collisionCount = (this.status.collisionCount ?? 0) + 1;
      this.event('Warning', 'HashCollision', `ReplicaSet "${name}" exists with a different template; collisionCount is now ${this.status.collisionCount}`);
      return undefined;
    }
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: {
        name, namespace: this.ns, labels: { ...template.metadata.labels },
        ownerReferences: [newControllerRef(d as KObject, deploymentKind.apiVersion, deploymentKind.kind)],
      },
      spec: { replicas: 0, minReadySeconds: d.spec?.minReadySeconds ?? 0, selector, template },
    };
    const view: RSView = {
      orig: undefined, name, uid: undefined, replicas: 0, annotations: {}, minReadySeconds: d.spec?.minReadySeconds ?? 0, create: rs,
      status: { replicas: 0, readyReplicas: 0, availableReplicas: 0 }, creation: this.now.getTime(),
    };
    view.replicas = this.newRSNewReplicas([...old, view], view);
    this.setNewReplicaSetAnnotations(view, newRevision, false);
    this.rss.push(view);
    if (view.replicas > 0) this.event('Normal', 'ScalingReplicaSet', `Scaled up replica set ${name} from 0 to ${view.replicas}`);
    this.setDeploymentRevision(newRevision);
    if (hasProgressDeadline(d)) {
      setCondition(this.status, newCondition('Progressing', 'True', Reasons.NewReplicaSet, `Created new replica set "${name}"`, this.now));
    }
    return { newRS: view, old };
  }

  /** Names of ReplicaSets in the namespace this deployment does not own (for collision checks). */
  foreignNames = new Set<string>();

  /** deploymentutil.NewRSNewReplicas. */
  newRSNewReplicas(all: RSView[], newRS: RSView): number {
    const replicas = replicasOf(this.d);
    if (!isRollingUpdate(this.d)) return replicas;
    const surge = scaledValue(this.d.spec?.strategy?.rollingUpdate?.maxSurge ?? '25%', replicas, true);
    const current = sum(all, (r) => r.replicas);
    const maxTotal = replicas + surge;
    if (current >= maxTotal) return newRS.replicas;
    const up = Math.min(maxTotal - current, replicas - newRS.replicas);
    return newRS.replicas + up;
  }

  /** scaleReplicaSet: size and the desired/max annotations; an event when the size changes. */
  scaleReplicaSet(rs: RSView, newScale: number, op: 'up' | 'down' | ''): boolean {
    const sizeNeedsUpdate = rs.replicas !== newScale;
    const desired = String(replicasOf(this.d));
    const max = String(replicasOf(this.d) + maxSurge(this.d));
    const annotationsNeedUpdate = rs.annotations[DesiredReplicasAnnotation] !== desired || rs.annotations[MaxReplicasAnnotation] !== max;
    if (!sizeNeedsUpdate && !annotationsNeedUpdate) return false;
    const old = rs.replicas;
    rs.replicas = newScale;
    this.setReplicasAnnotations(rs);
    if (sizeNeedsUpdate) {
      const verb = op || (old < newScale ? 'up' : 'down');
      this.event('Normal', 'ScalingReplicaSet', `Scaled ${verb} replica set ${rs.name} from ${old} to ${newScale}`);
    }
    return sizeNeedsUpdate;
  }

  scaleAndRecord(rs: RSView, newScale: number): boolean {
    if (rs.replicas === newScale) return false;
    return this.scaleReplicaSet(rs, newScale, rs.replicas < newScale ? 'up' : 'down');
  }

  // --- strategies --------------------------------------------------------------

  /** isScalingEvent: an active RS was sized for another spec.replicas. */
  isScalingEvent(newRS: RSView | undefined, old: RSView[]): boolean {
    for (const rs of active([...old, newRS])) {
      const v = rs.annotations[DesiredReplicasAnnotation];
      if (v === undefined) continue;
      const desired = Number.parseInt(v, 10);
      if (Number.isNaN(desired)) continue;
      if (desired !== replicasOf(this.d)) return true;
    }
    return false;
  }

  /** scale: the active or latest RS takes the full count; otherwise proportionally (sync.go). */
  scale(newRS: RSView | undefined, old: RSView[]): void {
    const d = this.d;
    const replicas = replicasOf(d);
    const latest = findActiveOrLatest(newRS, old);
    if (latest) {
      if (latest.replicas !== replicas) this.scaleAndRecord(latest, replicas);
      return;
    }
    if (newRS && isSaturated(d, newRS)) {
      for (const o of active(old)) this.scaleAndRecord(o, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const all = active([...old, newRS]);
    const allReplicas = sum(all, (r) => r.replicas);
    const allowed = replicas > 0 ? replicas + maxSurge(d) : 0;
    const toAdd = allowed - allReplicas;
    let op: 'up' | 'down' | '' = '';
    if (toAdd > 0) {
      all.sort((a, b) => b.replicas - a.replicas || b.creation - a.creation || (a.name < b.name ? 1 : -1));
      op = 'up';
    } else if (toAdd < 0) {
      all.sort((a, b) => b.replicas - a.replicas || a.creation - b.creation || (a.name < b.name ? -1 : 1));
      op = 'down';
    }
    let added = 0;
    const sizes = new Map<RSView, number>();
    for (const rs of all) {
      if (toAdd !== 0) {
        const p = this.proportion(rs, toAdd, added);
        sizes.set(rs, rs.replicas + p);
        added += p;
      } else {
        sizes.set(rs, rs.replicas);
      }
    }
    all.forEach((rs, i) => {
      let size = sizes.get(rs)!;
      if (i === 0 && toAdd !== 0) size = Math.max(0, size + toAdd - added);
      this.scaleReplicaSet(rs, size, op);
    });
  }

  /** deploymentutil.GetProportion / getReplicaSetFraction. */
  private proportion(rs: RSView, toAdd: number, added: number): number {
    if (rs.replicas === 0 || toAdd === 0 || toAdd === added) return 0;
    const d = this.d;
    let fraction: number;
    if (replicasOf(d) === 0) {
      fraction = -rs.replicas;
    } else {
      const deploymentReplicas = replicasOf(d) + maxSurge(d);
      const ann = Number.parseInt(rs.annotations[MaxReplicasAnnotation] ?? '', 10);
      const annotated = Number.isNaN(ann) ? (d.status?.replicas ?? 0) : ann;
      fraction = annotated ? roundHalfAway((rs.replicas * deploymentReplicas) / annotated) - rs.replicas : 0;
    }
    const allowed = toAdd - added;
    return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
  }

  /** reconcileNewReplicaSet (rolling.go). */
  reconcileNewReplicaSet(all: RSView[], newRS: RSView): boolean {
    const replicas = replicasOf(this.d);
    if (newRS.replicas === replicas) return false;
    if (newRS.replicas > replicas) return this.scaleAndRecord(newRS, replicas);
    return this.scaleAndRecord(newRS, this.newRSNewReplicas(all, newRS));
  }

  /** reconcileOldReplicaSets (rolling.go): never below replicas - maxUnavailable available pods. */
  reconcileOldReplicaSets(all: RSView[], oldActive: RSView[], newRS: RSView): boolean {
    if (sum(oldActive, (r) => r.replicas) === 0) return false;
    const allPods = sum(all, (r) => r.replicas);
    const minAvailable = replicasOf(this.d) - maxUnavailable(this.d);
    const newRSUnavailable = newRS.replicas - newRS.status.availableReplicas;
    const maxScaledDown = allPods - minAvailable - newRSUnavailable;
    if (maxScaledDown <= 0) return false;
    const cleaned = this.cleanupUnhealthyReplicas(oldActive, maxScaledDown);
    const scaled = this.scaleDownOldReplicaSetsForRollingUpdate(all, oldActive);
    return cleaned + scaled > 0;
  }

  /** Unavailable old pods go first: they would otherwise block the rollout. */
  private cleanupUnhealthyReplicas(old: RSView[], maxCleanup: number): number {
    let total = 0;
    for (const rs of [...old].sort(byCreationView)) {
      if (total >= maxCleanup) break;
      if (rs.replicas === 0) continue;
      if (rs.replicas === rs.status.availableReplicas) continue;
      const n = Math.min(maxCleanup - total, rs.replicas - rs.status.availableReplicas);
      this.scaleAndRecord(rs, rs.replicas - n);
      total += n;
    }
    return total;
  }

  private scaleDownOldReplicaSetsForRollingUpdate(all: RSView[], old: RSView[]): number {
    const minAvailable = replicasOf(this.d) - maxUnavailable(this.d);
    const available = sum(all, (r) => r.status.availableReplicas);
    if (available <= minAvailable) return 0;
    const target = available - minAvailable;
    let total = 0;
    for (const rs of [...old].sort(byCreationView)) {
      if (total >= target) break;
      if (rs.replicas === 0) continue;
      const n = Math.min(rs.replicas, target - total);
      this.scaleAndRecord(rs, rs.replicas - n);
      total += n;
    }
    return total;
  }

  /** oldPodsRunning (recreate.go): old RSes report pods, or some pod of theirs has not finished. */
  oldPodsRunning(newRS: RSView | undefined, old: RSView[]): boolean {
    if (sum(old, (r) => r.status.replicas) > 0) return true;
    const oldUIDs = new Set(old.map((r) => r.uid));
    return this.pods.some((p) => {
      const ref = controllerRefOf(p as KObject);
      if (!ref || !oldUIDs.has(ref.uid) || (newRS && ref.uid === newRS.uid)) return false;
      return !isPodTerminal(p);
    });
  }

  /** cleanupDeployment: delete the oldest fully scaled-down RSes beyond revisionHistoryLimit. */
  cleanupDeployment(old: RSView[]): void {
    const limit = this.d.spec?.revisionHistoryLimit;
    if (limit === undefined || limit === null) return;
    const cleanable = old.filter((r) => r.orig && !isBeingDeleted(r.orig as KObject));
    const diff = cleanable.length - limit;
    if (diff <= 0) return;
    cleanable.sort((a, b) => revisionOf(a) - revisionOf(b) || byCreationView(a, b));
    for (let i = 0; i < diff; i++) {
      const rs = cleanable[i]!;
      const o = rs.orig!;
      if ((o.status?.replicas ?? 0) !== 0 || rs.replicas !== 0 || (o.spec?.replicas ?? 1) !== 0
        || (o.metadata?.generation ?? 0) > (o.status?.observedGeneration ?? 0)) continue;
      this.actions.push({ verb: 'delete', resource: rsRes, namespace: this.ns, name: rs.name, preconditions: { uid: rs.uid } });
    }
  }

  // --- status --------------------------------------------------------------------

  /** calculateStatus (sync.go). */
  calculateStatus(all: RSView[], newRS: RSView | undefined): DeploymentStatus {
    const d = this.d;
    const available = sum(all, (r) => r.status.availableReplicas);
    const total = sum(all, (r) => r.replicas);
    const s: DeploymentStatus = {
      observedGeneration: d.metadata?.generation,
      replicas: sum(all, (r) => r.status.replicas),
      updatedReplicas: newRS ? newRS.status.replicas : 0,
      readyReplicas: sum(all, (r) => r.status.readyReplicas),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, total - available),
      conditions: structuredClone(this.status.conditions ?? []),
    };
    if (this.status.collisionCount !== undefined) s.collisionCount = this.status.collisionCount;
    if (available >= replicasOf(d) - maxUnavailable(d)) {
      setCondition(s, newCondition('Available', 'True', Reasons.MinimumReplicasAvailable, 'Deployment has minimum availability.', this.now));
    } else {
      setCondition(s, newCondition('Available', 'False', Reasons.MinimumReplicasUnavailable, 'Deployment does not have minimum availability.', this.now));
    }
    return s;
  }

  /** syncDeploymentStatus: counts only, conditions untouched beyond Available. */
  syncDeploymentStatus(all: RSView[], newRS: RSView | undefined): void {
    this.writeStatus(this.calculateStatus(all, newRS));
  }

  /** syncRolloutStatus (progress.go): counts and the Progressing condition. */
  syncRolloutStatus(all: RSView[], newRS: RSView | undefined): void {
    const d = this.d;
    const s = this.calculateStatus(all, newRS);
    if (!hasProgressDeadline(d)) removeCondition(s, 'Progressing');
    const current = getCondition(this.status, 'Progressing');
    const isComplete = (s.replicas ?? 0) === (s.updatedReplicas ?? 0) && current?.reason === Reasons.NewRSAvailable;
    if (hasProgressDeadline(d) && !isComplete) {
      const rsName = newRS ? `ReplicaSet "${newRS.name}"` : `Deployment "${d.metadata?.name}"`;
      if (deploymentComplete(d, s)) {
        setCondition(s, newCondition('Progressing', 'True', Reasons.NewRSAvailable, `${rsName} has successfully progressed.`, this.now));
      } else if (deploymentProgressing(this.status, s)) {
        let c = newCondition('Progressing', 'True', Reasons.ReplicaSetUpdated, `${rsName} is progressing.`, this.now);
        if (current) {
          if (current.status === 'True') c = { ...c, lastTransitionTime: current.lastTransitionTime };
          removeCondition(s, 'Progressing');
        }
        setCondition(s, c);
      } else if (deploymentTimedOut(d, s, this.now)) {
        setCondition(s, newCondition('Progressing', 'False', Reasons.TimedOut, `${rsName} has timed out progressing.`, this.now));
      }
    }
    this.writeStatus(s);
    // requeueStuckDeployment: look again when the deadline would pass.
    const c = getCondition(s, 'Progressing');
    if (hasProgressDeadline(d) && c && !deploymentComplete(d, s) && c.reason !== Reasons.TimedOut) {
      const from = parseTime(c.lastUpdateTime);
      if (from !== undefined) this.requeue(from + (d.spec?.progressDeadlineSeconds ?? 0) * 1000 - this.now.getTime() + 1000);
    }
  }

  private pendingStatus: DeploymentStatus | undefined;

  writeStatus(s: DeploymentStatus): void {
    this.pendingStatus = s;
  }

  /** Turns the working copies into actions: RS creates and patches, then the deployment's status and revision. */
  finish(): Plan {
    const rsActions: Action[] = [];
    for (const rs of this.rss) {
      if (rs.create) {
        const obj = structuredClone(rs.create);
        obj.metadata!.annotations = rs.annotations;
        obj.spec!.replicas = rs.replicas;
        rsActions.push({ verb: 'create', resource: rsRes, namespace: this.ns, object: obj as KObject });
        continue;
      }
      const o = rs.orig!;
      const patch: { metadata: Record<string, unknown>; spec?: Record<string, unknown> } = { metadata: {} };
      const origAnn = o.metadata?.annotations ?? {};
      const ann: Record<string, string> = {};
      for (const [k, v] of Object.entries(rs.annotations)) if (origAnn[k] !== v) ann[k] = v;
      if (Object.keys(ann).length) patch.metadata['annotations'] = ann;
      const spec: Record<string, unknown> = {};
      if (rs.replicas !== (o.spec?.replicas ?? 1)) spec['replicas'] = rs.replicas;
      if (rs.minReadySeconds !== (o.spec?.minReadySeconds ?? 0)) spec['minReadySeconds'] = rs.minReadySeconds;
      if (Object.keys(spec).length) patch.spec = spec;
      if (!patch.spec && !patch.metadata['annotations']) continue;
      // Pinned to the version these decisions were made on, as kube's Update.
      patch.metadata['resourceVersion'] = o.metadata?.resourceVersion;
      rsActions.push({ verb: 'patch', resource: rsRes, namespace: this.ns, name: rs.name, patchType: 'merge', patch });
    }
    const actions = [...this.actions.filter((a) => a.verb === 'patch'), ...rsActions, ...this.actions.filter((a) => a.verb !== 'patch')];
    const md = this.d.metadata ?? {};
    const status = this.pendingStatus ?? this.status;
    if (normalizedStatus(status) !== normalizedStatus(this.d.status)) {
      actions.push({
        verb: 'patch', resource: deployRes, namespace: this.ns, name: md.name ?? '', subresource: 'status', patchType: 'merge',
        patch: { metadata: { resourceVersion: md.resourceVersion }, status: statusPatch(status) },
      });
    }
    if (this.revision !== undefined && this.revision !== md.annotations?.[RevisionAnnotation]) {
      // Written on the object itself: a status write keeps metadata.
      actions.push({
        verb: 'patch', resource: deployRes, namespace: this.ns, name: md.name ?? '', patchType: 'merge',
        patch: { metadata: { annotations: { [RevisionAnnotation]: this.revision } } },
      });
    }
    const plan: Plan = { actions, events: this.events };
    if (this.requeueAfterMs !== undefined) plan.requeueAfterMs = this.requeueAfterMs;
    return plan;
  }
}

function statusPatch(s: DeploymentStatus): Record<string, unknown> {
  const out: Record<string, unknown> = {
    observedGeneration: s.observedGeneration ?? null,
    replicas: s.replicas ?? 0,
    updatedReplicas: s.updatedReplicas ?? 0,
    readyReplicas: s.readyReplicas ?? 0,
    availableReplicas: s.availableReplicas ?? 0,
    unavailableReplicas: s.unavailableReplicas ?? 0,
    conditions: s.conditions ?? [],
  };
  if (s.collisionCount !== undefined) out['collisionCount'] = s.collisionCount;
  return out;
}

/** math.Round: halves away from zero. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** deploymentutil.FindActiveOrLatest: the only active RS, or the newest when none is active. */
function findActiveOrLatest(newRS: RSView | undefined, old: RSView[]): RSView | undefined {
  if (!newRS && old.length === 0) return undefined;
  const sortedOld = [...old].sort((a, b) => byCreationView(b, a));
  const all = active([...sortedOld, newRS]);
  if (all.length === 0) return newRS ?? sortedOld[0];
  if (all.length === 1) return all[0];
  return undefined;
}

/** deploymentutil.IsSaturated. */
function isSaturated(d: Deployment, rs: RSView): boolean {
  const desired = Number.parseInt(rs.annotations[DesiredReplicasAnnotation] ?? '', 10);
  if (Number.isNaN(desired)) return false;
  const r = replicasOf(d);
  return rs.replicas === r && desired === r && rs.status.availableReplicas === r;
}

/** checkPausedConditions. */
function checkPausedConditions(s: Sync): void {
  const d = s.d;
  if (!hasProgressDeadline(d)) return;
  const c = getCondition(s.status, 'Progressing');
  if (c?.reason === Reasons.TimedOut) return;
  const pausedCondExists = c?.reason === Reasons.PausedDeploy;
  if (d.spec?.paused && !pausedCondExists) {
    setCondition(s.status, newCondition('Progressing', 'Unknown', Reasons.PausedDeploy, 'Deployment is paused', s.now));
  } else if (!d.spec?.paused && pausedCondExists) {
    setCondition(s.status, newCondition('Progressing', 'Unknown', Reasons.ResumedDeploy, 'Deployment is resumed', s.now));
  }
}

function syncDeployment(d: Deployment, cache: Cache, now: Date): Plan {
  const ns = d.metadata?.namespace ?? '';
  const reqs = selectorRequirements(d.spec?.selector);
  const rsInNs = cache.list(rsRes, ns);
  const podsInNs = cache.list(podsRes, ns);
  if (reqs !== null && reqs.length === 0) {
    // An empty selector would select every pod: kube refuses to act on it.
    const s = new Sync(d, now, [], []);
    s.events.push({
      involvedObject: { ...deploymentKind, namespace: ns, name: d.metadata?.name ?? '', uid: d.metadata?.uid },
      type: 'Warning', reason: 'SelectingAll', message: 'This deployment is selecting all pods. A non-empty selector is required.',
    });
    if ((d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) s.writeStatus({ ...s.status, observedGeneration: d.metadata?.generation });
    return s.finish();
  }
  if (reqs === null) return { actions: [] };

  const claimed = claim(d as KObject, deploymentKind.apiVersion, deploymentKind.kind, reqs, rsInNs, rsRes);
  const views = claimed.claimed.map((o) => viewOf(o as ReplicaSet));
  const uids = new Set(views.map((v) => v.uid));
  const pods = podsInNs.filter((p) => uids.has(controllerRefOf(p)?.uid)).map(asPod);
  const s = new Sync(d, now, views, pods);
  s.actions.push(...claimed.actions);
  for (const o of rsInNs) if (!uids.has(o.metadata?.uid)) s.foreignNames.add(o.metadata?.name ?? '');

  if (isBeingDeleted(d as KObject)) {
    const { newRS, old } = s.split();
    s.syncDeploymentStatus([...old, ...(newRS ? [newRS] : [])], newRS);
    return s.finish();
  }

  checkPausedConditions(s);
  const current = s.getAll(false)!;
  const all = (n: RSView | undefined, old: RSView[]): RSView[] => (n ? [...old, n] : [...old]);

  if (d.spec?.paused || s.isScalingEvent(current.newRS, current.old)) {
    s.scale(current.newRS, current.old);
    if (d.spec?.paused) s.cleanupDeployment(current.old);
    s.syncDeploymentStatus(all(current.newRS, current.old), current.newRS);
    return s.finish();
  }

  if (!isRollingUpdate(d)) {
    // rolloutRecreate: old pods all gone before the new RS scales up.
    const old = current.old;
    let scaledDown = false;
    for (const rs of active(old)) if (s.scaleAndRecord(rs, 0)) scaledDown = true;
    if (scaledDown) {
      s.syncRolloutStatus(all(current.newRS, old), current.newRS);
      return s.finish();
    }
    if (s.oldPodsRunning(current.newRS, old)) {
      s.syncRolloutStatus(all(current.newRS, old), current.newRS);
      // Pod deletions also requeue us (keysFor); this is a backstop.
      s.requeue(5000);
      return s.finish();
    }
    let newRS = current.newRS;
    if (!newRS) {
      const created = s.getAll(true);
      if (!created) { s.writeStatus(s.status); return s.finish(); }
      newRS = created.newRS!;
    }
    s.scaleAndRecord(newRS, replicasOf(d));
    if (deploymentComplete(d, d.status ?? {})) s.cleanupDeployment(old);
    s.syncRolloutStatus(all(newRS, old), newRS);
    return s.finish();
  }

  // rolloutRolling.
  const got = current.newRS ? current : s.getAll(true);
  if (!got) { s.writeStatus(s.status); return s.finish(); }
  const newRS = got.newRS!;
  const allRSs = all(newRS, got.old);
  if (s.reconcileNewReplicaSet(allRSs, newRS)) {
    s.syncRolloutStatus(allRSs, newRS);
    return s.finish();
  }
  if (s.reconcileOldReplicaSets(allRSs, active(got.old), newRS)) {
    s.syncRolloutStatus(allRSs, newRS);
    return s.finish();
  }
  if (deploymentComplete(d, d.status ?? {})) s.cleanupDeployment(got.old);
  s.syncRolloutStatus(allRSs, newRS);
  return s.finish();
}

/** The deployment that owns a pod's ReplicaSet: from the cache, or by name (`<deployment>-<pod-template-hash>`). */
function deploymentNameForPod(p: KObject, cache?: Cache): string | undefined {
  const ref = controllerRefOf(p);
  if (ref && ref.kind === 'ReplicaSet' && cache) {
    const rs = cache.get(rsRes, p.metadata?.namespace, ref.name);
    const owner = controllerRefOf(rs);
    if (owner) return owner.kind === 'Deployment' ? owner.name : undefined;
  }
  const hash = p.metadata?.labels?.[podTemplateHashLabel];
  if (!ref || ref.kind !== 'ReplicaSet' || !hash || !ref.name.endsWith(`-${hash}`)) return undefined;
  return ref.name.slice(0, -hash.length - 1);
}

/**
 * Keys are `namespace/name` of a Deployment, or `namespace/*` (an orphan
 * ReplicaSet appeared that a Deployment there may adopt).
 */
export function deploymentController(): Reconciler {
  return {
    name: 'deployment-controller',
    watches: [deployRes, rsRes, podsRes],
    keysFor(r: ResourceInfo, obj: KObject, old?: KObject, cache?: Cache): string[] {
      const keys = new Set<string>();
      const ns = obj.metadata?.namespace ?? '';
      if (r.plural === 'deployments') return [`${ns}/${obj.metadata?.name}`];
      for (const o of [obj, old]) {
        if (!o) continue;
        if (r.plural === 'replicasets') {
          const ref = controllerRefOf(o);
          if (ref) {
            if (ref.kind === 'Deployment' && ref.apiVersion.startsWith('apps/')) keys.add(`${ns}/${ref.name}`);
          } else if (o === obj && !isBeingDeleted(o)) {
            // An orphan: the Deployments that select it may adopt it.
            if (!cache) { keys.add(namespaceWildcardKey(ns)); continue; }
            for (const d of cache.list(deployRes, ns)) {
              if (selects(selectorRequirements((d as Deployment).spec?.selector), o)) keys.add(`${ns}/${d.metadata?.name}`);
            }
          }
        } else if (r.plural === 'pods') {
          // Only the end of a pod matters here (Recreate waits for old pods to go).
          if (!isBeingDeleted(o) && !isPodTerminal(asPod(o))) continue;
          const name = deploymentNameForPod(o, cache);
          if (name) keys.add(`${ns}/${name}`);
        }
      }
      return [...keys];
    },
    reconcile(key: string, cache: Cache, now: Date): Plan {
      const { namespace, name } = splitKey(key);
      if (name === '*') {
        const plans = cache.list(deployRes, namespace).map((d) => syncDeployment(d as Deployment, cache, now));
        const out: Plan = { actions: plans.flatMap((p) => p.actions), events: plans.flatMap((p) => p.events ?? []) };
        const rq = plans.map((p) => p.requeueAfterMs).filter((x): x is number => x !== undefined);
        if (rq.length) out.requeueAfterMs = Math.min(...rq);
        return out;
      }
      const d = cache.get(deployRes, namespace, name) as Deployment | undefined;
      if (!d) return { actions: [] };
      return syncDeployment(d, cache, now);
    },
  };
}

/** For tests and tools: the name the next ReplicaSet of this deployment gets. */
export function newReplicaSetName(d: Deployment): string {
  return `${d.metadata?.name}-${computeHash(d.spec?.template, d.status?.collisionCount)}`;
}
