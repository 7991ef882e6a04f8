// The framing of kubelet's WebSocket port-forward protocol (pkg/kubelet/cri/
// streaming/portforward/websocket.go over apiserver's wsstream.Conn): what the
// official clients that do not speak SPDY use — @kubernetes/client-node's
// PortForward and python's kubernetes.stream.portforward. Pure: the session
// that uses it is cluster/portforward-ws.ts.
//
// The ports come in the query (kubelet's `port`, one or several values, each
// a comma-separated list); port i gets channel 2i (data, both ways) and 2i+1
// (error, server to client). The first message the server sends on each of
// the two carries the port as 2 little-endian bytes, in a message of its own
// (python's client insists on exactly 3 bytes: channel + port). Every message
// starts with its channel byte; with `v4.base64.channel.k8s.io` messages are
// text, the channel an ASCII digit ('0' + n) and the payload base64.
// There is no per-channel close in v4: a data channel ends with the connection.

export const PF_BINARY_PROTOCOL = 'v4.channel.k8s.io';
export const PF_BASE64_PROTOCOL = 'v4.base64.channel.k8s.io';
/** What kubelet's wsstream.Conn is configured with: no subprotocol at all means binary. */
export const PF_PROTOCOLS: readonly string[] = ['', PF_BINARY_PROTOCOL, PF_BASE64_PROTOCOL];

/**
 * wsstream's handshake: the first protocol the client offers that the server
 * supports (the client's order decides: client-node offers v5 first, which
 * port-forward has not, then v4); none offered counts as "". undefined: refused.
 */
export function choosePortForwardProtocol(offered: readonly string[]): string | undefined {
  const wanted = offered.length ? offered : [''];
  return wanted.find((p) => PF_PROTOCOLS.includes(p));
}

/** wsstream's handshake refusal. */
export function protocolRefusal(offered: readonly string[]): string {
  return `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${PF_PROTOCOLS.filter(Boolean).join(' ')}]`;
}

export type PortsResult = { ports: number[] } | { error: string };

/** kubelet's NewV4Options for a WebSocket request: the values of the `port` query parameter. */
export function parseKubeletPorts(values: readonly string[]): PortsResult {
  if (values.length === 0) return { error: 'query parameter "port" is required' };
  const ports: number[] = [];
  for (const v of values) {
    if (v === '') return { error: 'query parameter "port" cannot be empty' };
    for (const p of v.split(',')) {
      const n = parseUint16(p);
      if (n === undefined) return { error: `unable to parse "${v}" as a port: strconv.ParseUint: parsing "${p}": ${/^\d+$/.test(p) ? 'value out of range' : 'invalid syntax'}` };
      if (n < 1) return { error: `port "${v}" must be > 0` };
      ports.push(n);
    }
  }
  return { ports };
}

/**
 * kube-apiserver's conversion of PodPortForwardOptions' `ports` query parameter
 * (runtime.Convert_Slice_string_To_Slice_int32: comma-separated lists, uint16);
 * kube-apiserver passes the result to kubelet as `port` parameters.
 */
export function parseApiserverPorts(values: readonly string[]): PortsResult {
  const ports: number[] = [];
  for (const v of values) {
    for (const p of v.split(',')) {
      const n = parseUint16(p);
      if (n === undefined) return { error: `cannot convert to []int32: strconv.ParseUint: parsing "${p}": ${/^\d+$/.test(p) ? 'value out of range' : 'invalid syntax'}` };
      ports.push(n);
    }
  }
  return { ports };
}

function parseUint16(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffff ? n : undefined;
}

/** The data channel of the i-th port; its error channel is one more. */
export const dataChannel = (i: number): number => 2 * i;
export const errorChannel = (i: number): number => 2 * i + 1;

/** The first payload on both channels of a port: the port, 2 bytes little-endian. */
export function portPrefix(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port & 0xffff, 0);
  return b;
}

/** One message from the server on `channel`: a Buffer (binary message) or a string (text message, base64 protocol). */
export function encodeChannelMessage(protocol: string, channel: number, data: Buffer | string): Buffer | string {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  if (protocol === PF_BASE64_PROTOCOL) return String.fromCharCode(48 + channel) + body.toString('base64');
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  body.copy(out, 1);
  return out;
}

/** One message from the client: its channel and payload, or undefined (empty, or bad base64: wsstream skips it). */
export function decodeChannelMessage(protocol: string, msg: Buffer): { channel: number; data: Buffer } | undefined {
  if (msg.length === 0) return undefined;
  if (protocol === PF_BASE64_PROTOCOL) {
    const text = msg.subarray(1).toString('latin1');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
    return { channel: (msg[0]! - 48) & 0xff, data: Buffer.from(text, 'base64') };
  }
  return { channel: msg[0]!, data: msg.subarray(1) };
}
