// Lease validation (kube-apiserver pkg/apis/coordination/validation).
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { FieldError } from '../errors.js';
import { field, Path } from './field.js';
import { ValidateObjectMeta, ValidateObjectMetaUpdate } from './meta.js';
import { NameIsDNSSubdomain } from './names.js';

function validateLeaseSpec(lease: Lease): FieldError[] {
  const errs: FieldError[] = [];
  const s = lease.spec ?? {};
  const p = Path.root('spec');
  if (s.leaseDurationSeconds !== undefined && s.leaseDurationSeconds !== null && s.leaseDurationSeconds <= 0) {
    errs.push(field.invalid(p.child('leaseDurationSeconds'), s.leaseDurationSeconds, 'must be greater than 0'));
  }
  if (s.leaseTransitions !== undefined && s.leaseTransitions !== null && s.leaseTransitions < 0) {
    errs.push(field.invalid(p.child('leaseTransitions'), s.leaseTransitions, 'must be greater than or equal to 0'));
  }
  return errs;
}

export function ValidateLease(lease: Lease): FieldError[] {
  return [...ValidateObjectMeta(lease.metadata, true, NameIsDNSSubdomain, Path.root('metadata')), ...validateLeaseSpec(lease)];
}

export function ValidateLeaseUpdate(lease: Lease, old: Lease): FieldError[] {
  return [...ValidateObjectMetaUpdate(lease.metadata, old.metadata, Path.root('metadata')), ...validateLeaseSpec(lease)];
}
