/**
 * Turns byte chunks into text lines, whatever the chunk boundaries (a UTF-8 character or a line may straddle
 * two chunks). A writer that never ends its line cannot grow the buffer without bound: past `maxLine`
 * characters the pending text is emitted as a line of its own.
 */
import { StringDecoder } from 'node:string_decoder';

export const MAX_LINE = 64 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor(private readonly maxLine = MAX_LINE) {}

  push(chunk: Uint8Array): string[] {
    const parts = (this.pending + this.decoder.write(chunk)).split('\n');
    this.pending = parts.pop() ?? '';
    const lines = parts.map(stripCr);
    while (this.pending.length > this.maxLine) {
      lines.push(this.pending.slice(0, this.maxLine));
      this.pending = this.pending.slice(this.maxLine);
    }
    return lines;
  }

  /** The unterminated remainder, if any: call when the source has ended. */
  flush(): string[] {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    return rest === '' ? [] : [stripCr(rest)];
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
