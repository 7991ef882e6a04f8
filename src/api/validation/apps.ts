// Deployment and ReplicaSet validation: the core rules of kube-apiserver's
// pkg/apis/apps/validation (ValidateDeploymentSpec, ValidateReplicaSetSpec,
// ValidatePodTemplateSpecForReplicaSet), with Kubernetes' messages.
import type { Deployment, DeploymentStrategy, ReplicaSet, RollingUpdateDeployment } from 'kubernetes-types/apps/v1.js';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { goValue, type FieldError } from '../errors.js';
import { field, Path } from './field.js';
import {
  goLabelSelector, labelSelectorMatches, ValidateImmutableField, ValidateLabelSelector, ValidateNonnegativeField,
  ValidateObjectMeta, ValidateObjectMetaUpdate,
} from './meta.js';
import { IsValidPercent, NameIsDNSSubdomain } from './names.js';
import { ValidatePodTemplateSpec } from './pod.js';

function validateSelector(sel: LabelSelector | undefined, p: Path): FieldError[] {
  if (!sel) return [field.required(p, '')];
  const errs = ValidateLabelSelector(sel, p);
  if (Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions?.length ?? 0) === 0) {
    // Kubernetes says "deployment" for ReplicaSets too.
    errs.push(field.invalid(p, goValue.raw(`&${goLabelSelector(sel)}`), 'empty selector is invalid for deployment'));
  }
  return errs;
}

/** ValidatePodTemplateSpecForReplicaSet: the selector must select the template, which must restart Always. */
function validateTemplateForReplicaSet(t: PodTemplateSpec | undefined, sel: LabelSelector | undefined, p: Path): FieldError[] {
  if (!t) return [field.required(p, '')];
  const errs: FieldError[] = [];
  const empty = !sel || Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions?.length ?? 0) === 0;
  if (!empty && !labelSelectorMatches(sel!, t.metadata?.labels)) {
    errs.push(field.invalid(p.child('metadata', 'labels'), goValue.stringMap(t.metadata?.labels), '`selector` does not match template `labels`'));
  }
  errs.push(...ValidatePodTemplateSpec(t, p));
  const rp = t.spec?.restartPolicy ?? '';
  if (rp !== 'Always') errs.push(field.notSupported(p.child('spec', 'restartPolicy'), rp, ['Always']));
  if (t.spec?.activeDeadlineSeconds !== undefined && t.spec?.activeDeadlineSeconds !== null) {
    errs.push(field.forbidden(p.child('spec', 'activeDeadlineSeconds'), 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  }
  return errs;
}

function validatePositiveIntOrPercent(v: number | string | undefined, p: Path): FieldError[] {
  if (typeof v === 'string') {
    return IsValidPercent(v).length ? [field.invalid(p, v, "must be an integer or percentage (e.g '5%')")] : [];
  }
  return ValidateNonnegativeField(v ?? 0, p);
}

function isNotMoreThan100Percent(v: number | string | undefined, p: Path): FieldError[] {
  if (typeof v !== 'string' || IsValidPercent(v).length) return [];
  return parseInt(v, 10) > 100 ? [field.invalid(p, v, 'must not be greater than 100%')] : [];
}

function isZero(v: number | string | undefined): boolean {
  return v === undefined || v === 0 || v === '0%';
}

function validateRollingUpdate(ru: RollingUpdateDeployment, p: Path): FieldError[] {
  const errs = validatePositiveIntOrPercent(ru.maxUnavailable, p.child('maxUnavailable'));
  errs.push(...validatePositiveIntOrPercent(ru.maxSurge, p.child('maxSurge')));
  if (isZero(ru.maxUnavailable) && isZero(ru.maxSurge)) {
    // Both zero would make no progress.
    errs.push(field.invalid(p.child('maxUnavailable'), ru.maxUnavailable ?? 0, 'may not be 0 when `maxSurge` is 0'));
  }
  errs.push(...isNotMoreThan100Percent(ru.maxUnavailable, p.child('maxUnavailable')));
  return errs;
}

function validateStrategy(s: DeploymentStrategy | undefined, p: Path): FieldError[] {
  switch (s?.type) {
    case 'Recreate':
      return s.rollingUpdate ? [field.forbidden(p.child('rollingUpdate'), "may not be specified when strategy `type` is 'Recreate'")] : [];
    case 'RollingUpdate':
      if (!s.rollingUpdate) return [field.required(p.child('rollingUpdate'), 'this should be defaulted and never be nil')];
      return validateRollingUpdate(s.rollingUpdate, p.child('rollingUpdate'));
    default:
      return [field.notSupported(p, goValue.raw(`&apps.DeploymentStrategy{Type:${JSON.stringify(s?.type ?? '')}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}`),
        ['Recreate', 'RollingUpdate'])];
  }
}

export function ValidateDeployment(d: Deployment): FieldError[] {
  const errs = ValidateObjectMeta(d.metadata, true, NameIsDNSSubdomain, Path.root('metadata'));
  const s = d.spec;
  const p = Path.root('spec');
  errs.push(...ValidateNonnegativeField(s?.replicas ?? 0, p.child('replicas')));
  errs.push(...validateSelector(s?.selector, p.child('selector')));
  errs.push(...validateTemplateForReplicaSet(s?.template, s?.selector, p.child('template')));
  errs.push(...validateStrategy(s?.strategy, p.child('strategy')));
  errs.push(...ValidateNonnegativeField(s?.minReadySeconds ?? 0, p.child('minReadySeconds')));
  if (s?.revisionHistoryLimit !== undefined && s.revisionHistoryLimit !== null) {
    errs.push(...ValidateNonnegativeField(s.revisionHistoryLimit, p.child('revisionHistoryLimit')));
  }
  if (s?.progressDeadlineSeconds !== undefined && s.progressDeadlineSeconds !== null) {
    errs.push(...ValidateNonnegativeField(s.progressDeadlineSeconds, p.child('progressDeadlineSeconds')));
    if (s.progressDeadlineSeconds <= (s.minReadySeconds ?? 0)) {
      errs.push(field.invalid(p.child('progressDeadlineSeconds'), s.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
    }
  }
  return errs;
}

export function ValidateDeploymentUpdate(d: Deployment, old: Deployment): FieldError[] {
  const errs = ValidateObjectMetaUpdate(d.metadata, old.metadata, Path.root('metadata'));
  errs.push(...ValidateDeployment(d).filter((e) => !e.field.startsWith('metadata.')));
  // apps/v1 made the selector immutable.
  if (JSON.stringify(d.spec?.selector ?? null) !== JSON.stringify(old.spec?.selector ?? null)) {
    errs.push(...ValidateImmutableField(goValue.raw(`&${goLabelSelector(d.spec?.selector)}`), null, Path.root('spec', 'selector')));
  }
  return errs;
}

export function ValidateReplicaSet(rs: ReplicaSet): FieldError[] {
  const errs = ValidateObjectMeta(rs.metadata, true, NameIsDNSSubdomain, Path.root('metadata'));
  const s = rs.spec;
  const p = Path.root('spec');
  errs.push(...ValidateNonnegativeField(s?.replicas ?? 0, p.child('replicas')));
  errs.push(...ValidateNonnegativeField(s?.minReadySeconds ?? 0, p.child('minReadySeconds')));
  errs.push(...validateSelector(s?.selector, p.child('selector')));
  errs.push(...validateTemplateForReplicaSet(s?.template, s?.selector, p.child('template')));
  return errs;
}

export function ValidateReplicaSetUpdate(rs: ReplicaSet, old: ReplicaSet): FieldError[] {
  const errs = ValidateObjectMetaUpdate(rs.metadata, old.metadata, Path.root('metadata'));
  errs.push(...ValidateReplicaSet(rs).filter((e) => !e.field.startsWith('metadata.')));
  if (JSON.stringify(rs.spec?.selector ?? null) !== JSON.stringify(old.spec?.selector ?? null)) {
    errs.push(...ValidateImmutableField(goValue.raw(`&${goLabelSelector(rs.spec?.selector)}`), null, Path.root('spec', 'selector')));
  }
  return errs;
}
