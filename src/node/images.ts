// There are no images: a container is a process of the host, run inside its
// pod's network namespace. This file decides which process (pure).
//
// - A `command` runs as given with host binaries (sh, python3, node, socat,
//   sleep…), followed by `args`, as a container runtime runs entrypoint + cmd.
// - registry.k8s.io/e2e-test-images/agnhost is built in: `netexec`,
//   `serve-hostname`, `porter`, `pause`, `liveness` (builtin/agnhost.ts).
// - registry.k8s.io/pause is built in (sleeps until signalled).
// - Shell-like base images (busybox, alpine, debian, python, node…) without a
//   command run their `args` as the command (their entrypoint is empty), or
//   their default CMD. Their `nslookup` is built in (builtin/nslookup.ts,
//   busybox's output): hosts rarely have one, and the docs' DNS checks use it.
// - Any other image (nginx, httpd, anything unknown) runs the generic server:
//   HTTP answering the pod's name on each declared TCP containerPort, UDP echo
//   on each UDP one; nginx-like images with no port declared listen on 80.
import type { Container } from 'kubernetes-types/core/v1.js';

export interface ImageRef {
  /** Registry host, e.g. docker.io, registry.k8s.io. */
  registry: string;
  /** Repository path, e.g. library/nginx, e2e-test-images/agnhost. */
  repository: string;
  tag: string;
  digest?: string;
}

/** Docker's reference normalization (docker.io/library/… for short names, `latest` when untagged). */
export function parseImage(image: string): ImageRef {
  let rest = image.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) { digest = rest.slice(at + 1); rest = rest.slice(0, at); }
  let tag = '';
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) { tag = rest.slice(colon + 1); rest = rest.slice(0, colon); }
  let registry = 'docker.io';
  const first = rest.split('/')[0]!;
  if (rest.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    rest = rest.slice(first.length + 1);
  }
  if (registry === 'docker.io' && !rest.includes('/')) rest = `library/${rest}`;
  return { registry, repository: rest, tag: tag || (digest ? '' : 'latest'), digest };
}

/** `docker.io/library/nginx:latest`, as containerd reports `image` in container statuses. */
export function normalizeImage(image: string): string {
  const r = parseImage(image);
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

function baseName(r: ImageRef): string {
  return r.repository.split('/').pop() ?? r.repository;
}

export type ImageKind = 'agnhost' | 'pause' | 'shell' | 'server';

/** Shell-like images: entrypoint empty, default CMD as given. */
const shellImages: Record<string, string[]> = {
  busybox: ['sh'], alpine: ['/bin/sh'], ubuntu: ['/bin/bash'], debian: ['bash'], fedora: ['/bin/bash'], centos: ['/bin/bash'],
  bash: ['bash'], python: ['python3'], node: ['node'], curl: ['curl'], netshoot: ['zsh'], 'toolbox': ['bash'],
};
/** Servers that listen on 80 when the pod declares no port. */
const port80Images = new Set(['nginx', 'httpd', 'apache', 'caddy', 'nginx-unprivileged', 'traefik-whoami', 'whoami']);

export function imageKind(image: string): ImageKind {
  const r = parseImage(image);
  const b = baseName(r);
  if (b === 'agnhost') return 'agnhost';
  if (b === 'pause') return 'pause';
  if (b in shellImages) return 'shell';
  return 'server';
}

export interface ServedPort { port: number; protocol: 'TCP' | 'UDP' }

export type ResolvedCommand =
  /** A host program: argv[0] is resolved on the host's PATH by the runtime. */
  | { kind: 'host'; argv: string[] }
  /** A built-in image: run `node builtin/image.js <name> …args`; it reports on fd 3 once listening. */
  | { kind: 'builtin'; name: BuiltinName; args: string[] };

export type BuiltinName = 'agnhost' | 'pause' | 'serve' | 'nslookup';

/**
 * The built-in program an argv stands for, if any: `nslookup` (by its base name, as
 * /usr/bin/nslookup in busybox). Shared by containers of shell-like images and by
 * `kubectl exec` (exec.ts), so both print the same thing.
 */
export function builtinFor(argv: readonly string[]): { name: BuiltinName; args: string[] } | undefined {
  const base = argv[0]?.split('/').pop();
  if (base === 'nslookup') return { name: 'nslookup', args: argv.slice(1) };
  return undefined;
}

/**
 * What to run for a container. `command` and `args` must already have their
 * $(VAR) references expanded.
 */
export function resolveContainerCommand(c: Pick<Container, 'image' | 'ports'>, command: readonly string[], args: readonly string[]): ResolvedCommand {
  const image = c.image ?? '';
  const kind = imageKind(image);
  const cmd0 = command[0];
  const cmdBase = cmd0 ? cmd0.split('/').pop() : undefined;
  if (kind === 'agnhost' && (command.length === 0 || cmdBase === 'agnhost')) {
    return { kind: 'builtin', name: 'agnhost', args: [...command.slice(1), ...args] };
  }
  if (kind === 'pause' && (command.length === 0 || cmdBase === 'pause')) return { kind: 'builtin', name: 'pause', args: [] };
  if (kind === 'shell') {
    const b = builtinFor(command.length > 0 ? [...command, ...args] : args);
    if (b) return { kind: 'builtin', ...b };
  }
  if (command.length > 0) return { kind: 'host', argv: [...command, ...args] };
  if (kind === 'shell') {
    if (args.length > 0) return { kind: 'host', argv: [...args] };
    return { kind: 'host', argv: [...(shellImages[baseName(parseImage(image))] ?? ['sh'])] };
  }
  return { kind: 'builtin', name: 'serve', args: servePorts(c).map((p) => `--port=${p.port}/${p.protocol}`) };
}

/** The ports the generic server listens on. */
export function servePorts(c: Pick<Container, 'image' | 'ports'>): ServedPort[] {
  const out: ServedPort[] = [];
  for (const p of c.ports ?? []) {
    const protocol = (p.protocol ?? 'TCP').toUpperCase();
    if (protocol !== 'TCP' && protocol !== 'UDP') continue;
    if (!out.some((o) => o.port === p.containerPort && o.protocol === protocol)) out.push({ port: p.containerPort, protocol });
  }
  if (out.length === 0 && port80Images.has(baseName(parseImage(c.image ?? '')))) out.push({ port: 80, protocol: 'TCP' });
  return out;
}
