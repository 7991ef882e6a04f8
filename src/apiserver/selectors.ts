// Label and field selectors of list/watch requests, as one object filter.
// Parse errors and unsupported field paths are 400 BadRequest, as kube-apiserver.
import { errors } from '../api/errors.js';
import * as fields from '../api/fields.js';
import * as labels from '../api/labels.js';
import type { ResourceInfo } from '../api/resources.js';
import type { ObjFilter } from './registry/generic.js';

export function buildFilter(info: ResourceInfo, labelSelector: string, fieldSelector: string): ObjFilter | undefined {
  if (!labelSelector.trim() && !fieldSelector.trim()) return undefined;
  let lreq: labels.Requirement[] = [];
  let freq: fields.FieldRequirement[] = [];
  try {
    lreq = labels.parse(labelSelector);
  } catch (e) {
    throw errors.badRequest(`unable to parse requirement: ${(e as Error).message}`.replace('unable to parse requirement: unable to parse requirement: ', 'unable to parse requirement: '));
  }
  try {
    freq = fields.convertSelector(info.kind, fields.parse(fieldSelector));
  } catch (e) {
    throw errors.badRequest((e as Error).message);
  }
  return (o) => labels.matches(lreq, o.metadata.labels) && fields.objectMatches(info.kind, o, freq);
}
