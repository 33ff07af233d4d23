import type { Command } from 'commander';
import type { AllocRow } from '../../node/placement-service.js';
import { apiClient } from '../api-client.js';
import { type OutputFormat, render, shortId } from '../output.js';

/** `meshctl alloc list [--job NAME]`: the placement every agent computes, as this agent sees it. */
export function registerAllocCommands(program: Command): void {
  const alloc = program.command('alloc').description('allocations: the copies of jobs and where they run');
  alloc
    .command('list')
    .description('every allocation the placement wants running, unreachable or stopped')
    .option('--job <name>', 'only the allocations of this job')
    .action(async (opts: { job?: string }, cmd: Command) => {
      const { api, output } = cmd.optsWithGlobals<{ api: string; output: OutputFormat }>();
      const query = opts.job === undefined ? '' : `?job=${encodeURIComponent(opts.job)}`;
      const rows = await apiClient(api).get<AllocRow[]>(`/v1/allocs${query}`);
      process.stdout.write(
        render(
          rows,
          [
            { header: 'ALLOC ID', value: (r) => r.allocId },
            { header: 'JOB', value: (r) => r.job },
            { header: 'VERSION', value: (r) => String(r.jobVersion) },
            { header: 'NODE', value: (r) => (r.nodeName === r.node ? shortId(r.node) : r.nodeName) },
            {
              header: 'DESIRED',
              value: (r) => ('reason' in r ? `stop (${r.reason})` : r.desired),
            },
          ],
          output,
        ),
      );
    });
}
