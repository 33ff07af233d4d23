/**
 * `proc.json`, the exec driver's memory of a process, written in two steps around the spawn:
 * 1. an intent (job, version, and a fresh launch id the child gets as MYCEL_LAUNCH_ID) before spawning, so a
 *    full disk refuses the start before any process exists, and a crash after the spawn leaves a name to find
 *    the child by;
 * 2. the pid and start time once the child runs.
 * A record without a pid is resolved by scanning /proc for the session leader carrying the launch id: pid and
 * start time are then read from the kernel, never guessed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseJson } from '../../lib/json-text.js';
import { isAlive, type ProcIdentity, readProcStat } from './proc-identity.js';

export const LAUNCH_ENV = 'MYCEL_LAUNCH_ID';

const recordSchema = z.object({
  allocId: z.string(),
  job: z.string(),
  jobVersion: z.number(),
  owner: z.string(),
  // Absent in records written before launch ids existed; those always carry a pid.
  launch: z.string().min(1).max(64).optional(),
  pid: z.number().int().positive().optional(),
  startTime: z.number().int().nonnegative().optional(),
  startedAt: z.number(),
  exitCode: z.number().int().optional(),
  /** The user the process runs as, when not the agent's (exec-run-as.ts): its health checks run as it too. */
  runAs: z
    .object({ uid: z.number().int(), gid: z.number().int(), groups: z.array(z.string().max(64)).max(128) })
    .optional(),
});
export type ProcRecord = z.infer<typeof recordSchema>;
export type StartedRecord = ProcRecord & { pid: number; startTime: number };

export function recordPath(dir: string): string {
  return join(dir, 'proc.json');
}

export async function readRecord(dir: string, owner: string): Promise<ProcRecord | undefined> {
  let text: string;
  try {
    text = await readFile(recordPath(dir), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = recordSchema.safeParse(parseJson(text));
  if (!parsed.success || parsed.data.owner !== owner) return undefined;
  const record = parsed.data;
  // Neither a pid nor a launch id: nothing could ever be found by it.
  return record.pid === undefined && record.launch === undefined ? undefined : record;
}

export async function writeRecord(dir: string, record: ProcRecord): Promise<void> {
  const path = recordPath(dir);
  await writeFile(`${path}.tmp`, JSON.stringify(record));
  await rename(`${path}.tmp`, path);
}

/** The live process a record stands for, or undefined when there is none (it ended, or never started). */
export function resolveIdentity(record: ProcRecord): ProcIdentity | undefined {
  if (record.pid !== undefined && record.startTime !== undefined) {
    const id = { pid: record.pid, startTime: record.startTime };
    return isAlive(id) ? id : undefined;
  }
  return record.launch === undefined ? undefined : findLaunched(record.launch);
}

/**
 * The session leader started with `launch`: the child is spawned detached (setsid), so its pid is its session
 * id, while its own children inherit the same environment but not the leadership.
 */
export function findLaunched(launch: string, procRoot = '/proc'): ProcIdentity | undefined {
  const needle = `\0${LAUNCH_ENV}=${launch}\0`;
  let entries: string[];
  try {
    entries = readdirSync(procRoot);
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let environ: string;
    try {
      environ = `\0${readFileSync(join(procRoot, entry, 'environ'), 'latin1')}`;
    } catch {
      continue;
    }
    if (!environ.includes(needle) || sessionOf(pid, procRoot) !== pid) continue;
    const stat = readProcStat(pid);
    if (stat && stat.state !== 'Z' && stat.state !== 'X') return { pid, startTime: stat.startTime };
  }
  return undefined;
}

function sessionOf(pid: number, procRoot: string): number | undefined {
  try {
    const text = readFileSync(join(procRoot, String(pid), 'stat'), 'utf8');
    // Field 6 (session), counted after the command name's closing parenthesis as in parseProcStat.
    const session = Number(
      text
        .slice(text.lastIndexOf(')') + 1)
        .trim()
        .split(/\s+/)[6 - 3],
    );
    return Number.isSafeInteger(session) ? session : undefined;
  } catch {
    return undefined;
  }
}
