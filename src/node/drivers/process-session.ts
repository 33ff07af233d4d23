/**
 * An operator's command beside an exec-driver copy (`meshctl alloc exec`): the copy's environment (read from
 * its process, so it is what the copy really got), its directory and its user. A TTY comes from util-linux's
 * `script`, which runs the command on a new pseudo-terminal; a resize sets that terminal's size, and the kernel
 * tells the command. Killing takes the whole tree: `script` puts the command in a session of its own.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import type { ExecSession, SessionOptions } from './driver.js';
import { DriverError } from './driver-error.js';
import { type RunAs, setprivArgs } from './exec-run-as.js';
import { LAUNCH_ENV } from './proc-record.js';
import { mergeOutput } from './session-output.js';

export interface ProcessSessionSpec {
  readonly command: readonly string[];
  readonly cwd: string;
  /** The copy's process: its environment is the command's. */
  readonly copyPid: number;
  readonly runAs?: RunAs | undefined;
}

/** The environment of `pid`, without the launch id: a process carrying it would pass for the copy itself. */
function environmentOf(pid: number): Record<string, string> | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return undefined;
  }
  const env: Record<string, string> = {};
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (name !== LAUNCH_ENV) env[name] = entry.slice(eq + 1);
  }
  return env;
}

const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

export async function processSession(
  spec: ProcessSessionSpec,
  options: SessionOptions,
): Promise<ExecSession> {
  const env = environmentOf(spec.copyPid);
  if (!env) throw new DriverError('not-found', 'the copy is not running', 'start it, or read its logs');
  const [program, ...args] = spec.command;
  if (program === undefined)
    throw new DriverError('invalid-task', 'empty command', 'give at least the program');
  const size =
    options.cols && options.rows ? `stty rows ${options.rows} cols ${options.cols} 2>/dev/null; ` : '';
  const [file, argv] = options.tty
    ? ['script', ['-qfec', `${size}exec ${spec.command.map(quote).join(' ')}`, '/dev/null']]
    : [program, args];
  const [bin, binArgs] = spec.runAs ? ['setpriv', setprivArgs(spec.runAs, file, argv)] : [file, argv];
  const child = spawn(bin, binArgs, {
    cwd: spec.cwd,
    env: options.tty ? { ...env, SHELL: '/bin/sh', TERM: env.TERM ?? 'xterm' } : env,
    detached: true,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) =>
      resolve(code ?? (signal === null ? 1 : 128 + constants.signals[signal])),
    );
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) =>
      reject(new DriverError('start-failed', `cannot run ${program}: ${err.message}`, 'check the command')),
    );
  });
  child.on('error', () => {});
  child.stdin?.on('error', () => {});
  return {
    output: mergeOutput([
      { stream: 'stdout', chunks: child.stdout! },
      { stream: 'stderr', chunks: child.stderr! },
    ]),
    write: (data) =>
      new Promise((resolve) => {
        const stdin = child.stdin;
        if (!stdin || stdin.destroyed || stdin.writableEnded) return resolve();
        if (stdin.write(data)) return resolve();
        const done = () => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      }),
    endInput: () => child.stdin?.end(),
    resize: async (cols, rows) => {
      if (options.tty) await resizeTerminal(child, cols, rows);
    },
    exitCode: () => exited,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      killTree(child.pid);
      await exited;
    },
  };
}

/** `pid` and every process below it, parents first (Linux's `children` lists, per thread). */
function treeOf(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length && all.length < 4096; i++) {
    try {
      const text = readFileSync(`/proc/${all[i]}/task/${all[i]}/children`, 'utf8');
      for (const child of text.trim().split(/\s+/)) if (child) all.push(Number(child));
    } catch {}
  }
  return all;
}

/** SIGKILL to `pid` and all below it, deepest first, so none is left to an init that never reaps it. */
export function killTree(pid: number): void {
  for (const each of treeOf(pid).reverse()) {
    try {
      process.kill(each, 'SIGKILL');
    } catch {}
  }
}

/** Sets the size of the terminal `script` made (its child's stdin); the kernel sends the command SIGWINCH. */
async function resizeTerminal(child: ChildProcess, cols: number, rows: number): Promise<void> {
  const inner = child.pid === undefined ? undefined : treeOf(child.pid)[1];
  if (inner === undefined) return;
  let tty: string;
  try {
    tty = readlinkSync(`/proc/${inner}/fd/0`);
  } catch {
    return;
  }
  if (!/^\/dev\/pts\/\d+$/.test(tty)) return;
  await new Promise<void>((resolve) => {
    execFile('stty', ['-F', tty, 'rows', String(rows), 'cols', String(cols)], { timeout: 2_000 }, () =>
      resolve(),
    );
  });
}
