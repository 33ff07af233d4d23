import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MESHD = resolve(ROOT, 'dist/meshd.mjs');
export const MESHCTL = resolve(ROOT, 'dist/meshctl.mjs');

const run = promisify(execFile);

/** Builds the single-file bundles the CLI tests run, so they always test the current source. */
export async function bundle(): Promise<void> {
  await run(process.execPath, [resolve(ROOT, 'scripts/bundle.mjs')], { cwd: ROOT });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function meshctl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MESHCTL, ...args], {
      env: { ...process.env, ...env },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * The V8 flags meshd's shebang runs it with (small young generation, one thread): spawning the bundle with
 * `node` drops them, and a test of the agent's memory should measure the agent as shipped.
 */
export function shippedNodeFlags(): string[] {
  const shebang = readFileSync(MESHD, 'utf8').slice(0, 200).split('\n')[0] ?? '';
  return shebang.split(/\s+/).filter((word) => word.startsWith('--'));
}

export function spawnMeshd(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeFlags: string[] = [],
): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [...nodeFlags, MESHD, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  return Object.assign(child, { output: () => output });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
}
