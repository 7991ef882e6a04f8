// SPDY/3.1 framing and header compression. The golden frames are what
// kubectl 1.32 sent for `kubectl port-forward` (captured with -v=8, which
// logs every byte written to the WebSocket tunnel), and what it accepted back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { inflateSync, constants as zc } from 'node:zlib';
import {
  adler32, decodeHeaderBlock, encodeFrame, encodeHeaderBlock, FLAG_FIN, FrameReader, HeaderCompressor, HeaderDecompressor,
  parseFrame, SPDY3_DICTIONARY, SpdyProtocolError, type Frame,
} from './spdy.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// kubectl's error stream (id 1) and data stream (id 3) of its first connection: streamtype,
// port 80, requestID 0; the second header block continues the first one's zlib stream.
const KUBECTL_SYN_1 = hex(`80 03 00 01 00 00 00 3D 00 00 00 01 00 00 00 00 00 00
  78 F9 E3 C6 A7 C2 02 25 3A 06 06 06 CE 22 48 FC 64 82 D2 2D A3 01 38 E5 95 14 A5 26 E6 42 0B 17 D6 54 50 D0 43 0A EA 22 50 A2 66 B2 30 00 00 00 00 FF FF`);
const KUBECTL_SYN_3 = hex(`80 03 00 01 00 00 00 1C 00 00 00 03 00 00 00 00 00 00
  82 6A 45 55 08 2A 85 12 31 D4 A1 19 0F 00 00 00 FF FF`);
// Its FIN on the error stream, which it never writes to.
const KUBECTL_FIN_1 = hex('00 00 00 01 01 00 00 00');
// Our SYN_REPLYs (empty header blocks) that kubectl accepted.
const REPLY_1 = hex('80 03 00 02 00 00 00 18 00 00 00 01 78 20 E3 C6 A7 C2 00 04 00 FB FF 00 00 00 00 00 00 00 FF FF');
const REPLY_3 = hex('80 03 00 02 00 00 00 12 00 00 00 03 00 04 00 FB FF 00 00 00 00 00 00 00 FF FF');

test('the SPDY/3 dictionary is the spec\'s 1423 bytes; its Adler-32 is the DICTID kubectl\'s zlib header names', () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(createHash('sha256').update(SPDY3_DICTIONARY).digest('hex'), '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
  assert.equal(adler32(SPDY3_DICTIONARY), KUBECTL_SYN_1.readUInt32BE(20));
  assert.equal(adler32(Buffer.from('Wikipedia')), 0x11e60398);
});

test('kubectl\'s frames parse, in any chunking, and their header blocks inflate in sequence', async () => {
  const wire = Buffer.concat([KUBECTL_SYN_1, KUBECTL_FIN_1, KUBECTL_SYN_3]);
  for (const step of [1, 2, 4, 7, wire.length]) {
    const r = new FrameReader();
    const frames: Frame[] = [];
    for (let o = 0; o < wire.length; o += step) frames.push(...r.push(wire.subarray(o, o + step)));
    assert.deepEqual(frames.map((f) => f.type), ['syn_stream', 'data', 'syn_stream'], `chunks of ${step}`);
    const [s1, fin, s3] = frames as [Extract<Frame, { type: 'syn_stream' }>, Extract<Frame, { type: 'data' }>, Extract<Frame, { type: 'syn_stream' }>];
    assert.equal(s1.streamId, 1);
    assert.equal(s3.streamId, 3);
    assert.deepEqual({ id: fin.streamId, flags: fin.flags, len: fin.data.length }, { id: 1, flags: FLAG_FIN, len: 0 });
    const z = new HeaderDecompressor();
    assert.deepEqual(decodeHeaderBlock(await z.decompress(s1.headerBlock)), { port: ['80'], requestid: ['0'], streamtype: ['error'] });
    assert.deepEqual(decodeHeaderBlock(await z.decompress(s3.headerBlock)), { port: ['80'], requestid: ['0'], streamtype: ['data'] });
    z.close();
  }
});

test('SYN_REPLYs come out byte for byte as kubectl accepted them; zlib reads our header blocks back', () => {
  const c = new HeaderCompressor();
  const b1 = c.compress(encodeHeaderBlock({}));
  const b3 = c.compress(encodeHeaderBlock({}));
  assert.deepEqual(encodeFrame({ type: 'syn_reply', streamId: 1, flags: 0, headerBlock: b1 }), REPLY_1);
  assert.deepEqual(encodeFrame({ type: 'syn_reply', streamId: 3, flags: 0, headerBlock: b3 }), REPLY_3);
  // One zlib stream over the session: any later block continues it.
  const h = { streamtype: ['data'], port: ['8080'], 'x-multi': ['a', 'b'] };
  const b4 = c.compress(encodeHeaderBlock(h));
  const all = inflateSync(Buffer.concat([b1, b3, b4]), { dictionary: SPDY3_DICTIONARY, finishFlush: zc.Z_SYNC_FLUSH });
  assert.deepEqual(all, Buffer.concat([encodeHeaderBlock({}), encodeHeaderBlock({}), encodeHeaderBlock(h)]));
  assert.deepEqual(decodeHeaderBlock(encodeHeaderBlock(h)), h);
});

test('control frames: golden bytes and round trips', () => {
  const golden: [Frame, string][] = [
    [{ type: 'ping', flags: 0, id: 1 }, '80 03 00 06 00 00 00 04 00 00 00 01'],
    [{ type: 'rst_stream', flags: 0, streamId: 3, status: 5 }, '80 03 00 03 00 00 00 08 00 00 00 03 00 00 00 05'],
    [{ type: 'goaway', flags: 0, lastGoodStreamId: 7, status: 0 }, '80 03 00 07 00 00 00 08 00 00 00 07 00 00 00 00'],
    [{ type: 'window_update', flags: 0, streamId: 1, delta: 65536 }, '80 03 00 09 00 00 00 08 00 00 00 01 00 01 00 00'],
    [{ type: 'settings', flags: 0, entries: [{ flags: 0, id: 7, value: 65536 }] }, '80 03 00 04 00 00 00 0C 00 00 00 01 00 00 00 07 00 01 00 00'],
    [{ type: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.from('hello') }, '00 00 00 03 01 00 00 05 68 65 6C 6C 6F'],
  ];
  for (const [f, bytes] of golden) {
    assert.deepEqual(encodeFrame(f), hex(bytes), f.type);
    assert.deepEqual(parseFrame(hex(bytes)), f, f.type);
  }
  assert.throws(() => parseFrame(hex('80 02 00 06 00 00 00 04 00 00 00 01')), SpdyProtocolError, 'SPDY/2 is refused');
  assert.throws(() => parseFrame(hex('80 03 00 03 00 00 00 04 00 00 00 01')), SpdyProtocolError, 'a short RST_STREAM');
  assert.throws(() => decodeHeaderBlock(hex('00 00 00 01 00 00 00 04 50 6F 72 74 00 00 00 00')), /lowercased/);
});

test('a corrupt header block fails the decompression, not the process', async () => {
  const z = new HeaderDecompressor();
  await assert.rejects(z.decompress(hex('78 F9 00 00 00 00 01 02 03')), /header block|dictionary|invalid/i);
  z.close();
});
