import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { CliError } from '../api-client.js';
import { globals } from '../globals.js';

interface UiOptions {
  printUrl?: boolean;
}

/**
 * `meshctl ui [--print-url]`: a one-time login link to the agent's dashboard, opened in the browser (or printed).
 * The link works once, within a minute; the browser then holds a read-only session cookie, never the API token.
 */
export function registerUiCommand(program: Command): void {
  program
    .command('ui')
    .description("open the agent's dashboard in a browser, logged in (read-only) with a one-time link")
    .option('--print-url', 'print the link instead of opening a browser')
    .action(async (opts: UiOptions, cmd: Command) => {
      const { api, remoteToken } = cmd.optsWithGlobals<{ api: string; remoteToken?: string }>();
      if (remoteToken)
        throw new CliError(
          "the dashboard is served on the agent's own API: run meshctl ui with --api, not --remote-token",
          2,
        );
      const { client } = globals(cmd);
      const { path } = await client.post<{ path: string }>('/v1/ui/login', {});
      const url = new URL(path, api.endsWith('/') ? api : `${api}/`).toString();
      if (opts.printUrl || !openBrowser(url)) {
        process.stdout.write(`${url}\n`);
        return;
      }
      process.stdout.write(
        `opened ${new URL('/ui', url)} in your browser (the login link works once, within a minute)\n`,
      );
    });
}

/** xdg-open (Linux) or open (macOS), detached; false when there is none to run. */
function openBrowser(url: string): boolean {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  if (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY && process.platform !== 'darwin') return false;
  try {
    const child = spawn(opener, [url], { detached: true, stdio: 'ignore' });
    child.on('error', () => process.stdout.write(`${url}\n`));
    child.unref();
    return true;
  } catch {
    return false;
  }
}
