import { expect, test } from 'vitest';
import { BrowserSessions, SESSION_COOKIE } from '../../../src/node/api/ui/browser-sessions.js';

test('a code works once and within its time; the session it becomes admits until it expires', () => {
  let now = 0;
  const sessions = new BrowserSessions(() => now, { codeTtlMs: 60_000, sessionTtlMs: 1_000 });
  const { code } = sessions.issueCode();
  const session = sessions.redeem(code);
  expect(session).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(sessions.redeem(code)).toBeUndefined();
  expect(sessions.admits(`theme=dark; ${SESSION_COOKIE}=${session}`)).toBe(true);
  expect(sessions.admits(`${SESSION_COOKIE}=${session}x`)).toBe(false);
  expect(sessions.admits(undefined)).toBe(false);
  now = 1_000;
  expect(sessions.admits(`${SESSION_COOKIE}=${session}`)).toBe(false);

  const late = sessions.issueCode().code;
  now += 60_000;
  expect(sessions.redeem(late)).toBeUndefined();
});

test('outstanding codes and sessions are bounded: the oldest go first', () => {
  const sessions = new BrowserSessions(() => 0, { maxCodes: 2, maxSessions: 2 });
  const codes = [sessions.issueCode().code, sessions.issueCode().code, sessions.issueCode().code];
  expect(sessions.redeem(codes[0]!)).toBeUndefined();
  const made = [sessions.redeem(codes[1]!), sessions.redeem(codes[2]!)];
  const third = sessions.redeem(sessions.issueCode().code);
  expect(sessions.admits(`${SESSION_COOKIE}=${made[0]}`)).toBe(false);
  expect(sessions.admits(`${SESSION_COOKIE}=${made[1]}`)).toBe(true);
  expect(sessions.admits(`${SESSION_COOKIE}=${third}`)).toBe(true);
});
