import fc from 'fast-check';
import { expect, test } from 'vitest';
import {
  dataFrames,
  decodeExecFrame,
  type ExecRequest,
  encodeExecFrame,
  MAX_EXEC_DATA,
  MAX_EXEC_FRAME,
} from '../../../src/node/logs/alloc-exec-frames.js';

const request: ExecRequest = {
  kind: 'exec',
  allocId: 'web.0.1.abcd',
  command: ['sh', '-c', 'id'],
  tty: true,
  stdin: true,
  cols: 120,
  rows: 40,
  at: 1,
  nonce: '0123456789abcdef',
};

test('every frame decodes to what was encoded', () => {
  const frames = [
    { kind: 'request', request },
    { kind: 'stdin', data: Uint8Array.of(0, 255, 10) },
    { kind: 'stdout', data: new Uint8Array(0) },
    { kind: 'stderr', data: Uint8Array.of(1) },
    { kind: 'stdinEnd' },
    { kind: 'resize', cols: 80, rows: 24 },
    { kind: 'open' },
    { kind: 'exit', code: -1 },
    { kind: 'exit', code: 137 },
    { kind: 'error', code: 'forbidden', message: 'no' },
  ] as const;
  for (const frame of frames)
    expect(decodeExecFrame(encodeExecFrame(frame))).toEqual({ ok: true, value: frame });
});

test('output of any size splits into frames that fit, and joins back', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 * MAX_EXEC_DATA + 5 }), (size) => {
      const data = new Uint8Array(size).map((_, i) => i % 251);
      const frames = dataFrames('stdout', data);
      expect(frames.every((f) => f.length <= MAX_EXEC_FRAME)).toBe(true);
      const back = frames
        .map((f) => decodeExecFrame(f))
        .flatMap((d) => (d.ok && 'data' in d.value ? [d.value.data] : []));
      expect(Buffer.concat(back)).toEqual(Buffer.from(data));
    }),
    { numRuns: 20 },
  );
});

test('hostile or malformed frames are refused with a reason, never thrown', () => {
  const bad = (bytes: Uint8Array) => {
    const decoded = decodeExecFrame(bytes);
    expect(decoded.ok).toBe(false);
    return decoded.ok ? '' : decoded.error;
  };
  const req = (r: unknown) => new Uint8Array([1, ...new TextEncoder().encode(JSON.stringify(r))]);
  expect(bad(new Uint8Array(0))).toBe('empty frame');
  expect(bad(Uint8Array.of(99))).toMatch(/unknown frame kind/);
  expect(bad(Uint8Array.of(1, 0x7b))).toBe('request is not JSON');
  expect(bad(req({ ...request, extra: 1 }))).toMatch(/bad request/);
  expect(bad(req({ ...request, allocId: '../etc' }))).toMatch(/allocId/);
  expect(bad(req({ ...request, command: [] }))).toMatch(/exec needs a command/);
  expect(bad(req({ ...request, kind: 'restart' }))).toMatch(/a restart runs nothing/);
  expect(bad(req({ ...request, nonce: 'short' }))).toMatch(/nonce/);
  expect(bad(req({ ...request, command: Array(200).fill('x') }))).toMatch(/command/);
  expect(bad(req({ ...request, command: ['x'.repeat(17_000)] }))).toMatch(/command/);
  expect(bad(new Uint8Array(MAX_EXEC_DATA + 2).fill(2, 0, 1))).toMatch(/data frame over/);
  expect(bad(Uint8Array.of(4, 0, 80))).toBe('malformed resize frame');
  expect(bad(Uint8Array.of(13, 0))).toBe('malformed exit frame');
  expect(bad(Uint8Array.of(10, 1))).toBe('bare frame with a body');
  expect(bad(Uint8Array.of(14, 0x7b))).toBe('malformed error frame');
});
