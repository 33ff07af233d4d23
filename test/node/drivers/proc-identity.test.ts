import { spawn } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatRef, isAlive, parseProcStat, readProcStat } from '../../../src/node/drivers/proc-identity.js';

function statLine(
  pid: number,
  comm: string,
  state: string,
  utime: number,
  stime: number,
  start: number,
): string {
  // Fields 4..52 as the kernel prints them; 14, 15 and 22 carry the values under test.
  const rest = Array.from({ length: 50 }, (_, i) => String(1000 + i));
  rest[14 - 4] = String(utime);
  rest[15 - 4] = String(stime);
  rest[22 - 4] = String(start);
  return `${pid} (${comm}) ${state} ${rest.join(' ')}\n`;
}

describe('parseProcStat', () => {
  it('finds state, start time and cpu ticks whatever the command name holds', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 16 }),
        fc.constantFrom('R', 'S', 'D', 'Z'),
        fc.nat(),
        fc.nat(),
        fc.nat({ max: 2 ** 40 }),
        (comm, state, utime, stime, start) => {
          expect(parseProcStat(statLine(42, comm, state, utime, stime, start))).toEqual({
            state,
            startTime: start,
            cpuTicks: utime + stime,
          });
        },
      ),
    );
  });

  it('rejects what is not a stat line', () => {
    expect(parseProcStat('')).toBeUndefined();
    expect(parseProcStat('12 (sh) S 1 2 3')).toBeUndefined();
  });
});

describe('process identity on this kernel', () => {
  it('is stable for a live process and tells a different start time apart', async () => {
    const child = spawn('sleep', ['5'], { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      const first = readProcStat(pid)!;
      expect(readProcStat(pid)?.startTime).toBe(first.startTime);
      expect(isAlive({ pid, startTime: first.startTime })).toBe(true);
      expect(isAlive({ pid, startTime: first.startTime + 1 })).toBe(false);
      expect(formatRef({ pid, startTime: first.startTime })).toBe(`${pid}:${first.startTime}`);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      expect(isAlive({ pid, startTime: first.startTime })).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
