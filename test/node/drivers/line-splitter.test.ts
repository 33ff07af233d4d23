import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../../src/node/drivers/line-splitter.js';

function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

describe('LineSplitter', () => {
  it('yields the same lines however the bytes are cut, multi-byte characters included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme' }).map((s) => s.replace(/[\r\n]/g, ''))),
        fc.boolean(),
        fc.array(fc.nat()),
        (lines, terminated, cuts) => {
          const text = lines.join('\n') + (terminated && lines.length > 0 ? '\n' : '');
          const splitter = new LineSplitter();
          const out = chunked(Buffer.from(text), cuts).flatMap((c) => splitter.push(c));
          out.push(...splitter.flush());
          const expected = !terminated && lines.at(-1) === '' ? lines.slice(0, -1) : lines;
          expect(out).toEqual(expected);
        },
      ),
    );
  });

  it('drops the carriage return of CRLF lines', () => {
    expect(new LineSplitter().push(Buffer.from('a\r\nb\n'))).toEqual(['a', 'b']);
  });

  it('cuts a line that never ends instead of buffering it forever', () => {
    const splitter = new LineSplitter(4);
    expect(splitter.push(Buffer.from('abcdefghij'))).toEqual(['abcd', 'efgh']);
    expect(splitter.flush()).toEqual(['ij']);
  });
});
