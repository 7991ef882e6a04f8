// SPDY/3.1 as Kubernetes streaming uses it (moby/spdystream under
// k8s.io/apimachinery's httpstream/spdy): `kubectl port-forward` speaks it,
// raw after an `Upgrade: SPDY/3.1` response or tunnelled in WebSocket binary
// messages. Only what spdystream needs from a server is here: the frames
// (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS,
// WINDOW_UPDATE, DATA), the zlib header-block compression with the SPDY/3
// dictionary, and a server session that hands each stream the client opens to
// a callback as a Node Duplex. Flow control (WINDOW_UPDATE) is read and
// ignored: spdystream neither sends nor honours it.
//
// Wire format (draft 3): a control frame is
//   1 bit control=1 | 15 bits version=3 | 16 bits type | 8 bits flags | 24 bits length | payload
// and a data frame is
//   1 bit control=0 | 31 bits stream id | 8 bits flags | 24 bits length | data.
// Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are
//   uint32 pair count, then per pair: uint32 len, name, uint32 len, value (values joined by NUL),
// compressed with one zlib stream per direction for the whole session.
import { createInflate, constants as zc, type Inflate } from 'node:zlib';
import { Duplex } from 'node:stream';

export const SPDY_VERSION = 3;

export const FrameType = {
  SynStream: 1, SynReply: 2, RstStream: 3, Settings: 4, Ping: 6, GoAway: 7, Headers: 8, WindowUpdate: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  ProtocolError: 1, InvalidStream: 2, RefusedStream: 3, UnsupportedVersion: 4, Cancel: 5, InternalError: 6,
  FlowControlError: 7, StreamInUse: 8, StreamAlreadyClosed: 9, InvalidCredentials: 10, FrameTooLarge: 11,
} as const;

export type Frame =
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | { type: 'syn_stream'; streamId: number; associatedTo: number; priority: number; slot: number; flags: number; headerBlock: Buffer }
  | { type: 'syn_reply'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'headers'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'rst_stream'; streamId: number; flags: number; status: number }
  | { type: 'settings'; flags: number; entries: { flags: number; id: number; value: number }[] }
  | { type: 'ping'; flags: number; id: number }
  | { type: 'goaway'; flags: number; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; flags: number; streamId: number; delta: number }
  | { type: 'unknown'; frameType: number; flags: number; payload: Buffer };

export class SpdyProtocolError extends Error {}

// The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): the
// length-prefixed words, then a run of status lines, dates and media types.
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date',
  'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate',
  'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'user-agent', 'vary', 'via', 'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version',
  'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin',
];
const DICTIONARY_TAIL = '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

export const SPDY3_DICTIONARY: Buffer = Buffer.concat([
  ...DICTIONARY_WORDS.flatMap((w) => { const n = Buffer.alloc(4); n.writeUInt32BE(w.length); return [n, Buffer.from(w, 'latin1')]; }),
  Buffer.from(DICTIONARY_TAIL, 'latin1'),
]);

export function adler32(b: Uint8Array): number {
  let a = 1;
  let s = 0;
  for (const x of b) { a = (a + x) % 65521; s = (s + a) % 65521; }
  return ((s << 16) | a) >>> 0;
}

const MAX_LENGTH = 0xffffff;

/** Incremental frame parser: push() bytes as they come, get whole frames back. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    for (;;) {
      if (this.buf.length < 8) break;
      const len = this.buf.readUIntBE(5, 3);
      if (this.buf.length < 8 + len) break;
      out.push(parseFrame(this.buf.subarray(0, 8 + len)));
      this.buf = this.buf.subarray(8 + len);
    }
    return out;
  }
}

/** One whole frame (8-byte header and payload). */
export function parseFrame(b: Buffer): Frame {
  const flags = b[4]!;
  const len = b.readUIntBE(5, 3);
  const p = b.subarray(8, 8 + len);
  if ((b[0]! & 0x80) === 0) return { type: 'data', streamId: b.readUInt32BE(0) & 0x7fffffff, flags, data: p };
  const version = b.readUInt16BE(0) & 0x7fff;
  if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
  const type = b.readUInt16BE(2);
  const need = (n: number) => { if (p.length < n) throw new SpdyProtocolError(`invalid control frame (type ${type}, length ${p.length})`); };
  const id = (o: number) => p.readUInt32BE(o) & 0x7fffffff;
  switch (type) {
    case FrameType.SynStream:
      need(10);
      return { type: 'syn_stream', flags, streamId: id(0), associatedTo: id(4), priority: p[8]! >> 5, slot: p[9]!, headerBlock: p.subarray(10) };
    case FrameType.SynReply:
      need(4);
      return { type: 'syn_reply', flags, streamId: id(0), headerBlock: p.subarray(4) };
    case FrameType.Headers:
      need(4);
      return { type: 'headers', flags, streamId: id(0), headerBlock: p.subarray(4) };
    case FrameType.RstStream:
      need(8);
      return { type: 'rst_stream', flags, streamId: id(0), status: p.readUInt32BE(4) };
    case FrameType.Settings: {
      need(4);
      const n = p.readUInt32BE(0);
      need(4 + 8 * n);
      const entries = [];
      for (let i = 0; i < n; i++) entries.push({ flags: p[4 + 8 * i]!, id: p.readUIntBE(5 + 8 * i, 3), value: p.readUInt32BE(8 + 8 * i) });
      return { type: 'settings', flags, entries };
    }
    case FrameType.Ping:
      need(4);
      return { type: 'ping', flags, id: p.readUInt32BE(0) };
    case FrameType.GoAway:
      need(8);
      return { type: 'goaway', flags, lastGoodStreamId: id(0), status: p.readUInt32BE(4) };
    case FrameType.WindowUpdate:
      need(8);
      return { type: 'window_update', flags, streamId: id(0), delta: p.readUInt32BE(4) & 0x7fffffff };
    default:
      return { type: 'unknown', frameType: type, flags, payload: p };
  }
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_LENGTH) throw new RangeError('SPDY frame too long');
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(payload.length, 4);
  h[4] = flags;
  return Buffer.concat([h, payload]);
}

function u32s(...v: number[]): Buffer {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
  return b;
}

/** The bytes of a frame; header blocks must be compressed already. */
export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case 'data': {
      if (f.data.length > MAX_LENGTH) throw new RangeError('SPDY frame too long');
      const h = Buffer.alloc(8);
      h.writeUInt32BE(f.streamId & 0x7fffffff, 0);
      h.writeUInt32BE(f.data.length, 4);
      h[4] = f.flags;
      return Buffer.concat([h, f.data]);
    }
    case 'syn_stream':
      return control(FrameType.SynStream, f.flags, Buffer.concat([u32s(f.streamId & 0x7fffffff, f.associatedTo & 0x7fffffff), Buffer.from([(f.priority & 7) << 5, f.slot]), f.headerBlock]));
    case 'syn_reply':
      return control(FrameType.SynReply, f.flags, Buffer.concat([u32s(f.streamId & 0x7fffffff), f.headerBlock]));
    case 'headers':
      return control(FrameType.Headers, f.flags, Buffer.concat([u32s(f.streamId & 0x7fffffff), f.headerBlock]));
    case 'rst_stream':
      return control(FrameType.RstStream, f.flags, u32s(f.streamId & 0x7fffffff, f.status));
    case 'settings': {
      const p = Buffer.alloc(4 + 8 * f.entries.length);
      p.writeUInt32BE(f.entries.length, 0);
      f.entries.forEach((e, i) => { p.writeUInt32BE(e.id & 0xffffff, 4 + 8 * i); p[4 + 8 * i] = e.flags; p.writeUInt32BE(e.value >>> 0, 8 + 8 * i); });
      return control(FrameType.Settings, f.flags, p);
    }
    case 'ping':
      return control(FrameType.Ping, f.flags, u32s(f.id));
    case 'goaway':
      return control(FrameType.GoAway, f.flags, u32s(f.lastGoodStreamId & 0x7fffffff, f.status));
    case 'window_update':
      return control(FrameType.WindowUpdate, f.flags, u32s(f.streamId & 0x7fffffff, f.delta & 0x7fffffff));
    case 'unknown':
      return control(f.frameType, f.flags, f.payload);
  }
}

/** Header names and values, names lowercase; a name's values are joined by NUL on the wire. */
export type SpdyHeaders = Record<string, string[]>;

export function encodeHeaderBlock(h: SpdyHeaders): Buffer {
  const parts: Buffer[] = [u32s(Object.keys(h).length)];
  for (const [name, values] of Object.entries(h)) {
    const n = Buffer.from(name.toLowerCase());
    const v = Buffer.from(values.join('\0'));
    parts.push(u32s(n.length), n, u32s(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(b: Buffer): SpdyHeaders {
  let o = 0;
  const take = (n: number): Buffer => {
    if (o + n > b.length) throw new SpdyProtocolError('truncated header block');
    const r = b.subarray(o, o + n);
    o += n;
    return r;
  };
  const count = take(4).readUInt32BE(0);
  const out: SpdyHeaders = {};
  for (let i = 0; i < count; i++) {
    const name = take(take(4).readUInt32BE(0)).toString('latin1');
    const value = take(take(4).readUInt32BE(0)).toString('utf8');
    if (name !== name.toLowerCase()) throw new SpdyProtocolError('header was not lowercased');
    if (out[name]) throw new SpdyProtocolError('multiple headers with same name');
    out[name] = value.split('\0');
  }
  return out;
}

/**
 * The sending side's zlib stream. Each header block goes out as one stored
 * (uncompressed) deflate block: still one valid zlib stream over the session,
 * as the receiver's inflater wants, and synchronous to produce, so a SYN_REPLY
 * is on the wire before the DATA frames that follow it. The first block opens
 * the stream with the zlib header naming the SPDY dictionary (FDICT + its
 * Adler-32), as a compressor set up with that dictionary does. Each block
 * ends with the sync-flush marker, as Go's compressor's do.
 */
export class HeaderCompressor {
  private started = false;

  compress(raw: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      // CMF 0x78 (deflate, 32K window); FLG: FDICT, level 0, FCHECK making CMF·256+FLG a multiple of 31.
      const flg0 = 0x20;
      const flg = flg0 + (31 - ((0x78 * 256 + flg0) % 31)) % 31;
      parts.push(Buffer.from([0x78, flg]), u32s(adler32(SPDY3_DICTIONARY)));
    }
    for (let o = 0; o === 0 || o < raw.length; o += 0xffff) {
      const chunk = raw.subarray(o, o + 0xffff);
      const h = Buffer.alloc(5);
      h[0] = 0x00; // BFINAL=0, BTYPE=00 (stored), padded to the byte boundary
      h.writeUInt16LE(chunk.length, 1);
      h.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(h, chunk);
    }
    // Then what Z_SYNC_FLUSH ends a block with, an empty stored block: Go's inflater
    // hands out a stored block's bytes only once the next block starts.
    parts.push(SYNC_MARKER);
    return Buffer.concat(parts);
  }
}

const SYNC_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

/** The receiving side's zlib stream: blocks are inflated in order, one at a time. */
export class HeaderDecompressor {
  private readonly inflate: Inflate = createInflate({ dictionary: SPDY3_DICTIONARY });
  private out: Buffer[] = [];
  private error: Error | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  /** The block being inflated fails with the stream's error: zlib does not call the flush back then. */
  private failCurrent: ((e: Error) => void) | undefined;

  constructor() {
    this.inflate.on('data', (d: Buffer) => this.out.push(d));
    this.inflate.on('error', (e) => {
      this.error = new SpdyProtocolError(`header block: ${e.message}`);
      this.failCurrent?.(this.error);
    });
  }

  decompress(block: Buffer): Promise<Buffer> {
    const r = this.tail.then(() => new Promise<Buffer>((resolve, reject) => {
      if (this.error) { reject(this.error); return; }
      this.failCurrent = reject;
      this.inflate.write(block);
      // The sender flushed (Z_SYNC_FLUSH) at the end of the block: so do we, and
      // everything the block holds has been emitted once the flush is done.
      this.inflate.flush(zc.Z_SYNC_FLUSH, () => {
        this.failCurrent = undefined;
        if (this.error) { reject(this.error); return; }
        const b = Buffer.concat(this.out);
        this.out = [];
        resolve(b);
      });
    }));
    this.tail = r.catch(() => undefined);
    return r;
  }

  close(): void { this.inflate.close(); }
}

/** One stream the client opened: read what it sends, write back; end() half-closes (FIN). */
export class SpdyStream extends Duplex {
  /** We sent FIN or RST. */
  localClosed = false;
  remoteClosed = false;
  private wantMore: (() => void) | undefined;

  constructor(readonly id: number, readonly headers: SpdyHeaders, private readonly session: SpdyServerSession) {
    super({ allowHalfOpen: true });
  }

  header(name: string): string | undefined { return this.headers[name.toLowerCase()]?.[0]; }

  /** @internal data from the client; false: stop reading the connection until _read. */
  deliver(data: Buffer, fin: boolean): boolean {
    let more = true;
    if (data.length) more = this.push(data);
    if (fin) { this.remoteClosed = true; this.push(null); }
    return more;
  }

  /** @internal */
  onWantMore(f: (() => void) | undefined): void { this.wantMore = f; }

  override _read(): void {
    const f = this.wantMore;
    this.wantMore = undefined;
    f?.();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.localClosed) { cb(); return; }
    this.session.sendData(this.id, chunk, false, cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.localClosed) { cb(); return; }
    this.localClosed = true;
    this.session.sendData(this.id, Buffer.alloc(0), true, cb);
  }

  /** Abandons the stream: RST_STREAM CANCEL unless both sides have closed it already. */
  reset(status: number = RstStatus.Cancel): void {
    if (!this.localClosed || !this.remoteClosed) this.session.sendReset(this.id, status);
    this.localClosed = true;
    this.remoteClosed = true;
    this.destroy();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.session.forget(this.id);
    cb(err);
  }
}

export interface SpdySessionOptions {
  /** A new stream, already answered with SYN_REPLY. */
  onStream(s: SpdyStream): void;
  /** The connection ended (GOAWAY, transport closed, protocol error). */
  onClose?(why: string): void;
}

/**
 * The server end of a SPDY connection over any byte stream (a socket after the
 * upgrade, or a WebSocket tunnel): answers each SYN_STREAM with a SYN_REPLY,
 * echoes the client's PINGs, ends every stream on GOAWAY or end of transport.
 */
export class SpdyServerSession {
  private readonly reader = new FrameReader();
  private readonly inflater = new HeaderDecompressor();
  private readonly deflater = new HeaderCompressor();
  private readonly streams = new Map<number, SpdyStream>();
  private queue: Frame[] = [];
  private running = false;
  private closed = false;
  private lastStreamId = 0;
  private readonly blocked = new Set<number>();

  constructor(private readonly transport: Duplex, private readonly o: SpdySessionOptions, head?: Buffer) {
    transport.on('data', (d: Buffer) => this.onBytes(d));
    transport.on('end', () => this.close('connection closed by the client'));
    transport.on('close', () => this.close('connection closed'));
    transport.on('error', (e) => this.close(e.message));
    if (head?.length) this.onBytes(head);
  }

  private onBytes(d: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try { frames = this.reader.push(d); } catch (e) { this.fail(e as Error); return; }
    this.queue.push(...frames);
    if (!this.running) void this.drain();
  }

  // Frames are handled strictly in order; header blocks take a turn through zlib.
  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length && !this.closed) {
        const f = this.queue.shift()!;
        await this.handle(f);
      }
    } catch (e) {
      this.fail(e as Error);
    } finally {
      this.running = false;
    }
  }

  private async handle(f: Frame): Promise<void> {
    switch (f.type) {
      case 'syn_stream': {
        const headers = decodeHeaderBlock(await this.inflater.decompress(f.headerBlock));
        if (this.closed) return;
        if (f.streamId === 0 || f.streamId % 2 === 0 || f.streamId <= this.lastStreamId || this.streams.has(f.streamId)) {
          this.sendReset(f.streamId, RstStatus.ProtocolError);
          return;
        }
        this.lastStreamId = f.streamId;
        const s = new SpdyStream(f.streamId, headers, this);
        this.streams.set(f.streamId, s);
        if (f.flags & FLAG_UNIDIRECTIONAL) s.localClosed = true;
        this.write(encodeFrame({ type: 'syn_reply', streamId: f.streamId, flags: 0, headerBlock: this.deflater.compress(encodeHeaderBlock({})) }));
        if (f.flags & FLAG_FIN) s.deliver(Buffer.alloc(0), true);
        this.o.onStream(s);
        return;
      }
      case 'headers':
        // Keep the zlib streams in step; nothing here uses late headers.
        await this.inflater.decompress(f.headerBlock);
        if (f.flags & FLAG_FIN) this.streams.get(f.streamId)?.deliver(Buffer.alloc(0), true);
        return;
      case 'syn_reply':
        await this.inflater.decompress(f.headerBlock);
        return;
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s) return; // reset or unknown: spdystream drops these too
        if (s.remoteClosed) { s.reset(RstStatus.StreamAlreadyClosed); return; }
        if (!s.deliver(f.data, (f.flags & FLAG_FIN) !== 0)) {
          // The consumer is behind: stop reading the connection until it catches up.
          this.blocked.add(s.id);
          this.transport.pause();
          s.onWantMore(() => this.unblock(s.id));
        }
        return;
      }
      case 'rst_stream': {
        const s = this.streams.get(f.streamId);
        if (s) { s.localClosed = true; s.remoteClosed = true; s.destroy(); }
        return;
      }
      case 'ping':
        // Ours would be even; an odd id is the client's, answered with the same frame.
        if (f.id % 2 === 1) this.write(encodeFrame(f));
        return;
      case 'goaway':
        this.close('the client went away');
        return;
      case 'settings': case 'window_update': case 'unknown':
        return;
    }
  }

  private unblock(id: number): void {
    this.blocked.delete(id);
    if (!this.blocked.size && !this.closed) this.transport.resume();
  }

  private write(b: Buffer, cb?: (e?: Error | null) => void): void {
    if (this.closed || this.transport.destroyed || this.transport.writableEnded) { cb?.(); return; }
    this.transport.write(b, cb ? (e) => cb(e) : undefined);
  }

  /** @internal */
  sendData(id: number, data: Buffer, fin: boolean, cb: (e?: Error | null) => void): void {
    if (!this.streams.has(id)) { cb(); return; }
    const CHUNK = 32 * 1024;
    if (data.length <= CHUNK) { this.write(encodeFrame({ type: 'data', streamId: id, flags: fin ? FLAG_FIN : 0, data }), cb); return; }
    for (let o = 0; o < data.length; o += CHUNK) {
      const last = o + CHUNK >= data.length;
      this.write(encodeFrame({ type: 'data', streamId: id, flags: last && fin ? FLAG_FIN : 0, data: data.subarray(o, o + CHUNK) }), last ? cb : undefined);
    }
  }

  /** @internal */
  sendReset(id: number, status: number): void {
    this.write(encodeFrame({ type: 'rst_stream', streamId: id, flags: 0, status }));
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
    this.unblock(id);
  }

  private fail(e: Error): void {
    // GOAWAY PROTOCOL_ERROR, then the end: the peer's framing is beyond repair.
    this.write(encodeFrame({ type: 'goaway', flags: 0, lastGoodStreamId: this.lastStreamId, status: 1 }));
    this.close(e.message);
  }

  private readonly closedListeners: ((why: string) => void)[] = [];

  /** Called once when the session ends (at once if it has). */
  onClosed(f: (why: string) => void): void {
    if (this.closed) f('closed');
    else this.closedListeners.push(f);
  }

  /** Ends every stream and the transport. */
  close(why = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams.values()]) s.destroy();
    this.streams.clear();
    this.inflater.close();
    this.transport.end();
    setTimeout(() => this.transport.destroy(), 1000).unref();
    this.o.onClose?.(why);
    for (const f of this.closedListeners.splice(0)) f(why);
  }
}
