// Deterministic names for everything the node agent and the topology create
// in the kernel and on disk.
//
// Network namespace names are file names under /run/netns (and directory
// names under /etc/netns): at most 255 bytes, no '/'. We keep them to
// [a-z0-9.-] and at most 200 characters; a longer readable name is cut and
// ends in '-' plus a hash of the full one, so it stays unique (kube-proxy's
// hashAndTruncate, same idea).
//
// Interface names are limited by IFNAMSIZ (16 bytes with the NUL = 15
// characters) and must not contain '/', ':' or whitespace. Names are per
// namespace, so short fixed names (eth0, br0) are fine where there is only
// one; the node side of a pod's veth is `veth` + 11 hex characters of
// sha256(pod uid): 15 characters, unique among the pods of a node (the same
// shape as Calico's `cali` + 11).
import { createHash } from 'node:crypto';
import { NodeError } from './errors.js';

export const IFNAMSIZ_MAX = 15;
const NETNS_MAX = 200;

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/** Cluster prefixes: lower-case letters, digits and '-', starting with a letter, 1–40 characters. */
export function validatePrefix(prefix: string): void {
  if (!/^[a-z][a-z0-9-]{0,39}$/.test(prefix) || prefix.endsWith('-')) {
    throw new NodeError('BAD_NAME', `invalid cluster prefix "${prefix}": want [a-z][a-z0-9-]*, at most 40 characters, not ending in '-'`);
  }
}

function clampNetnsName(name: string): string {
  const clean = name.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  if (clean.length <= NETNS_MAX && clean === name) return clean;
  const h = sha256Hex(name).slice(0, 10);
  return `${clean.slice(0, NETNS_MAX - 11)}-${h}`;
}

export function lanNetnsName(prefix: string): string { return `${prefix}-lan`; }
export function clientNetnsName(prefix: string): string { return `${prefix}-client`; }
export function nodeNetnsName(prefix: string, nodeName: string): string {
  return clampNetnsName(`${prefix}-node-${nodeName}`);
}

/**
 * `<prefix>-pod-<namespace>-<name>-<first 8 hex of sha256(uid)>`: readable,
 * and unique even when a pod is recreated with the same name while the old
 * one is still terminating.
 */
export function podNetnsName(prefix: string, namespace: string, name: string, uid: string): string {
  return clampNetnsName(`${prefix}-pod-${namespace}-${name}-${sha256Hex(uid).slice(0, 8)}`);
}

/** Every namespace name a cluster with this prefix may create (what destroyTopology removes). */
export function isClusterNetns(prefix: string, netns: string): boolean {
  return netns === lanNetnsName(prefix) || netns === clientNetnsName(prefix)
    || netns.startsWith(`${prefix}-node-`) || netns.startsWith(`${prefix}-pod-`);
}

export function isPodNetns(prefix: string, netns: string): boolean {
  return netns.startsWith(`${prefix}-pod-`);
}

/** Node side of a pod's veth, in the node's namespace. */
export function hostVethName(podUid: string): string {
  return `veth${sha256Hex(podUid).slice(0, 11)}`;
}

/** A node's port on the LAN bridge, in the lan namespace: `n` + 12 hex of sha256(node name) (13 ≤ 15). */
export function lanPortName(nodeName: string): string {
  return `n${sha256Hex(nodeName).slice(0, 12)}`;
}

export function checkIfName(name: string): void {
  if (name.length === 0 || name.length > IFNAMSIZ_MAX || /[/:\s]/.test(name) || name === '.' || name === '..') {
    throw new NodeError('BAD_NAME', `invalid interface name "${name}" (1–${IFNAMSIZ_MAX} characters, no '/', ':' or spaces)`);
  }
}

export function checkNetnsName(name: string): void {
  if (name.length === 0 || name.length > 255 || name.includes('/') || name === '.' || name === '..' || /\s/.test(name)) {
    throw new NodeError('BAD_NAME', `invalid network namespace name "${name}"`);
  }
}
