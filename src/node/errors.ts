// Errors of the node agent: one class, a stable code per failure, so callers
// (the CLI, the API server's pods/log) can branch on `code` and tests can
// assert on it. Every code is listed in `nodeErrorCodes` with what it means.

export const nodeErrorCodes = {
  IP_COMMAND_FAILED: 'an `ip` (iproute2) command exited non-zero',
  NETNS_NOT_FOUND: 'a network namespace that should exist does not',
  NETNS_EXISTS: 'a network namespace that should not exist yet already does',
  LINK_NOT_FOUND: 'a network interface that should exist does not (fake Netns)',
  LINK_EXISTS: 'a network interface name is already taken in that namespace (fake Netns)',
  BAD_NAME: 'a kernel object name is too long or has characters the kernel refuses',
  BAD_CIDR: 'an IPv4 address or CIDR could not be parsed, or does not fit where it was asked to',
  IPAM_EXHAUSTED: 'the node\'s podCIDR has no free address left',
  IPAM_STATE_CORRUPT: 'the persisted IPAM file could not be read back',
  SANDBOX_FAILED: 'a pod sandbox (namespace, veth, address, routes) could not be set up',
  PROBE_HELPER_FAILED: 'the per-node probe helper process died or answered garbage',
  NOT_ROOT: 'the operation needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)',
  TOOL_MISSING: 'a required host tool (ip, unshare) is not installed',
} as const;

export type NodeErrorCode = keyof typeof nodeErrorCodes;

export class NodeError extends Error {
  constructor(readonly code: NodeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NodeError';
  }
}

export function isNodeError(e: unknown, code?: NodeErrorCode): e is NodeError {
  return e instanceof NodeError && (code === undefined || e.code === code);
}
