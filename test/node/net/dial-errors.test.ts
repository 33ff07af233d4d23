import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { classifyDialError, DialErrors } from '../../../src/node/net/dial-errors.js';

/** Errors as libp2p 3 raised them over loopback (measured, see dial-errors.ts). */
const named = (name: string, message: string, code?: string) =>
  Object.assign(new Error(message), { name, ...(code ? { code } : {}) });

describe('classifyDialError', () => {
  test.each([
    ['two mesh keys', named('EncryptionFailedError', 'read ECONNRESET'), 'handshake'],
    [
      'closed dialling open',
      named('EncryptionFailedError', 'Message length too long - 3330 > 1024'),
      'handshake',
    ],
    ['open dialling closed', named('Error', 'read ECONNRESET', 'ECONNRESET'), 'handshake'],
    [
      'another device at the address',
      named(
        'EncryptionFailedError',
        'Payload identity key 12D3A does not match expected remote identity key 12D3B',
      ),
      'peer-id',
    ],
    ['nobody listening', named('Error', 'connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), 'unreachable'],
    ['no route', named('Error', 'connect EHOSTUNREACH 10.0.0.9:4001', 'EHOSTUNREACH'), 'unreachable'],
    ['dial timeout', named('TimeoutError', 'The operation was aborted due to timeout'), 'unreachable'],
    ['anything else', named('InvalidPeerIdError', 'Can not dial self'), 'other'],
  ])('%s', (_, err, kind) => {
    expect(classifyDialError(err)).toBe(kind);
  });
});

function recorder(now: { t: number }) {
  const lines: { msg: string; target: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { errors: new DialErrors(log, { now: () => now.t, warnEveryMs: 60_000, max: 2 }), lines };
}

describe('DialErrors', () => {
  test('a failing handshake warns once per period per target; an unreachable peer stays quiet', () => {
    const now = { t: 0 };
    const { errors, lines } = recorder(now);
    const reset = named('EncryptionFailedError', 'read ECONNRESET');
    for (let i = 0; i < 5; i++, now.t += 1_000) errors.failed('/ip4/192.0.2.1/tcp/4001', reset);
    errors.failed('/ip4/192.0.2.2/tcp/4001', named('Error', 'connect ECONNREFUSED', 'ECONNREFUSED'));
    expect(lines.map((l) => l.target)).toEqual(['/ip4/192.0.2.1/tcp/4001']);
    expect(lines[0]?.msg).toMatch(
      /^cannot connect to \/ip4\/192\.0\.2\.1\/tcp\/4001: handshake failed .*mesh key mismatch\?/,
    );
    now.t += 60_000;
    errors.failed('/ip4/192.0.2.1/tcp/4001', reset);
    expect(lines).toHaveLength(2);
    expect(errors.list().map((e) => [e.target, e.kind, e.failures])).toEqual([
      ['/ip4/192.0.2.1/tcp/4001', 'handshake', 6],
      ['/ip4/192.0.2.2/tcp/4001', 'unreachable', 1],
    ]);
  });

  test('a success clears the target; the oldest failure is dropped past the bound', () => {
    const now = { t: 0 };
    const { errors } = recorder(now);
    const refused = named('Error', 'connect ECONNREFUSED', 'ECONNREFUSED');
    for (const target of ['a', 'b', 'c']) {
      now.t += 1;
      errors.failed(target, refused);
    }
    expect(errors.list().map((e) => e.target)).toEqual(['c', 'b']);
    errors.succeeded('c');
    expect(errors.list().map((e) => e.target)).toEqual(['b']);
  });
});
