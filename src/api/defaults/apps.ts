// apps/v1 defaulting (pkg/apis/apps/v1 defaults.go): Deployment and ReplicaSet,
// with the core defaults applied to their pod templates.
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import { SetDefaults_PodSpec } from './pod.js';

export function SetDefaults_Deployment(d: Deployment): void {
  const spec = (d.spec ??= { selector: {}, template: {} });
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  const strategy = (spec.strategy ??= {});
  if (!strategy.type) strategy.type = 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const ru = (strategy.rollingUpdate ??= {});
    if (ru.maxUnavailable === undefined || ru.maxUnavailable === null) ru.maxUnavailable = '25%';
    if (ru.maxSurge === undefined || ru.maxSurge === null) ru.maxSurge = '25%';
  }
  if (spec.revisionHistoryLimit === undefined || spec.revisionHistoryLimit === null) spec.revisionHistoryLimit = 10;
  if (spec.progressDeadlineSeconds === undefined || spec.progressDeadlineSeconds === null) spec.progressDeadlineSeconds = 600;
  if (spec.template?.spec) SetDefaults_PodSpec(spec.template.spec);
}

export function SetDefaults_ReplicaSet(rs: ReplicaSet): void {
  const spec = (rs.spec ??= { selector: {} });
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  if (spec.template?.spec) SetDefaults_PodSpec(spec.template.spec);
}
