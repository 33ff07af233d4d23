import type { Command } from 'commander';
import type { AllocRow } from '../../node/placement-service.js';
import type { AllocDetail } from '../../node/routes/alloc-routes.js';
import { globals } from '../globals.js';
import { ago, render, renderRecord, shortId } from '../output.js';

/** `meshctl alloc list [--job NAME]`: the placement every agent computes, as this agent sees it. */
export function registerAllocCommands(program: Command): void {
  const alloc = program.command('alloc').description('allocations: the copies of jobs and where they run');
  alloc
    .command('list')
    .description('every allocation the placement wants running, unreachable or stopped')
    .option('--job <name>', 'only the allocations of this job')
    .action(async (opts: { job?: string }, cmd: Command) => {
      const { client, format: output } = globals(cmd);
      const query = opts.job === undefined ? '' : `?job=${encodeURIComponent(opts.job)}`;
      const rows = await client.get<AllocRow[]>(`/v1/allocs${query}`);
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

  alloc
    .command('status <id>')
    .description('one allocation: its state and health, where it runs, and its recent events with reasons')
    .action(async (id: string, _opts, cmd: Command) => {
      const { client, format: output } = globals(cmd);
      const detail = await client.get<AllocDetail>(`/v1/allocs/${encodeURIComponent(id)}`);
      if (output !== 'table') {
        process.stdout.write(render([], [], output, detail));
        return;
      }
      const now = Date.now();
      const s = detail.status;
      const desired = detail.desired
        ? 'reason' in detail.desired
          ? `stop (${detail.desired.reason})`
          : detail.desired.desired
        : '-';
      const head = renderRecord(
        [
          ['Alloc ID', detail.allocId],
          ['Job', s ? `${s.job} v${s.jobVersion}` : (detail.desired?.job ?? '-')],
          ['Node', detail.owner ? `${detail.owner.name} (${shortId(detail.owner.peerId)})` : '-'],
          ['State', s ? s.state : 'not reported yet'],
          ['Health', s?.health ?? '-'],
          [
            'Verdict',
            s?.verdict === undefined
              ? 'not judged yet'
              : `${s.verdict.healthy ? 'healthy' : 'unhealthy'} (${ago(s.verdict.at, now)}${
                  s.verdict.reason ? `: ${s.verdict.reason}` : ''
                })`,
          ],
          ['Started', s?.startedAt ? ago(s.startedAt, now) : '-'],
          ['Restarts', s ? String(s.restarts) : '-'],
          ['Last error', s?.lastError ?? '-'],
          ['Desired', desired],
        ],
        'table',
        detail,
      );
      const events =
        detail.events === null
          ? `Events are kept by the node that runs it; ask its agent: meshctl --api <its API> alloc status ${id}\n`
          : detail.events.length === 0
            ? 'No events yet.\n'
            : render(
                [...detail.events].reverse(),
                [
                  { header: 'WHEN', value: (e) => ago(e.at, now) },
                  { header: 'EVENT', value: (e) => e.kind },
                  { header: 'REASON', value: (e) => e.reason ?? '' },
                ],
                'table',
              );
      process.stdout.write(`${head}\nRecent events\n${events}`);
    });
}
