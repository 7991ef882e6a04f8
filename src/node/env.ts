// A container's environment, as kubelet builds it (pkg/kubelet/kubelet_pods.go
// makeEnvironmentVariables): service links first, then envFrom, then env in
// order, each value with its $(VAR) references expanded against what came
// before. Pure: ConfigMaps and Services are passed in.
import type { ConfigMap, Container, Pod, Service } from 'kubernetes-types/core/v1.js';

/**
 * Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion):
 * `$(NAME)` → the value when NAME is defined, left as written otherwise;
 * `$$` → `$` (so `$$(NAME)` is the literal `$(NAME)`).
 */
export function expandVars(s: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch !== '$' || i + 1 >= s.length) { out += ch; continue; }
    const next = s[i + 1]!;
    if (next === '$') { out += '$'; i++; continue; }
    if (next === '(') {
      const close = s.indexOf(')', i + 2);
      if (close < 0) { out += s.slice(i); break; }
      const name = s.slice(i + 2, close);
      const v = lookup(name);
      out += v !== undefined ? v : `$(${name})`;
      i = close;
      continue;
    }
    out += ch;
  }
  return out;
}

function envName(serviceName: string): string {
  return serviceName.toUpperCase().replace(/-/g, '_');
}

/**
 * Docker-links-style variables for the services a pod sees
 * (pkg/kubelet/envvars FromServices): the `kubernetes` service of `default`
 * always, and the services of the pod's namespace when enableServiceLinks.
 */
export function serviceEnvVars(services: readonly Service[], podNamespace: string, enableServiceLinks: boolean): [string, string][] {
  const byName = new Map<string, Service>();
  for (const s of services) {
    const ip = s.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const name = s.metadata?.name ?? '';
    if (s.metadata?.namespace === 'default' && name === 'kubernetes') {
      if (!byName.has(name)) byName.set(name, s);
    } else if (s.metadata?.namespace === podNamespace && enableServiceLinks) {
      byName.set(name, s);
    }
  }
  const out: [string, string][] = [];
  for (const name of [...byName.keys()].sort()) {
    const s = byName.get(name)!;
    const ip = s.spec!.clusterIP!;
    const ports = s.spec?.ports ?? [];
    const n = envName(name);
    out.push([`${n}_SERVICE_HOST`, ip]);
    if (ports.length === 0) continue;
    out.push([`${n}_SERVICE_PORT`, String(ports[0]!.port)]);
    for (const p of ports) if (p.name) out.push([`${n}_SERVICE_PORT_${envName(p.name)}`, String(p.port)]);
    const hostPort = ip.includes(':') ? `[${ip}]` : ip;
    const proto0 = (ports[0]!.protocol ?? 'TCP').toLowerCase();
    out.push([`${n}_PORT`, `${proto0}://${hostPort}:${ports[0]!.port}`]);
    for (const p of ports) {
      const proto = (p.protocol ?? 'TCP');
      const base = `${n}_PORT_${p.port}_${proto.toUpperCase()}`;
      out.push([base, `${proto.toLowerCase()}://${hostPort}:${p.port}`]);
      out.push([`${base}_PROTO`, proto.toLowerCase()]);
      out.push([`${base}_PORT`, String(p.port)]);
      out.push([`${base}_ADDR`, ip]);
    }
  }
  return out;
}

export interface EnvInputs {
  pod: Pod;
  container: Container;
  podIP: string;
  hostIP: string;
  /** Every Service the agent knows (filtered here). */
  services: readonly Service[];
  /** ConfigMaps of the pod's namespace by name (only the referenced ones need be present). */
  configMaps: ReadonlyMap<string, ConfigMap>;
  /** What every container starts with (PATH, HOME, HOSTNAME). */
  base: Readonly<Record<string, string>>;
  /** Node allocatable, for resourceFieldRef without limits. */
  nodeCPU: number;
  nodeMemoryBytes: number;
}

/** The env, or the error kubelet reports as CreateContainerConfigError. */
export function containerEnv(i: EnvInputs): { env: Record<string, string>; error?: string } {
  const env = new Map<string, string>(Object.entries(i.base));
  for (const [k, v] of serviceEnvVars(i.services, i.pod.metadata?.namespace ?? 'default', i.pod.spec?.enableServiceLinks !== false)) env.set(k, v);
  const lookup = (n: string): string | undefined => env.get(n);
  for (const from of i.container.envFrom ?? []) {
    if (from.configMapRef) {
      const cm = i.configMaps.get(from.configMapRef.name ?? '');
      if (!cm) {
        if (from.configMapRef.optional) continue;
        return { env: {}, error: `configmap "${from.configMapRef.name}" not found` };
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) env.set(`${from.prefix ?? ''}${k}`, v);
    } else if (from.secretRef && !from.secretRef.optional) {
      return { env: {}, error: `secret "${from.secretRef.name}" not found` };
    }
  }
  for (const e of i.container.env ?? []) {
    if (e.value !== undefined) { env.set(e.name, expandVars(e.value, lookup)); continue; }
    const vf = e.valueFrom;
    if (!vf) { env.set(e.name, ''); continue; }
    if (vf.fieldRef) {
      const v = fieldRefValue(i, vf.fieldRef.fieldPath);
      if (v === undefined) return { env: {}, error: `unsupported fieldPath: ${vf.fieldRef.fieldPath}` };
      env.set(e.name, v);
    } else if (vf.configMapKeyRef) {
      const cm = i.configMaps.get(vf.configMapKeyRef.name ?? '');
      const v = cm?.data?.[vf.configMapKeyRef.key];
      if (v === undefined) {
        if (vf.configMapKeyRef.optional) continue;
        return { env: {}, error: cm ? `couldn't find key ${vf.configMapKeyRef.key} in ConfigMap ${i.pod.metadata?.namespace}/${vf.configMapKeyRef.name}` : `configmap "${vf.configMapKeyRef.name}" not found` };
      }
      env.set(e.name, v);
    } else if (vf.resourceFieldRef) {
      env.set(e.name, resourceValue(i, vf.resourceFieldRef.resource, vf.resourceFieldRef.containerName));
    } else if (vf.secretKeyRef) {
      if (vf.secretKeyRef.optional) continue;
      return { env: {}, error: `secret "${vf.secretKeyRef.name}" not found` };
    }
  }
  return { env: Object.fromEntries(env) };
}

function fieldRefValue(i: EnvInputs, path: string): string | undefined {
  const md = i.pod.metadata ?? {};
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return md.name ?? '';
    case 'metadata.namespace': return md.namespace ?? '';
    case 'metadata.uid': return md.uid ?? '';
    case 'spec.nodeName': return i.pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return i.pod.spec?.serviceAccountName ?? 'default';
    case 'status.hostIP': case 'status.hostIPs': return i.hostIP;
    case 'status.podIP': case 'status.podIPs': return i.podIP;
    default: return undefined;
  }
}

function resourceValue(i: EnvInputs, resource: string, containerName?: string): string {
  const c = containerName ? (i.pod.spec?.containers ?? []).find((x) => x.name === containerName) ?? i.container : i.container;
  const [kind, name] = resource.split('.') as [string, string];
  const q = (kind === 'limits' ? c.resources?.limits : c.resources?.requests)?.[name];
  if (name === 'cpu') {
    // Rounded up to whole cores with the default divisor of 1.
    if (q === undefined) return kind === 'limits' ? String(i.nodeCPU) : '0';
    const s = String(q);
    const cores = s.endsWith('m') ? Number(s.slice(0, -1)) / 1000 : Number(s);
    return String(Math.max(1, Math.ceil(cores)));
  }
  if (name === 'memory') {
    if (q === undefined) return kind === 'limits' ? String(i.nodeMemoryBytes) : '0';
    return String(quantityBytes(String(q)));
  }
  return q === undefined ? '0' : String(q);
}

function quantityBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(s);
  if (!m) return 0;
  const mult: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Math.ceil(Number(m[1]) * (m[2] ? mult[m[2]]! : 1));
}
