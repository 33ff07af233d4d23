/**
 * A process is identified by its pid AND its start time (field 22 of /proc/<pid>/stat, clock ticks since
 * boot): pids are recycled, the pair is not, so an adopting agent never mistakes a stranger for its own.
 */
import { readFileSync } from 'node:fs';

export interface ProcIdentity {
  readonly pid: number;
  readonly startTime: number;
}

export interface ProcStat {
  readonly state: string;
  readonly startTime: number;
  /** utime + stime, in clock ticks. */
  readonly cpuTicks: number;
}

/** Linux's USER_HZ; fixed at 100 on every architecture the kernel exposes to user space. */
export const CLOCK_TICKS_PER_SECOND = 100;

/**
 * The command name (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are
 * counted from the LAST closing parenthesis.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // Field 3 (state) is the first after the name, so field n sits at index n - 3.
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  const startTime = Number(fields[22 - 3]);
  if (!state || ![utime, stime, startTime].every(Number.isSafeInteger)) return undefined;
  return { state, startTime, cpuTicks: utime + stime };
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Resident memory from /proc/<pid>/status (in kB there, whatever the page size). */
export function readRssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Alive means: the pid exists, is not a zombie, and started when we recorded it did. */
export function isAlive(id: ProcIdentity): boolean {
  const stat = readProcStat(id.pid);
  return stat !== undefined && stat.startTime === id.startTime && stat.state !== 'Z' && stat.state !== 'X';
}

export function formatRef(id: ProcIdentity): string {
  return `${id.pid}:${id.startTime}`;
}
