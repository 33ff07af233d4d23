/**
 * meshd as real processes on loopback for the memory, device and flash benches: start one, reach its control API
 * with the token it wrote, read its memory and I/O counters from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Compiled to dist/build/bench/.
export const ROOT = resolve(import.meta.dirname, '../../..');
export const BUNDLE = join(ROOT, 'dist/meshd.mjs');

export interface AgentProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly api: string;
  readonly dataDir: string;
  /** Why it exited, when it did. */
  exited?: string;
}

export interface SpawnOptions {
  readonly entry: string;
  readonly name: string;
  readonly dataDir: string;
  readonly meshPort: number;
  readonly apiPort: number;
  readonly join?: readonly string[];
  /** Node flags before the entry (the bundle's shebang flags are not applied when node runs it directly). */
  readonly nodeFlags?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly extraArgs?: readonly string[];
  /** `exec` unless told: `none` makes a relay-only peer that runs no copies. */
  readonly driver?: 'exec' | 'none';
  /** A command the agent is started through, e.g. a cgroup-entering wrapper. */
  readonly wrapper?: readonly string[];
}

export function spawnAgent(o: SpawnOptions): AgentProcess {
  const args = [
    ...(o.nodeFlags ?? []),
    o.entry,
    '--name',
    o.name,
    '--data-dir',
    o.dataDir,
    '--listen',
    `/ip4/127.0.0.1/tcp/${o.meshPort}`,
    '--api',
    `127.0.0.1:${o.apiPort}`,
    '--log-level',
    'warn',
    '--driver',
    o.driver ?? 'exec',
    ...(o.join ?? []).flatMap((a) => ['--join', a]),
    ...(o.extraArgs ?? []),
  ];
  const [command, ...before] = [...(o.wrapper ?? []), process.execPath];
  const child = spawn(command!, [...before, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...o.env },
  });
  const agent: AgentProcess = {
    name: o.name,
    child,
    api: `http://127.0.0.1:${o.apiPort}`,
    dataDir: o.dataDir,
  };
  child.once('exit', (code, signal) => {
    agent.exited = `${o.name} exited (${signal ?? code})`;
  });
  return agent;
}

/** The flags an entry's `#!/usr/bin/env -S node <flags>` line gives it: measured as it is deployed. */
export function shebangFlags(entry: string): string[] {
  const first = readFileSync(entry, 'utf8').slice(0, 200).split('\n')[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node (.*)$/.exec(first);
  return match?.[1] ? match[1].split(' ').filter(Boolean) : [];
}

function authorization(agent: AgentProcess): Record<string, string> {
  return { authorization: `Bearer ${readFileSync(join(agent.dataDir, 'api.token'), 'utf8').trim()}` };
}

export async function api(
  agent: AgentProcess,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<unknown> {
  const res = await fetch(`${agent.api}${path}`, {
    method,
    headers: {
      ...authorization(agent),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok && res.status !== 422)
    throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return path === '/metrics' ? text : JSON.parse(text);
}

/** Polls `check` until it holds; throws past `timeoutMs` or when an agent died. */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  agents: readonly AgentProcess[] = [],
): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - start;
    const dead = agents.filter((a) => a.exited).map((a) => a.exited);
    if (dead.length > 0) throw new Error(`${what}: ${dead.join('; ')}`);
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

/** The agent's first listen address, once its API answers. */
export async function bootstrapAddress(agent: AgentProcess): Promise<string> {
  let address = '';
  await until(
    `${agent.name} answering`,
    async () => {
      address = ((await api(agent, 'GET', '/v1/status', undefined, 3_000)) as { addresses: string[] })
        .addresses[0]!;
      return address !== undefined;
    },
    60_000,
    [agent],
  );
  return address;
}

export async function alivePeers(agent: AgentProcess): Promise<number> {
  return ((await api(agent, 'GET', '/v1/status', undefined, 5_000)) as { peers: { alive: number } }).peers
    .alive;
}

/** An exec job of `count` `sleep` copies. */
export function sleepJob(name: string, count: number, seconds = 3600): { source: string; fileName: string } {
  return {
    source: [
      `name: ${name}`,
      'driver: exec',
      'command: /bin/sleep',
      `args: ["${seconds}"]`,
      `count: ${count}`,
      'resources: { cpu: 10, memory: 4 }',
    ].join('\n'),
    fileName: `${name}.yaml`,
  };
}

/** Copies this agent's placement says run and whose node reports them running, across the fleet. */
export async function runningCopies(agent: AgentProcess): Promise<number> {
  const allocs = (await api(agent, 'GET', '/v1/allocs', undefined, 10_000)) as { state: string | null }[];
  return allocs.filter((a) => a.state === 'running').length;
}

/**
 * RSS counts the Node binary's text pages (clean, shared, reclaimable file pages) in every process; PSS splits
 * shared pages between their users; private (clean + dirty) is what only this process holds. KiB.
 */
export function memoryKb(pid: number): { rss: number; pss: number; private: number; privateDirty: number } {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? Number.NaN);
  return {
    rss: field('Rss'),
    pss: field('Pss'),
    private: field('Private_Clean') + field('Private_Dirty'),
    privateDirty: field('Private_Dirty'),
  };
}

/** Bytes this process caused to be written to storage (/proc/PID/io write_bytes). */
export function writeBytes(pid: number): number {
  return Number(/^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN);
}

export async function stop(
  agents: readonly AgentProcess[],
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  await Promise.all(
    agents.map(
      ({ child }) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.once('exit', () => {
            clearTimeout(force);
            done();
          });
          child.kill(signal);
        }),
    ),
  );
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/**
 * Exec copies outlive their agent by design (an agent restart adopts them): the bench ends the ones it made,
 * recognised by a working directory under its own scratch dir.
 */
export function killCopies(workDir: string): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readlinkSync(`/proc/${entry}/cwd`).startsWith(`${workDir}/`)) continue;
      process.kill(Number(entry), 'SIGKILL');
      killed++;
    } catch {
      // Gone already, or not ours to read.
    }
  }
  return killed;
}
