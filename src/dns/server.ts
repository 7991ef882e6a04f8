// The DNS server: UDP and TCP (RFC 1035 §4.2, RFC 7766) on one address and
// port, answering from a ClusterZone that a snapshot provider keeps current
// from informers (Services, EndpointSlices, Namespaces; Pods for `pods verified`).
//
// Two layers: `handlePacket` is pure (bytes in, bytes or nothing out, never
// throws) and is what the fuzz tests hammer; `startDNS` is the thin socket
// layer around it.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { findResource } from '../api/resources.js';
import type { ResourceInfo } from '../api/resources.js';
import { systemClock, type Clock } from '../client/clock.js';
import { InformerFactory, type Informer } from '../client/informer.js';
import { errorText, silentLogger, type Logger } from '../client/log.js';
import type { Client, KObject } from '../client/types.js';
import {
  decodeMessage, encodeMessage, Opcode, peekHeader, Rcode, RRType, typeName,
  type Edns, type Message, type ResourceRecord,
} from './message.js';
import { buildZone, type ClusterZone, type DnsSnapshot, type ResolverOptions } from './resolver.js';

/** Where answers come from. `zone()` is undefined until the data is there (queries then get SERVFAIL). */
export interface SnapshotProvider {
  zone(): ClusterZone | undefined;
}

/** RFC 1035 §4.2.1: without EDNS a UDP answer holds at most 512 octets. */
export const CLASSIC_UDP_SIZE = 512;
/** What we advertise and cap EDNS answers at: the DNS Flag Day 2020 size, safe from IP fragmentation. */
export const DEFAULT_MAX_UDP_PAYLOAD = 1232;

export interface HandleOptions {
  transport: 'udp' | 'tcp';
  /** Our EDNS UDP payload size. Default 1232. */
  maxUdpPayload?: number;
  /** When set, address records of an answer are shuffled with it (CoreDNS's `loadbalance` plugin). */
  random?: () => number;
  /** Called once per answered query, for logs and metrics. */
  onQuery?: (q: QueryLog) => void;
}

export interface QueryLog {
  name: string;
  type: string;
  rcode: number;
  transport: 'udp' | 'tcp';
  truncated: boolean;
  size: number;
}

function reply(req: Pick<Message, 'id' | 'opcode' | 'rd' | 'cd'>, rcode: number): Message {
  return {
    id: req.id, qr: true, opcode: req.opcode, aa: false, tc: false, rd: req.rd,
    // svcnet does not recurse (there is no upstream): RA stays clear.
    ra: false, ad: false, cd: req.cd, rcode,
    questions: [], answers: [], authorities: [], additionals: [],
  };
}

/** Fisher–Yates over the A/AAAA records only; CNAMEs keep their place in front. */
function shuffleAddresses(records: ResourceRecord[], random: () => number): ResourceRecord[] {
  const idx: number[] = [];
  records.forEach((r, i) => { if (r.type === RRType.A || r.type === RRType.AAAA) idx.push(i); });
  if (idx.length < 2) return records;
  const addrs = idx.map((i) => records[i]);
  for (let i = addrs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [addrs[i], addrs[j]] = [addrs[j], addrs[i]];
  }
  const out = [...records];
  idx.forEach((i, k) => { out[i] = addrs[k]; });
  return out;
}

/**
 * Fits a response into `limit` octets: first without the additional section
 * (no TC needed, RFC 2181 §9), then with as many whole answers as fit and TC
 * set, so the client retries over TCP.
 */
function fit(m: Message, limit: number): { bytes: Uint8Array; truncated: boolean } {
  let bytes = encodeMessage(m);
  if (bytes.length <= limit) return { bytes, truncated: false };
  const lean: Message = { ...m, additionals: [] };
  bytes = encodeMessage(lean);
  if (bytes.length <= limit) return { bytes, truncated: false };
  let lo = 0;
  let hi = m.answers.length - 1;
  let best = encodeMessage({ ...lean, tc: true, answers: [], authorities: [] });
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const b = encodeMessage({ ...lean, tc: true, answers: m.answers.slice(0, mid + 1), authorities: [] });
    if (b.length <= limit) {
      best = b;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return { bytes: best, truncated: true };
}

/**
 * Answers one DNS message. Returns the response bytes, or undefined when the
 * packet must be dropped (shorter than a header, or itself a response).
 * Never throws: a packet that does not parse gets FORMERR.
 */
export function handlePacket(packet: Uint8Array, zone: ClusterZone | undefined, opts: HandleOptions): Uint8Array | undefined {
  const head = peekHeader(packet);
  // Answering a response could start a loop between two servers; too short to have an id: nobody to answer.
  if (!head || head.qr) return undefined;
  const maxUdp = Math.max(CLASSIC_UDP_SIZE, Math.min(65535, opts.maxUdpPayload ?? DEFAULT_MAX_UDP_PAYLOAD));
  let req: Message;
  try {
    req = decodeMessage(packet);
  } catch {
    const m = reply({ id: head.id, opcode: head.opcode, rd: head.rd, cd: false }, Rcode.FORMERR);
    return encodeMessage(m);
  }
  const res = reply(req, Rcode.NOERROR);
  if (req.edns) {
    // RFC 6891 §6.1.1: answer EDNS with EDNS; DO is copied back (RFC 3225 §3).
    const edns: Edns = { udpPayloadSize: maxUdp, version: 0, dnssecOk: req.edns.dnssecOk, options: [] };
    res.edns = edns;
  }
  const q = req.questions[0];
  let log: QueryLog | undefined;
  try {
    if (req.opcode !== Opcode.QUERY) {
      res.rcode = Rcode.NOTIMP;
      res.questions = req.questions.slice(0, 1);
    } else if (req.questions.length !== 1) {
      res.rcode = Rcode.FORMERR;
    } else if (req.edns && req.edns.version > 0) {
      res.rcode = Rcode.BADVERS;
      res.questions = [q];
    } else {
      res.questions = [q];
      if (!zone) {
        res.rcode = Rcode.SERVFAIL;
      } else {
        const a = zone.answer(q);
        res.rcode = a.rcode;
        res.aa = a.authoritative;
        res.answers = opts.random ? shuffleAddresses(a.answers, opts.random) : a.answers;
        res.authorities = a.authorities;
        res.additionals = a.additionals;
      }
    }
    let limit = 65535;
    if (opts.transport === 'udp') {
      limit = req.edns ? Math.max(CLASSIC_UDP_SIZE, Math.min(req.edns.udpPayloadSize, maxUdp)) : CLASSIC_UDP_SIZE;
    }
    const { bytes, truncated } = fit(res, limit);
    log = { name: q?.name ?? '', type: q ? typeName(q.type) : '', rcode: res.rcode, transport: opts.transport, truncated, size: bytes.length };
    return bytes;
  } catch {
    // A record we cannot write (a name over 255 octets built from an odd ExternalName…): fail this query only.
    const m = reply(req, Rcode.SERVFAIL);
    m.questions = q ? [q] : [];
    if (req.edns) m.edns = { udpPayloadSize: maxUdp, version: 0, dnssecOk: false, options: [] };
    try {
      const bytes = encodeMessage(m);
      log = { name: q?.name ?? '', type: q ? typeName(q.type) : '', rcode: Rcode.SERVFAIL, transport: opts.transport, truncated: false, size: bytes.length };
      return bytes;
    } catch {
      return encodeMessage(reply(req, Rcode.SERVFAIL));
    }
  } finally {
    if (log && opts.onQuery) {
      try { opts.onQuery(log); } catch { /* an observer must not break answering */ }
    }
  }
}

// ---------------------------------------------------------------- snapshot providers

/** A fixed snapshot (tests, `svcnet dns --snapshot FILE`). */
export function staticSnapshot(snapshot: DnsSnapshot, opts: ResolverOptions = {}): SnapshotProvider {
  const zone = buildZone(snapshot, opts);
  return { zone: () => zone };
}

export interface InformerSnapshotOptions {
  clusterDomain?: string;
  resolver?: ResolverOptions;
  /** Watch Namespaces so that `ns.svc.<zone>` of a namespace without Services is NODATA, not NXDOMAIN. Default true. */
  namespaces?: boolean;
  /** Watch Pods; default: only when `resolver.podMode` is 'verified'. */
  pods?: boolean;
  log?: Logger;
  clock?: Clock;
}

function resource(group: string, plural: string): ResourceInfo {
  const r = findResource(group, 'v1', plural);
  if (!r) throw new Error(`dns: resource ${plural}.${group || 'core'} missing from the catalog`);
  return r;
}

/**
 * The zone kept current from informers over all namespaces. Any change marks
 * the zone stale; the next query rebuilds it (so a burst of watch events costs
 * one rebuild), and the SOA serial becomes the time of that change, as CoreDNS's.
 */
export class InformerSnapshot implements SnapshotProvider {
  private readonly factory: InformerFactory;
  private readonly services: Informer;
  private readonly slices: Informer;
  private readonly nsInformer: Informer | undefined;
  private readonly podInformer: Informer | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private cached: ClusterZone | undefined;
  private serial: number;
  private unsyncedOK = false;

  constructor(client: Client, private readonly opts: InformerSnapshotOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.serial = Math.floor(this.clock.now() / 1000);
    this.factory = new InformerFactory(client, { clock: this.clock, log: this.log });
    this.services = this.factory.informer(resource('', 'services'));
    this.slices = this.factory.informer(resource('discovery.k8s.io', 'endpointslices'));
    if (opts.namespaces ?? true) this.nsInformer = this.factory.informer(resource('', 'namespaces'));
    if (opts.pods ?? opts.resolver?.podMode === 'verified') this.podInformer = this.factory.informer(resource('', 'pods'));
    const stale = (): void => {
      this.cached = undefined;
      this.serial = Math.max(this.serial + 1, Math.floor(this.clock.now() / 1000));
    };
    for (const inf of [this.services, this.slices, this.nsInformer, this.podInformer]) {
      inf?.addEventHandler({ onAdd: stale, onUpdate: stale, onDelete: stale });
    }
  }

  start(): void { this.factory.start(); }

  hasSynced(): boolean {
    return [this.services, this.slices, this.nsInformer, this.podInformer].every((i) => !i || i.hasSynced());
  }

  /** Resolves true once every informer has listed, false if `timeoutMs` passes first (CoreDNS then serves anyway). */
  async waitForSync(timeoutMs: number): Promise<boolean> {
    let timer: unknown;
    const timeout = new Promise<boolean>((resolve) => { timer = this.clock.setTimeout(() => resolve(false), timeoutMs); });
    try {
      return await Promise.race([this.factory.waitForSync().then(() => true, () => false), timeout]);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  /** From now on answer from whatever the caches hold, synced or not (CoreDNS after its startup timeout). */
  allowUnsynced(): void { this.unsyncedOK = true; }

  zone(): ClusterZone | undefined {
    if (!this.unsyncedOK && !this.hasSynced()) return undefined;
    if (!this.cached) {
      const snapshot: DnsSnapshot = {
        services: this.services.store.list() as unknown as Service[],
        endpointSlices: this.slices.store.list() as unknown as EndpointSlice[],
        pods: this.podInformer ? this.podInformer.store.list() as unknown as Pod[] : undefined,
        namespaces: this.nsInformer ? this.nsInformer.store.list().map((n: KObject) => n.metadata?.name ?? '') : undefined,
        clusterDomain: this.opts.clusterDomain,
        serial: this.serial,
      };
      this.cached = buildZone(snapshot, this.opts.resolver);
      this.log.debug('dns zone rebuilt', { services: snapshot.services.length, endpointSlices: snapshot.endpointSlices.length, serial: this.serial });
    }
    return this.cached;
  }

  close(): void { this.factory.close(); }
}

// ---------------------------------------------------------------- sockets

export interface DnsServerOptions {
  /** Watch the cluster through this client (ignored when `snapshot` is given). */
  client?: Client;
  /** A fixed snapshot, or a provider that keeps one current. */
  snapshot?: DnsSnapshot | SnapshotProvider;
  /** Port 53 inside a pod-facing namespace; port 0 picks a free port (the same for UDP and TCP). */
  listen: { host: string; port: number };
  clusterDomain?: string;
  resolver?: ResolverOptions;
  /** How long startDNS waits for the informers' first list before serving anyway. Default 5000 ms (CoreDNS's). */
  syncTimeoutMs?: number;
  maxUdpPayload?: number;
  /** Shuffle address records per answer (CoreDNS `loadbalance`). Default true. */
  loadBalance?: boolean;
  random?: () => number;
  /** Idle TCP connections are closed after this long (RFC 7766 §6.2.3). Default 10000 ms. */
  tcpIdleTimeoutMs?: number;
  log?: Logger;
  onQuery?: (q: QueryLog) => void;
}

export interface DnsServer {
  /** Where both the UDP socket and the TCP listener are bound. */
  readonly address: { host: string; port: number };
  /** The provider answering (an InformerSnapshot when started with a client). */
  readonly provider: SnapshotProvider;
  close(): Promise<void>;
}

export type DnsServerErrorCode = 'DNS_NO_SOURCE' | 'DNS_LISTEN_FAILED';

export class DnsServerError extends Error {
  constructor(readonly code: DnsServerErrorCode, message: string) {
    super(message);
    this.name = 'DnsServerError';
  }
}

function isProvider(s: DnsSnapshot | SnapshotProvider): s is SnapshotProvider {
  return typeof (s as SnapshotProvider).zone === 'function';
}

function bindUdp(host: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
    const onError = (e: Error): void => { sock.close(); reject(e); };
    sock.once('error', onError);
    sock.bind(port, host, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

function listenTcp(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Starts a DNS server; resolves once both sockets listen and the data has synced (or the sync timeout passed). */
export async function startDNS(opts: DnsServerOptions): Promise<DnsServer> {
  const log = opts.log ?? silentLogger;
  let provider: SnapshotProvider;
  let owned: InformerSnapshot | undefined;
  if (opts.snapshot) {
    provider = isProvider(opts.snapshot) ? opts.snapshot
      : staticSnapshot({ ...opts.snapshot, clusterDomain: opts.snapshot.clusterDomain ?? opts.clusterDomain }, opts.resolver);
  } else if (opts.client) {
    owned = new InformerSnapshot(opts.client, { clusterDomain: opts.clusterDomain, resolver: opts.resolver, log });
    provider = owned;
  } else {
    throw new DnsServerError('DNS_NO_SOURCE', 'startDNS needs a client or a snapshot');
  }

  const handleOpts = (transport: 'udp' | 'tcp'): HandleOptions => ({
    transport,
    maxUdpPayload: opts.maxUdpPayload,
    random: (opts.loadBalance ?? true) ? (opts.random ?? Math.random) : undefined,
    onQuery: opts.onQuery,
  });
  const udpOpts = handleOpts('udp');
  const tcpOpts = handleOpts('tcp');
  const idleMs = opts.tcpIdleTimeoutMs ?? 10_000;
  const connections = new Set<net.Socket>();

  const onTcp = (sock: net.Socket): void => {
    connections.add(sock);
    sock.setTimeout(idleMs, () => sock.destroy());
    sock.on('close', () => connections.delete(sock));
    sock.on('error', (e) => log.debug('dns tcp connection error', { error: errorText(e) }));
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      // RFC 7766 §6.2.1.1: several queries may arrive back to back on one connection.
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const packet = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const out = handlePacket(packet, provider.zone(), tcpOpts);
        if (!out) {
          sock.destroy();
          return;
        }
        const frame = Buffer.allocUnsafe(2 + out.length);
        frame.writeUInt16BE(out.length, 0);
        frame.set(out, 2);
        sock.write(frame);
      }
    });
  };

  // UDP and TCP must share the port number: resolvers retry a truncated answer over TCP on the same port.
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt < (opts.listen.port === 0 ? 20 : 1) && !tcp; attempt++) {
    try {
      udp = await bindUdp(opts.listen.host, opts.listen.port);
    } catch (e) {
      lastError = e;
      break;
    }
    const port = udp.address().port;
    const server = net.createServer(onTcp);
    try {
      await listenTcp(server, opts.listen.host, port);
      tcp = server;
    } catch (e) {
      lastError = e;
      server.close();
      await new Promise<void>((r) => udp!.close(() => r()));
      udp = undefined;
    }
  }
  if (!udp || !tcp) {
    owned?.close();
    throw new DnsServerError('DNS_LISTEN_FAILED', `dns: cannot listen on ${opts.listen.host}:${opts.listen.port}: ${errorText(lastError)}`);
  }
  const udpSock = udp;
  const tcpServer = tcp;
  udpSock.on('message', (msg, rinfo) => {
    const out = handlePacket(msg, provider.zone(), udpOpts);
    if (out) udpSock.send(out, rinfo.port, rinfo.address, (err) => { if (err) log.debug('dns udp send failed', { error: errorText(err) }); });
  });
  udpSock.on('error', (e) => log.warn('dns udp socket error', { error: errorText(e) }));
  tcpServer.on('error', (e) => log.warn('dns tcp listener error', { error: errorText(e) }));

  const address = { host: opts.listen.host, port: udpSock.address().port };
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      owned?.close();
      for (const c of connections) c.destroy();
      await Promise.all([
        new Promise<void>((r) => udpSock.close(() => r())),
        new Promise<void>((r) => tcpServer.close(() => r())),
      ]);
    })();
    return closing;
  };

  if (owned) {
    owned.start();
    const synced = await owned.waitForSync(opts.syncTimeoutMs ?? 5000);
    if (!synced) {
      log.warn('dns: starting with unsynced Kubernetes API', {});
      owned.allowUnsynced();
    }
  }
  log.info('dns listening', { host: address.host, port: address.port });
  return { address, provider, close };
}
