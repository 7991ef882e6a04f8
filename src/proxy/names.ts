// Deterministic kernel object names, exactly as kube-proxy computes them, so that a
// reader who knows kube-proxy recognises every chain and a rule dump from a real
// cluster can be compared with ours.
//
// iptables (pkg/proxy/iptables/proxier.go, portProtoHash / servicePortEndpointChainName):
//   PREFIX + first 16 chars of base32(sha256(servicePortName + protocol [+ endpoint]))
//   - servicePortName is `namespace/name:portname` (`:portname` omitted when the port is
//     unnamed), protocol is lower case ("tcp"), endpoint is `ip:port` (`[ip]:port` for IPv6).
//   - charset: base32 (RFC 4648 standard alphabet, A-Z and 2-7) after a fixed
//     upper-case prefix; length: at most 9 + 16 = 25 characters, under iptables'
//     28-character chain-name limit (XT_EXTENSION_MAXNAMELEN 29 including the NUL).
//   - the same 16 characters are reused across KUBE-SVC/SVL/EXT/FW of one service port,
//     which is what lets a reader match them up.
//
// nftables (pkg/proxy/nftables/proxier.go, hashAndTruncate):
//   PREFIX + first 8 chars of base32(sha256(name)) + "-" + name, where name is
//   `namespace/service/protocol/portname` for service chains and
//   `namespace/service/protocol/portname__endpointIP/endpointPort` for endpoint chains
//   (IPv6 colons replaced by dots, since nft identifiers cannot hold ':').
//   - charset: nft identifiers allow [A-Za-z0-9_./-] and must start with a letter; all of
//     our prefixes are letters and Kubernetes names are [a-z0-9-], so the readable part
//     can be copied verbatim; "/" separates parts because no input name can contain it.
//   - length: knftables' NameLengthMax is 256; kube-proxy reserves 16 for the prefix and
//     truncates the base (hash + name) to 240 characters, ending a cut name in "...". The
//     hash keeps a truncated name unique.

import { createHash } from 'node:crypto';

const base32Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 with the standard alphabet and `=` padding (Go's base32.StdEncoding). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += base32Alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += base32Alphabet[(buffer << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/**
 * Names are pure functions of their inputs and the same ones recur in every
 * sync (and several times per render), so hashes are memoised; the cache is
 * dropped whole when it grows past a bound (a cluster's worth of endpoints).
 */
const hashMemo = new Map<string, string>();
const HASH_MEMO_MAX = 500_000;

function sha256Base32(s: string): string {
  let h = hashMemo.get(s);
  if (h === undefined) {
    if (hashMemo.size >= HASH_MEMO_MAX) hashMemo.clear();
    h = base32(createHash('sha256').update(s, 'utf8').digest());
    hashMemo.set(s, h);
  }
  return h;
}

/** kube-proxy's ServicePortName.String(): `ns/name:port`, or `ns/name` for an unnamed port. */
export function servicePortNameString(namespace: string, name: string, portName: string): string {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}

/** `ip:port`, with brackets around an IPv6 address (Go's net.JoinHostPort). */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

// ---------------------------------------------------------------- iptables

export const iptablesChainPrefixes = {
  cluster: 'KUBE-SVC-',
  local: 'KUBE-SVL-',
  external: 'KUBE-EXT-',
  firewall: 'KUBE-FW-',
  endpoint: 'KUBE-SEP-',
} as const;

/** iptables limits chain names to 28 characters. */
export const iptablesChainNameMax = 28;

/** The 16-character hash shared by a service port's KUBE-SVC/SVL/EXT/FW chains. */
export function portProtoHash(servicePortName: string, protocol: string): string {
  return sha256Base32(servicePortName + protocol.toLowerCase()).slice(0, 16);
}

export interface IptablesServiceChains {
  /** KUBE-SVC-…: dispatch to endpoints with Cluster traffic policy. */
  cluster: string;
  /** KUBE-SVL-…: dispatch to node-local endpoints (Local policies). */
  local: string;
  /** KUBE-EXT-…: entry for NodePort / external IP / LB traffic. */
  external: string;
  /** KUBE-FW-…: loadBalancerSourceRanges filtering. */
  firewall: string;
}

export function iptablesServiceChains(servicePortName: string, protocol: string): IptablesServiceChains {
  const h = portProtoHash(servicePortName, protocol);
  return {
    cluster: iptablesChainPrefixes.cluster + h,
    local: iptablesChainPrefixes.local + h,
    external: iptablesChainPrefixes.external + h,
    firewall: iptablesChainPrefixes.firewall + h,
  };
}

/** KUBE-SEP-…: one endpoint of one service port. `endpoint` is `ip:port` / `[ip]:port`. */
export function iptablesEndpointChain(servicePortName: string, protocol: string, endpoint: string): string {
  return iptablesChainPrefixes.endpoint + sha256Base32(servicePortName + protocol.toLowerCase() + endpoint).slice(0, 16);
}

/** True for the per-service chains kube-proxy owns and may delete when stale. */
export function isIptablesServiceChain(chain: string): boolean {
  return Object.values(iptablesChainPrefixes).some((p) => chain.startsWith(p));
}

// ---------------------------------------------------------------- nftables

export const nftChainPrefixes = {
  cluster: 'service-',
  local: 'local-',
  external: 'external-',
  firewall: 'firewall-',
  endpoint: 'endpoint-',
  affinity: 'affinity-',
} as const;

/** knftables.NameLengthMax. */
export const nftNameLengthMax = 256;
/** Room kept for the longest prefix, including its hyphen. */
export const nftChainPrefixLengthMax = 16;
/** Maximum length of the hashed base that follows a prefix. */
export const nftChainNameBaseLengthMax = nftNameLengthMax - nftChainPrefixLengthMax;

/** `HASH8-name`, cut to 240 characters ending in "..." when longer. */
export function hashAndTruncate(name: string): string {
  let out = sha256Base32(name).slice(0, 8) + '-' + name;
  if (out.length > nftChainNameBaseLengthMax) out = out.slice(0, nftChainNameBaseLengthMax - 3) + '...';
  return out;
}

/** e.g. `ULMVA6XW-ns1/svc1/tcp/p80`. */
export function nftServicePortChainBase(namespace: string, name: string, protocol: string, portName: string): string {
  return hashAndTruncate(`${namespace}/${name}/${protocol.toLowerCase()}/${portName}`);
}

/** e.g. `5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80`. */
export function nftEndpointChainBase(
  namespace: string, name: string, protocol: string, portName: string, ip: string, port: number,
): string {
  const safeIP = ip.replaceAll(':', '.');
  return hashAndTruncate(`${namespace}/${name}/${protocol.toLowerCase()}/${portName}__${safeIP}/${port}`);
}

export interface NftServiceChains {
  cluster: string;
  local: string;
  external: string;
  firewall: string;
}

export function nftServiceChains(namespace: string, name: string, protocol: string, portName: string): NftServiceChains {
  const base = nftServicePortChainBase(namespace, name, protocol, portName);
  return {
    cluster: nftChainPrefixes.cluster + base,
    local: nftChainPrefixes.local + base,
    external: nftChainPrefixes.external + base,
    firewall: nftChainPrefixes.firewall + base,
  };
}

export interface NftEndpointNames {
  chain: string;
  affinitySet: string;
}

export function nftEndpointNames(
  namespace: string, name: string, protocol: string, portName: string, ip: string, port: number,
): NftEndpointNames {
  const base = nftEndpointChainBase(namespace, name, protocol, portName, ip, port);
  return { chain: nftChainPrefixes.endpoint + base, affinitySet: nftChainPrefixes.affinity + base };
}

/** Service and endpoint chains always contain a "/", which none of the fixed chains do. */
export function isNftServiceChain(chain: string): boolean {
  return chain.includes('/');
}
