import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../../src/lib/logger.js';
import { REVOCATION_NOTICE_MS } from '../../../src/node/membership/revocation-gater.js';
import { Revocations, RevokedDevices } from '../../../src/node/membership/revocations.js';

const log = { warn: () => {}, error: () => {}, info: () => {}, debug: () => {} } as unknown as Logger;

function setup(trusted: string[]) {
  const revoked = new RevokedDevices();
  const calls = { forget: [] as string[], disconnect: [] as string[], fence: 0 };
  let listener: (() => void) | undefined;
  const revocations = new Revocations({
    self: 'me',
    log,
    revoked,
    trusted: () => trusted,
    onChange: (l) => {
      listener = l;
      return () => {
        listener = undefined;
      };
    },
    forget: (peer) => calls.forget.push(peer),
    disconnect: (peer) => calls.disconnect.push(peer),
    fence: async () => {
      calls.fence++;
    },
  });
  return { revoked, calls, revocations, changed: () => listener?.() };
}

describe('Revocations', () => {
  it('forgets a revoked peer at once and disconnects it after the notice period, once', () => {
    vi.useFakeTimers();
    try {
      const trusted: string[] = [];
      const { revoked, calls, revocations, changed } = setup(trusted);
      revocations.start();
      trusted.push('x');
      changed();
      changed();
      expect(revoked.has('x')).toBe(true);
      expect(calls.forget).toEqual(['x']);
      expect(calls.disconnect).toEqual([]);
      vi.advanceTimersByTime(REVOCATION_NOTICE_MS);
      expect(calls.disconnect).toEqual(['x']);
      revocations.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('revoked itself, this device fences its workloads', () => {
    const { calls, revocations, revoked } = setup(['me']);
    revocations.start();
    expect(calls.fence).toBe(1);
    expect(calls.forget).toEqual([]);
    expect(revoked.has('me')).toBe(true);
    revocations.stop();
  });

  it('stop cancels pending disconnects and unsubscribes', () => {
    vi.useFakeTimers();
    try {
      const trusted = ['y'];
      const { calls, revocations, changed } = setup(trusted);
      revocations.start();
      revocations.stop();
      vi.advanceTimersByTime(REVOCATION_NOTICE_MS);
      expect(calls.disconnect).toEqual([]);
      trusted.push('z');
      changed();
      expect(calls.forget).toEqual(['y']);
    } finally {
      vi.useRealTimers();
    }
  });
});
