#!/usr/bin/env node
// Generates src/apiserver/protobuf/schema.json: the field table the protobuf request
// decoder (src/apiserver/protobuf/decode.ts) walks to turn a Kubernetes protobuf body
// into the JSON object the client would have sent as JSON.
//
// Source of truth: a kubectl binary (default: kubectl 1.32 of this machine). Every
// Kubernetes Go binary carries, for each k8s.io generated.proto, the gzipped
// FileDescriptorProto that gogo-protobuf registers (message and field names, numbers,
// types, repeated, map entries), and, in its reflection data, the Go structs with
// their field tags (`json:"replicas,omitempty" protobuf:"varint,1,opt,name=replicas"`)
// and field kinds. The descriptor alone cannot say how the JSON looks: gogo writes
// every non-pointer scalar even when it is zero, and encoding/json then omits it only
// when the json tag says `omitempty`; `json:",inline"` fields (Volume.volumeSource,
// Probe.handler, ...) are nested messages on the wire but flattened in JSON. Both facts
// come from the struct tags and the field kinds (pointer or not).
//
// Table format (compact, one line per message):
//   kinds:    "<apiVersion>/<kind>" → message ("*/<kind>" = the kind in every group version)
//   messages: message → { "<field number>": [jsonName, type, flags?] }
//     type  = a proto scalar (string, bool, int32, int64, uint32, uint64, double, float,
//             bytes, fixed32, fixed64, sfixed32, sfixed64, sint32, sint64) or a message
//             name; for maps (flag m) the value type (keys are always strings in k8s.io).
//     flags = r repeated, m map<string, type>, i inline (merge the message's fields into
//             the parent), o omit when zero (non-pointer Go scalar with omitempty).
//   Message names drop the "k8s.io.api." / "k8s.io.apimachinery.pkg.(apis.)" prefix.
//   Messages with a custom JSON form are not listed; the decoder knows them by name:
//   meta.v1.Time, meta.v1.MicroTime, meta.v1.Duration, meta.v1.FieldsV1,
//   util.intstr.IntOrString, api.resource.Quantity, runtime.RawExtension.
//
// Usage: node scripts/gen-protobuf.mjs [--kubectl PATH] [--check] [--verbose]
//   --check: exit 1 if the committed schema.json differs from what would be written.

import { readFileSync, writeFileSync, existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outFile = join(root, 'src', 'apiserver', 'protobuf', 'schema.json');

// The kinds a client may send as a request body, and so the roots of the table.
const roots = {
  'v1': ['core.v1', ['Namespace', 'Node', 'Pod', 'Service', 'Endpoints', 'Event', 'ConfigMap', 'Secret',
    'ServiceAccount', 'Binding', 'PodTemplate', 'ReplicationController', 'ResourceQuota']],
  'apps/v1': ['apps.v1', ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet']],
  'discovery.k8s.io/v1': ['discovery.v1', ['EndpointSlice']],
  'coordination.k8s.io/v1': ['coordination.v1', ['Lease']],
  'autoscaling/v1': ['autoscaling.v1', ['Scale']],
  'policy/v1': ['policy.v1', ['Eviction', 'PodDisruptionBudget']],
  'batch/v1': ['batch.v1', ['Job', 'CronJob']],
  'authentication.k8s.io/v1': ['authentication.v1', ['TokenRequest']],
};
// Registered in every group version (metav1.AddToGroupVersion).
const everyGroupVersion = { DeleteOptions: 'meta.v1.DeleteOptions' };

const special = new Set(['meta.v1.Time', 'meta.v1.MicroTime', 'meta.v1.Duration', 'meta.v1.FieldsV1',
  'util.intstr.IntOrString', 'api.resource.Quantity', 'runtime.RawExtension']);

function shortName(full) {
  return full.replace(/^\./, '').replace(/^k8s\.io\.api\./, '').replace(/^k8s\.io\.apimachinery\.pkg\.apis\./, '')
    .replace(/^k8s\.io\.apimachinery\.pkg\./, '');
}

// ---------- the binary ----------
function defaultKubectl() {
  for (const c of ['/usr/lib/google-cloud-sdk/bin/kubectl.1.32']) if (existsSync(c)) return c;
  const which = execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
  const real = realpathSync(which);
  return existsSync(real + '.1.32') ? real + '.1.32' : real;
}
const args = process.argv.slice(2);
const kubectlPath = args.includes('--kubectl') ? args[args.indexOf('--kubectl') + 1] : defaultKubectl();
const bin = readFileSync(kubectlPath);

function elfSections(b) {
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) throw new Error(`${kubectlPath}: not a 64-bit ELF file`);
  const shoff = Number(b.readBigUInt64LE(0x28)), shentsize = b.readUInt16LE(0x3a), shnum = b.readUInt16LE(0x3c), shstrndx = b.readUInt16LE(0x3e);
  const secs = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    secs.push({ nameOff: b.readUInt32LE(o), addr: Number(b.readBigUInt64LE(o + 16)), off: Number(b.readBigUInt64LE(o + 24)), size: Number(b.readBigUInt64LE(o + 32)) });
  }
  const strtab = secs[shstrndx];
  for (const s of secs) { const p = strtab.off + s.nameOff; s.name = b.toString('latin1', p, b.indexOf(0, p)); }
  return secs;
}

// ---------- a minimal protobuf reader for descriptor.proto ----------
function* pbFields(buf) {
  let p = 0;
  const varint = () => { let v = 0, s = 0, x; do { x = buf[p++]; v += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return v; };
  while (p < buf.length) {
    const key = varint(); const no = Math.floor(key / 8), wt = key & 7;
    if (wt === 0) yield [no, varint()];
    else if (wt === 2) { const l = varint(); yield [no, buf.subarray(p, p + l)]; p += l; }
    else if (wt === 1) { p += 8; } else if (wt === 5) { p += 4; } else throw new Error('descriptor: wire type ' + wt);
  }
}
const PROTO_TYPES = { 1: 'double', 2: 'float', 3: 'int64', 4: 'uint64', 5: 'int32', 6: 'fixed64', 7: 'fixed32', 8: 'bool',
  9: 'string', 11: 'message', 12: 'bytes', 13: 'uint32', 15: 'sfixed32', 16: 'sfixed64', 17: 'sint32', 18: 'sint64' };

function parseMessage(buf, prefix, out, pkgPath) {
  const m = { name: '', fields: [], nested: [], mapEntry: false };
  const nestedBufs = [];
  for (const [no, v] of pbFields(buf)) {
    if (no === 1) m.name = v.toString();
    else if (no === 2) {
      const f = {};
      for (const [fn, fv] of pbFields(v)) {
        if (fn === 1) f.name = fv.toString(); else if (fn === 3) f.number = fv; else if (fn === 4) f.label = fv;
        else if (fn === 5) f.type = fv; else if (fn === 6) f.typeName = fv.toString(); else if (fn === 10) f.jsonName = fv.toString();
      }
      if (!(f.type in PROTO_TYPES)) throw new Error(`descriptor: ${m.name}.${f.name}: unsupported type ${f.type}`);
      m.fields.push(f);
    } else if (no === 3) nestedBufs.push(v);
    else if (no === 7) for (const [on, ov] of pbFields(v)) if (on === 7 && ov) m.mapEntry = true;
  }
  const full = prefix + '.' + m.name;
  m.full = full; m.pkgPath = pkgPath;
  for (const nb of nestedBufs) m.nested.push(parseMessage(nb, full, out, pkgPath));
  out.set(full, m);
  return m;
}

function readDescriptors() {
  const messages = new Map();
  const magic = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff]);
  let files = 0;
  for (let i = 0; (i = bin.indexOf(magic, i)) >= 0; i++) {
    let fd;
    try { fd = zlib.inflateRawSync(bin.subarray(i + 10, i + 10 + 4_000_000)); } catch { continue; }
    let name = '', pkg = '';
    const msgBufs = [];
    try {
      for (const [no, v] of pbFields(fd)) {
        if (no === 1) name = v.toString(); else if (no === 2) pkg = v.toString(); else if (no === 4) msgBufs.push(v);
      }
    } catch { continue; }
    if (!/^k8s\.io\/.*generated\.proto$/.test(name)) continue;
    files++;
    for (const mb of msgBufs) parseMessage(mb, '.' + pkg, messages, dirname(name));
  }
  if (files === 0) throw new Error(`${kubectlPath}: no k8s.io protobuf descriptors found`);
  return messages;
}

// ---------- Go reflection data: struct types and their field tags ----------
function readGoStructs() {
  const ro = elfSections(bin).find((s) => s.name === '.rodata');
  if (!ro) throw new Error('no .rodata section');
  const inRo = (a) => a >= ro.addr && a < ro.addr + ro.size;
  const f = (a) => a - ro.addr + ro.off;
  const u64 = (a) => Number(bin.readBigUInt64LE(f(a)));
  const varint = (p) => { let v = 0, s = 0, x; do { x = bin[p++]; v += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return [v, p]; };
  // abi.Name: flags byte (1 exported, 2 has tag, 4 embedded), varint length, bytes, [varint length, tag].
  const readName = (a) => {
    const p = f(a); const flags = bin[p]; const [l, q] = varint(p + 1);
    const name = bin.toString('latin1', q, q + l);
    let tag = '';
    if (flags & 2) { const [tl, r] = varint(q + l); tag = bin.toString('latin1', r, r + tl); }
    return { name, tag };
  };
  const KIND_PTR = 22, KIND_SLICE = 23, KIND_STRUCT = 25;
  const structs = new Map(); // "pkgPath.Name" → fields
  // abi.Type (48 bytes: size, ptrdata, hash, tflag, align, fieldAlign, kind, equal, gcdata, str, ptrToThis),
  // then abi.StructType's PkgPath (8) and Fields slice (24), then the UncommonType (PkgPath nameOff).
  for (let a = ro.addr; a + 88 < ro.addr + ro.size; a += 8) {
    const p = f(a);
    if ((bin[p + 23] & 0x1f) !== KIND_STRUCT) continue;
    const tflag = bin[p + 20];
    if (!(tflag & 1)) continue; // named types only (they carry their package path)
    const size = Number(bin.readBigUInt64LE(p));
    if (size > 1 << 20) continue;
    const fp = Number(bin.readBigUInt64LE(p + 56)), fl = Number(bin.readBigUInt64LE(p + 64)), fc = Number(bin.readBigUInt64LE(p + 72));
    if (fl !== fc || fl < 1 || fl > 400 || !inRo(fp) || !inRo(fp + 24 * fl)) continue;
    const fields = [];
    let ok = true;
    for (let i = 0; i < fl && ok; i++) {
      const nm = u64(fp + 24 * i), ty = u64(fp + 24 * i + 8), off = u64(fp + 24 * i + 16);
      if (!inRo(nm) || !inRo(ty) || off > size) { ok = false; break; }
      const { name, tag } = readName(nm);
      const kind = bin[f(ty) + 23] & 0x1f;
      fields.push({ goName: name, tag, kind });
    }
    if (!ok || !fields.some((x) => x.tag.includes('protobuf:"'))) continue;
    const str = bin.readInt32LE(p + 40), pkgOff = bin.readInt32LE(p + 80);
    if (!inRo(ro.addr + str) || !inRo(ro.addr + pkgOff)) continue;
    let typeName = readName(ro.addr + str).name;
    if (tflag & 2) typeName = typeName.slice(1); // TFlagExtraStar
    const pkgPath = readName(ro.addr + pkgOff).name;
    structs.set(pkgPath + '.' + typeName.slice(typeName.lastIndexOf('.') + 1), fields.map((x) => ({ ...x,
      isPtr: x.kind === KIND_PTR, isSlice: x.kind === KIND_SLICE })));
  }
  return structs;
}

function tagValue(tag, key) {
  const m = new RegExp(`(?:^| )${key}:"([^"]*)"`).exec(tag);
  return m ? m[1] : undefined;
}

// ---------- build the table ----------
const descriptors = readDescriptors();
const goStructs = readGoStructs();
const table = { kinds: {}, messages: {} };
const problems = [];
const queue = [];
for (const [apiVersion, [pkg, kinds]] of Object.entries(roots)) {
  for (const kind of kinds) {
    const full = '.k8s.io.api.' + pkg + '.' + kind;
    if (!descriptors.has(full)) { problems.push(`root ${full} not found`); continue; }
    table.kinds[`${apiVersion}/${kind}`] = shortName(full);
    queue.push(full);
  }
}
for (const [kind, msg] of Object.entries(everyGroupVersion)) {
  table.kinds[`*/${kind}`] = msg;
  queue.push('.k8s.io.apimachinery.pkg.apis.' + msg);
}

const seen = new Set();
while (queue.length) {
  const full = queue.shift();
  const short = shortName(full);
  if (seen.has(full) || special.has(short)) continue;
  seen.add(full);
  const msg = descriptors.get(full);
  if (!msg) { problems.push(`message ${full} not found`); continue; }
  const goKey = msg.pkgPath + '.' + msg.name;
  const go = goStructs.get(goKey);
  if (!go) { problems.push(`no Go struct ${goKey} for ${full}`); continue; }
  const byNumber = new Map();
  for (const gf of go) {
    const pb = tagValue(gf.tag, 'protobuf');
    if (!pb) continue;
    byNumber.set(Number(pb.split(',')[1]), gf);
  }
  const entry = {};
  for (const fd of msg.fields.sort((a, b) => a.number - b.number)) {
    const gf = byNumber.get(fd.number);
    if (!gf) { problems.push(`${full}.${fd.name}: no Go field with protobuf number ${fd.number}`); continue; }
    const pbName = /name=([^,]*)/.exec(tagValue(gf.tag, 'protobuf'))?.[1];
    // EphemeralContainer's inline EphemeralContainerCommon is tagged `protobuf:"bytes,1,req"`, no name.
    if (pbName !== fd.name && pbName !== undefined) problems.push(`${full}.${fd.name}: Go tag says name=${pbName}`);
    const json = tagValue(gf.tag, 'json');
    if (json === undefined || json === '-') { problems.push(`note: ${full}.${fd.name} has json:"${json ?? ''}", left out`); continue; }
    const [jsonName, ...opts] = json.split(',');
    let type = PROTO_TYPES[fd.type];
    let flags = '';
    if (type === 'message') {
      const sub = descriptors.get(fd.typeName);
      if (sub?.mapEntry) {
        const k = sub.fields.find((x) => x.number === 1), v = sub.fields.find((x) => x.number === 2);
        if (PROTO_TYPES[k.type] !== 'string') problems.push(`${full}.${fd.name}: map key type ${PROTO_TYPES[k.type]}`);
        type = PROTO_TYPES[v.type] === 'message' ? shortName(v.typeName) : PROTO_TYPES[v.type];
        if (PROTO_TYPES[v.type] === 'message') queue.push(v.typeName);
        flags += 'm';
      } else {
        type = shortName(fd.typeName);
        queue.push(fd.typeName);
      }
    }
    if (fd.label === 3 && !flags.includes('m')) flags += 'r';
    if (opts.includes('inline')) {
      if (PROTO_TYPES[fd.type] !== 'message' || flags) problems.push(`${full}.${fd.name}: inline on a non-message field`);
      flags += 'i';
    } else if (jsonName === '') problems.push(`${full}.${fd.name}: empty JSON name`);
    const scalar = PROTO_TYPES[fd.type] !== 'message';
    if (scalar && fd.label !== 3 && !gf.isPtr && opts.includes('omitempty')) flags += 'o';
    entry[fd.number] = flags ? [jsonName || fd.name, type, flags] : [jsonName || fd.name, type];
  }
  for (const n of byNumber.keys()) if (!msg.fields.some((x) => x.number === n)) problems.push(`${full}: Go field ${n} not in the descriptor`);
  table.messages[short] = entry;
}

// Cross-check the JSON names against the OpenAPI definitions the server publishes.
try {
  const oas = JSON.parse(readFileSync(join(root, 'src', 'apiserver', 'openapi', 'schemas.json'), 'utf8'));
  const prefixes = ['io.k8s.api.', 'io.k8s.apimachinery.pkg.apis.', 'io.k8s.apimachinery.pkg.'];
  for (const [m, fields] of Object.entries(table.messages)) {
    const def = prefixes.map((p) => oas[p + m]).find(Boolean);
    if (!def?.properties) continue;
    for (const [no, [json, , flags]] of Object.entries(fields)) {
      if (flags?.includes('i')) continue;
      if (!(json in def.properties)) problems.push(`note: ${m} field ${no} "${json}" is not in the OpenAPI definition`);
    }
  }
} catch { /* the OpenAPI table is optional here */ }

const errors = problems.filter((p) => !p.startsWith('note: '));
const notes = problems.length - errors.length;
if (args.includes('--verbose')) for (const p of problems) console.error(p);
else {
  for (const p of errors) console.error(p);
  if (notes) console.error(`${notes} note(s) (fields newer than the OpenAPI table, json:"-" fields); --verbose lists them`);
}
if (errors.length) { console.error(`gen-protobuf: ${errors.length} problem(s); schema.json not written`); process.exit(1); }

const sortObj = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
const msgs = sortObj(table.messages);
const lines = ['{', '  "generatedFrom": ' + JSON.stringify(`kubectl ${execFileSync(kubectlPath, ['version', '--client', '-o', 'json'], { encoding: 'utf8' }).match(/"gitVersion":\s*"([^"]+)"/)?.[1] ?? '?'} (descriptors and Go struct tags), by scripts/gen-protobuf.mjs`) + ',',
  '  "kinds": {', Object.entries(sortObj(table.kinds)).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n'), '  },',
  '  "messages": {',
  Object.entries(msgs).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n'),
  '  }', '}', ''];
const text = lines.join('\n');
if (args.includes('--check')) {
  const cur = existsSync(outFile) ? readFileSync(outFile, 'utf8') : '';
  if (cur !== text) { console.error('schema.json is out of date: run node scripts/gen-protobuf.mjs'); process.exit(1); }
  console.log('schema.json is up to date');
} else {
  writeFileSync(outFile, text);
  console.log(`wrote ${outFile}: ${Object.keys(table.kinds).length} kinds, ${Object.keys(msgs).length} messages`);
}
