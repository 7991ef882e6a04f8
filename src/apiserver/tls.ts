// Serving certificates. kubectl (client-go) sends bearer tokens only over TLS,
// so the API server speaks HTTPS: a cluster CA and a serving certificate for
// 127.0.0.1/localhost, kept in the data dir (or made fresh in memory) so
// kubeconfigs stay valid across restarts.
//
// The certificates are made in-process: Node's crypto makes the P-256 keys
// and the ECDSA signatures, and the X.509 v3 structure around them is a few
// hundred bytes of DER written here (RFC 5280 §4.1). Forking the openssl CLI
// three times cost ~100 ms of `svcnet up`'s startup; this costs ~2 ms.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface ServingCerts {
  caPem: string;
  certPem: string;
  keyPem: string;
}

// --- DER (X.690), only what a certificate needs -----------------------------

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const octets = (b: Buffer) => tlv(0x04, b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const explicit = (n: number, ...c: Buffer[]) => tlv(0xa0 | n, ...c);
const bitString = (b: Buffer, unusedBits = 0) => tlv(0x03, Buffer.from([unusedBits]), b);

/** A non-negative INTEGER from big-endian bytes (a leading 0 keeps the sign bit clear). */
function uint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && !(b[i + 1]! & 0x80)) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const b: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) b.unshift(0x80 | (v & 0x7f));
    out.push(...b);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

const commonName = (cn: string) => seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));
const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
const ecdsaWithSHA256 = seq(oid('1.2.840.10045.4.3.2'));

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand `::` and write 8 groups of 16 bits.
  const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
}

/** `IP:…` / `DNS:…` entries, as openssl's subjectAltName syntax writes them. */
function subjectAltName(sans: readonly string[]): Buffer {
  return seq(...sans.map((s) => {
    if (s.startsWith('IP:')) return tlv(0x87, ipBytes(s.slice(3)));
    if (s.startsWith('DNS:')) return tlv(0x82, Buffer.from(s.slice(4), 'ascii'));
    throw new Error(`unsupported subjectAltName "${s}" (want IP:… or DNS:…)`);
  }));
}

/** Tag, content start and end of the DER element at `at`. */
function element(der: Buffer, at: number): { tag: number; start: number; end: number } {
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + der[start + k]!;
    start += n;
  }
  return { tag: der[at]!, start, end: start + len };
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1). */
function keyId(spkiDer: Buffer): Buffer {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  const outer = element(spkiDer, 0);
  const alg = element(spkiDer, outer.start);
  const bits = element(spkiDer, alg.end);
  return createHash('sha1').update(spkiDer.subarray(bits.start + 1, bits.end)).digest();
}

export interface CertificateRequest {
  subjectCN: string;
  /** The subject's public key. */
  publicKey: KeyObject;
  /** Who signs: the issuer's name and key (the subject's own for a self-signed CA). */
  issuerCN: string;
  issuerKey: KeyObject;
  issuerPublicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  serial: Buffer;
  isCA: boolean;
  /** `IP:…`/`DNS:…` (serving certificates). */
  sans?: readonly string[];
}

/** A DER X.509 v3 certificate signed with ECDSA-SHA256 by an EC P-256 issuer key. */
export function makeCertificate(r: CertificateRequest): Buffer {
  const spki = r.publicKey.export({ type: 'spki', format: 'der' });
  const issuerSpki = r.issuerPublicKey.export({ type: 'spki', format: 'der' });
  const exts: Buffer[] = [];
  if (r.isCA) {
    exts.push(extension('2.5.29.19', true, seq(bool(true)))); // basicConstraints CA:TRUE
    exts.push(extension('2.5.29.15', true, bitString(Buffer.from([0x06]), 1))); // keyUsage keyCertSign, cRLSign
  } else {
    exts.push(extension('2.5.29.19', true, seq())); // basicConstraints CA:FALSE
    exts.push(extension('2.5.29.15', true, bitString(Buffer.from([0xa0]), 5))); // keyUsage digitalSignature, keyEncipherment
    exts.push(extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1')))); // extendedKeyUsage serverAuth
    if (r.sans?.length) exts.push(extension('2.5.29.17', false, subjectAltName(r.sans)));
  }
  exts.push(extension('2.5.29.14', false, octets(keyId(spki)))); // subjectKeyIdentifier
  exts.push(extension('2.5.29.35', false, seq(tlv(0x80, keyId(issuerSpki))))); // authorityKeyIdentifier
  const tbs = seq(
    explicit(0, uint(Buffer.from([2]))), // v3
    uint(r.serial),
    ecdsaWithSHA256,
    commonName(r.issuerCN),
    seq(time(r.notBefore), time(r.notAfter)),
    commonName(r.subjectCN),
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = sign('sha256', tbs, r.issuerKey); // DER ECDSA-Sig-Value
  return seq(tbs, ecdsaWithSHA256, bitString(signature));
}

export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

// --- the cluster's CA and the API server's serving certificate --------------

const DAY_MS = 86_400_000;
const VALID_DAYS = 3650;
/** Remade when it would expire within this long. */
const RENEW_BEFORE_MS = 30 * DAY_MS;

function newKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function serial(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40; // positive and 16 bytes long
  return b;
}

function validity(now: number): { notBefore: Date; notAfter: Date } {
  // An hour back for clocks that disagree a little (client-go checks notBefore).
  return { notBefore: new Date(now - 3_600_000), notAfter: new Date(now + VALID_DAYS * DAY_MS) };
}

function usable(certPem: string, now: number, issuer?: X509Certificate): boolean {
  try {
    const c = new X509Certificate(certPem);
    if (Date.parse(c.validTo) - now < RENEW_BEFORE_MS || Date.parse(c.validFrom) > now) return false;
    return issuer ? c.checkIssued(issuer) && c.verify(issuer.publicKey) : true;
  } catch {
    return false;
  }
}

/**
 * Loads the certificates from dir/pki, making whatever is absent, expiring
 * within 30 days, or no longer matching (serving certificate for other SANs,
 * or not signed by the CA there). `dir` undefined = made in memory only.
 */
export function ensureServingCerts(dir: string | undefined, extraSANs: string[] = [], now = Date.now()): ServingCerts {
  const sans = ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local', ...extraSANs];
  const sanLine = `subjectAltName=${sans.join(',')}`;
  const pki = dir ? join(dir, 'pki') : undefined;
  if (pki) mkdirSync(pki, { recursive: true, mode: 0o700 });
  const read = (n: string): string | undefined => (pki && existsSync(join(pki, n)) ? readFileSync(join(pki, n), 'utf8') : undefined);
  const write = (n: string, s: string, mode = 0o644): void => { if (pki) writeFileSync(join(pki, n), s, { mode }); };

  let caPem = read('ca.crt');
  let caKeyPem = read('ca.key');
  let caKey: KeyObject;
  let caFresh = false;
  if (caPem && caKeyPem && usable(caPem, now)) {
    caKey = createPrivateKey(caKeyPem);
  } else {
    const kp = newKeyPair();
    caKey = kp.privateKey;
    caPem = toPem(makeCertificate({
      subjectCN: 'svcnet-ca', issuerCN: 'svcnet-ca', publicKey: kp.publicKey, issuerKey: kp.privateKey, issuerPublicKey: kp.publicKey,
      serial: serial(), isCA: true, ...validity(now),
    }));
    caKeyPem = kp.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    write('ca.key', caKeyPem, 0o600);
    write('ca.crt', caPem);
    caFresh = true;
  }
  const ca = new X509Certificate(caPem);

  let certPem = read('apiserver.crt');
  let keyPem = read('apiserver.key');
  const sameSANs = read('apiserver.sans') === sanLine;
  if (caFresh || !certPem || !keyPem || !sameSANs || !usable(certPem, now, ca)) {
    const kp = newKeyPair();
    certPem = toPem(makeCertificate({
      subjectCN: 'kube-apiserver', issuerCN: 'svcnet-ca', publicKey: kp.publicKey, issuerKey: caKey, issuerPublicKey: ca.publicKey,
      serial: serial(), isCA: false, sans, ...validity(now),
    }));
    keyPem = kp.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    write('apiserver.key', keyPem, 0o600);
    write('apiserver.crt', certPem);
    write('apiserver.sans', sanLine);
  }
  return { caPem, certPem, keyPem };
}
