// Errors of the proxy's I/O side: one class, a stable code per failure, each listed
// in `proxyErrorCodes` with what it means, so the CLI and tests branch on `code`.

export const proxyErrorCodes = {
  COMMAND_FAILED: 'a kernel tool (nft, iptables-restore, iptables, conntrack) exited non-zero',
  COMMAND_NOT_FOUND: 'a kernel tool is not installed (spawn ENOENT)',
  COMMAND_TIMEOUT: 'a kernel tool did not finish in time and was killed',
  APPLY_REJECTED: 'the fake applier refused a transaction the kernel would refuse (or a failure injected by a test)',
  SYNC_FAILED: 'a sync of the data plane failed; a full resync follows with backoff',
  BIND_FAILED: 'the userspace proxy could not bind a service address (address not local, or in use)',
  BAD_ADDRESS: 'an address option (host:port) could not be parsed',
  BAD_OPTION: 'an option has a value the proxy cannot use (e.g. an unknown mode)',
  CLOSED: 'the proxy (or one of its parts) was used after close()',
} as const;

export type ProxyErrorCode = keyof typeof proxyErrorCodes;

export class ProxyError extends Error {
  constructor(readonly code: ProxyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProxyError';
  }
}

export function isProxyError(e: unknown, code?: ProxyErrorCode): e is ProxyError {
  return e instanceof ProxyError && (code === undefined || e.code === code);
}
