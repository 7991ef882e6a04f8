// Server-side printing glue: the Table and PartialObjectMetadata encodings of
// objects, built from the pure column printers in api/printers.
import { tableFor } from '../api/printers.js';
import type { ResourceInfo } from '../api/resources.js';
import type { Obj } from './registry/generic.js';

export interface TableOptions {
  now: Date;
  includeObject: 'None' | 'Object' | 'Metadata';
  version: string;
}

export function toTable(info: ResourceInfo, objs: Obj[], opts: TableOptions): object {
  const t = tableFor(info, objs, { now: opts.now, includeObject: opts.includeObject }) as unknown as Record<string, unknown>;
  t['apiVersion'] = `meta.k8s.io/${opts.version}`;
  return t;
}

export function toPartialMetadata(o: Obj, version: string): object {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: o.metadata };
}
