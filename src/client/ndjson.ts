// Splitting a watch response body into lines. A chunk from the socket may end
// in the middle of a line, or in the middle of a multi-byte UTF-8 character:
// bytes are kept until their line's '\n' arrives and only then decoded.

export class LineTooLongError extends Error {
  readonly code = 'WATCH_LINE_TOO_LONG';
  constructor(limit: number) {
    super(`watch event larger than ${limit} bytes`);
    this.name = 'LineTooLongError';
  }
}

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** `maxLineBytes` bounds memory when a peer never sends '\n'. */
  constructor(private readonly maxLineBytes = 64 * 1024 * 1024) {}

  /** Complete, non-empty lines in this chunk (with what was pending before it). */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const part = chunk.subarray(start, nl);
      let line: string;
      if (this.pending.length) {
        this.pending.push(part);
        line = Buffer.concat(this.pending, this.pendingBytes + part.length).toString('utf8');
        this.pending = [];
        this.pendingBytes = 0;
      } else {
        line = part.toString('utf8');
      }
      if (line.trim() !== '') lines.push(line);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pendingBytes += rest.length;
      if (this.pendingBytes > this.maxLineBytes) throw new LineTooLongError(this.maxLineBytes);
      // Copy: the socket may reuse the chunk's memory once we return.
      this.pending.push(Buffer.from(rest));
    }
    return lines;
  }

  /** What is left after the stream ended (a last line without '\n'), if anything. */
  flush(): string | undefined {
    if (!this.pending.length) return undefined;
    const line = Buffer.concat(this.pending, this.pendingBytes).toString('utf8');
    this.pending = [];
    this.pendingBytes = 0;
    return line.trim() === '' ? undefined : line;
  }
}
