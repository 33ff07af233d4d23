import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  decodeRequest,
  encodeFrame,
  encodeLine,
  encodeRequest,
  MAX_LOG_FRAME,
  MAX_LOG_REQUEST,
} from '../../../src/node/logs/alloc-logs-frames.js';

const utf8 = new TextEncoder();

describe('requests', () => {
  it('round-trip, and anything off-schema or too big is refused with the reason', () => {
    const request = {
      allocId: 'web.0.1.abcd',
      follow: true,
      tail: 10,
      sinceMs: 60_000,
      stream: 'stderr' as const,
    };
    expect(decodeRequest(encodeRequest(request))).toEqual({ ok: true, value: request });

    const bad = (value: unknown) => decodeRequest(utf8.encode(JSON.stringify(value)));
    expect(bad({ allocId: '../etc/passwd', follow: false })).toMatchObject({ ok: false, error: /allocId/ });
    expect(bad({ allocId: 'a', follow: false, tail: -1 })).toMatchObject({ ok: false, error: /tail/ });
    expect(bad({ allocId: 'a', follow: false, tail: 1.5 })).toMatchObject({ ok: false, error: /tail/ });
    expect(bad({ allocId: 'a', follow: 'yes' })).toMatchObject({ ok: false, error: /follow/ });
    expect(bad({ allocId: 'a', follow: false, stream: 'stdin' })).toMatchObject({
      ok: false,
      error: /stream/,
    });
    expect(bad({ allocId: 'a', follow: false, extra: 1 })).toMatchObject({ ok: false });
    expect(decodeRequest(Uint8Array.of(0xff, 0xfe))).toMatchObject({ ok: false, error: /not JSON/ });
    const huge = utf8.encode(
      JSON.stringify({ allocId: 'a', follow: false, pad: 'x'.repeat(MAX_LOG_REQUEST) }),
    );
    expect(decodeRequest(huge)).toMatchObject({ ok: false, error: /over 1024 bytes/ });
  });
});

describe('frames', () => {
  it('carry lines, keepalives, ends and errors', () => {
    const [frame, ...more] = encodeLine({ stream: 'stderr', line: 'héllo ✓' });
    expect(more).toEqual([]);
    expect(decodeFrame(frame!)).toEqual({
      ok: true,
      value: { kind: 'line', line: { stream: 'stderr', line: 'héllo ✓' } },
    });
    for (const kind of ['open', 'keepalive', 'end'] as const)
      expect(decodeFrame(encodeFrame({ kind }))).toEqual({ ok: true, value: { kind } });
    const error = { kind: 'error', code: 'not-owner', message: 'ask w2' } as const;
    expect(decodeFrame(encodeFrame(error))).toEqual({ ok: true, value: error });
    // An empty line is a line.
    expect(decodeFrame(encodeLine({ stream: 'stdout', line: '' })[0]!)).toMatchObject({
      ok: true,
      value: { line: { line: '' } },
    });
  });

  it('a line longer than a frame is cut at character boundaries into frames under the cap', () => {
    // Characters of 1, 2, 3 and 4 UTF-8 bytes, and a lone surrogate (which UTF-8 cannot carry).
    const char = fc.constantFrom('a', 'é', '✓', '😀', '\ud800');
    fc.assert(
      fc.property(
        // A short run of any characters repeated past the frame size, behind a prefix that shifts where the
        // cuts fall: every kind of character gets to straddle a cut.
        fc
          .tuple(
            fc.array(char, { maxLength: 5 }),
            fc.array(char, { minLength: 1, maxLength: 6 }),
            fc.nat(7_000),
          )
          .map(([prefix, run, times]) => prefix.join('') + run.join('').repeat(times)),
        fc.constantFrom('stdout' as const, 'stderr' as const),
        (line, stream) => {
          const pieces = encodeLine({ stream, line }).map((frame) => {
            const decoded = decodeFrame(frame);
            if (frame.length > MAX_LOG_FRAME || !decoded.ok || decoded.value.kind !== 'line')
              throw new Error(`bad frame of ${frame.length} bytes: ${JSON.stringify(decoded).slice(0, 200)}`);
            if (decoded.value.line.stream !== stream) throw new Error('stream lost');
            return decoded.value.line.line;
          });
          // Lone surrogates cannot be encoded as UTF-8 and become U+FFFD, as everywhere else in the agent.
          return pieces.join('') === new TextDecoder().decode(utf8.encode(line));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('hostile frames are refused with the reason, never thrown', () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(0), /unknown frame kind/],
      [Uint8Array.of(9), /unknown frame kind 9/],
      [Uint8Array.of(1, 0), /open frame with a body/],
      [Uint8Array.of(4, 1, 2), /end frame with a body/],
      [Uint8Array.of(2), /without a stream/],
      [Uint8Array.of(2, 7, 65), /without a stream/],
      [Uint8Array.of(2, 1, 0xc3), /not UTF-8/],
      [Uint8Array.of(5, ...utf8.encode('{"code":"pwned","message":"x"}')), /malformed error/],
      [Uint8Array.of(5, ...utf8.encode('not json')), /malformed error/],
      [new Uint8Array(MAX_LOG_FRAME + 1).fill(2, 0, 1).fill(1, 1, 2).fill(65, 2), /over/],
    ];
    for (const [bytes, error] of cases) expect(decodeFrame(bytes)).toMatchObject({ ok: false, error });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(() => decodeFrame(bytes)).not.toThrow();
      }),
    );
  });
});
