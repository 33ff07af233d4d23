import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { parseDuration } from '../lib/duration.js';
import { CliError } from './api-client.js';
import type { Globals } from './globals.js';

const MIN_INTERVAL_MS = 500;
const CLEAR = '\x1b[H\x1b[2J';

/** Adds `--watch` and `--interval` to a command whose action is wrapped in `watchable`. */
export function withWatch(command: Command): Command {
  return command
    .option('-w, --watch', 'redraw in place every --interval until Ctrl-C (tables only)')
    .option('--interval <duration>', 'time between redraws with --watch, e.g. 5s (at least 500ms)', '2s');
}

/**
 * With `--watch`, the action runs again every interval and each run's output replaces the screen at once
 * (collected first, so a slow agent never leaves a half-drawn table); an error is shown in place and the next
 * run tries again. Ctrl-C ends it with exit code 0. Tables only: a JSON reader wants changes, which
 * `meshctl events -o json` streams.
 */
export function watchable<A extends unknown[]>(
  action: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args.at(-1) as Command;
    const opts = cmd.optsWithGlobals<Globals & { watch?: boolean; interval: string }>();
    if (!opts.watch) return action(...args);
    if (opts.output !== 'table')
      throw new CliError('--watch redraws a table; for a stream of changes use meshctl events -o json', 2);
    const interval = parseDuration(opts.interval);
    if (!interval.ok) throw new CliError(`--interval: ${interval.error}`, 2);
    const ms = Math.max(MIN_INTERVAL_MS, interval.ms);
    const stopped = new AbortController();
    const stop = () => stopped.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const title = `Every ${ms / 1000}s: meshctl ${process.argv.slice(2).join(' ')}`;
    try {
      while (!stopped.signal.aborted) {
        const text = await collected(() => action(...args));
        if (stopped.signal.aborted) break;
        process.stdout.write(`${CLEAR}${title}    ${new Date().toISOString()}\n\n${text}`);
        await sleep(ms, undefined, { signal: stopped.signal }).catch(() => undefined);
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  };
}

/** What `fn` prints on stdout, held back instead (an error it throws, as its last line): it never rejects. */
async function collected(fn: () => Promise<void>): Promise<string> {
  const write = process.stdout.write;
  let text = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  try {
    await fn();
  } catch (err) {
    text += `meshctl: ${(err as Error).message}\n`;
  } finally {
    process.stdout.write = write;
  }
  return text;
}
