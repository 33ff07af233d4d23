import { basename } from 'node:path';
import type { Command } from 'commander';
import type {
  JobDetail,
  JobHistoryEntry,
  JobPlacement,
  JobSummary,
  RejectedJobDetail,
} from '../../node/api/types.js';
import type { ApiClient } from '../api-client.js';
import { globals } from '../globals.js';
import { ago, recordTable, render, renderRecord, shortId, table } from '../output.js';
import { watchable, withWatch } from '../watch.js';
import { readJobFile } from './job-file-read.js';
import { imageText, NO_PIN, NO_PIN_HELP } from './job-image-pin.js';
import { registerJobPlan } from './job-plan.js';
import { registerJobPromote } from './job-promote.js';
import { registerJobScaleRevert } from './job-scale-revert.js';
import { meshIsClosed, pointToStatus, signing, submitJobSource } from './job-submit.js';

const jobPath = (name: string) => `/v1/jobs/${encodeURIComponent(name)}`;

/** `meshctl job run|list|status|stop|history`: verbs under the noun, as nomad does. */
export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('submit, inspect and stop jobs');

  job
    .command('run <file>')
    .description(
      'submit a job file (YAML or JSON) and show where the local agent places it; exit 2 if some copies cannot be placed',
    )
    .option(NO_PIN, NO_PIN_HELP)
    .action(async (file: string, _opts, cmd: Command) => {
      await submitJobSource(cmd, await readJobFile(file), basename(file));
    });

  registerJobPlan(job);
  registerJobScaleRevert(job);
  registerJobPromote(job);

  job
    .command('list')
    .description('every job the mesh knows')
    .action(async (_opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const jobs = await client.get<JobSummary[]>('/v1/jobs');
      const now = Date.now();
      process.stdout.write(
        await render(
          jobs,
          [
            { header: 'NAME', value: (j) => j.name },
            { header: 'TYPE', value: (j) => j.type },
            { header: 'STATUS', value: (j) => j.status },
            { header: 'VERSION', value: (j) => String(j.version) },
            { header: 'COUNT', value: (j) => (j.count === null ? '-' : String(j.count)) },
            {
              header: 'RUNNING',
              value: (j) => (j.copies ? `${j.copies.running}/${j.copies.wanted}` : String(j.allocations)),
            },
            { header: 'SUBMITTED', value: (j) => ago(j.submittedAt, now) },
            { header: 'DETAILS', value: (j) => [j.rollout, j.reason].filter(Boolean).join('; ') || '-' },
          ],
          format,
        ),
      );
    });

  withWatch(
    job
      .command('status <name>')
      .description('a job: current version, status, who submitted it and its allocations'),
  ).action(
    watchable(async (name: string, _opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const detail = await client.get<JobDetail | RejectedJobDetail>(jobPath(name));
      if (detail.status === 'rejected') {
        if (format !== 'table') process.stdout.write(await render([], [], format, detail));
        else process.stdout.write(rejectedSection(detail));
        return;
      }
      const placement = await client
        .get<JobPlacement>(`/v1/placement/${encodeURIComponent(name)}`)
        .catch(() => undefined);
      if (format !== 'table') {
        process.stdout.write(await render([], [], format, { ...detail, placement }));
        return;
      }
      const now = Date.now();
      const image = imageText(detail.spec);
      const head = await renderRecord(
        [
          ['Name', detail.name],
          ['Status', detail.reason === undefined ? detail.status : `${detail.status}: ${detail.reason}`],
          [
            'Desired',
            `${detail.desired} (since ${ago(detail.statusSince, now)}, by ${shortId(detail.statusBy)})`,
          ],
          ['Copies', copiesLine(detail.copies)],
          ...(image === undefined ? [] : [['Image', image] as [string, string]]),
          ...(detail.rollout ? [['Rollout', detail.rollout] as [string, string]] : []),
          ['Version', String(detail.version)],
          ['Spec hash', detail.specHash.slice(0, 16)],
          ['Submitted', `${ago(detail.submittedAt, now)} by ${shortId(detail.submittedBy)}`],
          ...(detail.rejected
            ? [['Newest change', `rejected: ${detail.rejected.reason}`] as [string, string]]
            : []),
        ],
        format,
        detail,
      );
      const allocations =
        detail.allocations.length === 0
          ? 'No allocations reported yet.\n'
          : await render(
              detail.allocations,
              [
                { header: 'ALLOC', value: (a) => a.allocId },
                { header: 'NODE', value: (a) => shortId(a.node) },
                { header: 'VERSION', value: (a) => String(a.jobVersion) },
                { header: 'STATE', value: (a) => a.state },
                { header: 'HEALTH', value: (a) => a.health },
                {
                  header: 'VERDICT',
                  value: (a) => (a.verdict === undefined ? '-' : a.verdict.healthy ? 'healthy' : 'unhealthy'),
                },
                { header: 'RESTARTS', value: (a) => String(a.restarts) },
              ],
              format,
            );
      process.stdout.write(
        `${head}${rolloutSection(placement)}\nAllocations\n${allocations}${placementSection(placement)}`,
      );
    }),
  );

  job
    .command('stop <name>')
    .description('stop a job everywhere; --purge also forgets it')
    .option('--purge', 'remove the job from every view; resubmitting the name continues its version numbers')
    .action(async (name: string, opts: { purge?: boolean }, cmd: Command) => {
      const { client, format, operatorKey } = globals(cmd);
      const purge = opts.purge === true;
      const answer = await pointToStatus(
        async () => name,
        async () =>
          (await meshIsClosed(client))
            ? await signedStop(client, operatorKey, name, purge)
            : await client.post<{ name: string; outcome: string }>(`${jobPath(name)}/stop`, { purge }),
      );
      if (format !== 'table') {
        process.stdout.write(await render([], [], format, answer));
        return;
      }
      const done = purge ? 'purged' : 'stopped';
      process.stdout.write(
        answer.outcome === 'changed' ? `job "${name}" ${done}\n` : `job "${name}" was already ${done}\n`,
      );
    });

  job
    .command('history <name>')
    .description('the versions of a job, newest first, including concurrent updates that lost')
    .action(async (name: string, _opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const history = await client.get<JobHistoryEntry[]>(`${jobPath(name)}/history`);
      const now = Date.now();
      process.stdout.write(
        await render(
          history,
          [
            { header: 'VERSION', value: (v) => `${v.version}${v.current ? ' (current)' : ''}` },
            { header: 'SPEC HASH', value: (v) => v.specHash.slice(0, 16) },
            { header: 'SUBMITTED', value: (v) => ago(v.submittedAt, now) },
            { header: 'BY', value: (v) => shortId(v.submittedBy) },
          ],
          format,
        ),
      );
    });
}

async function signedStop(
  client: ApiClient,
  keyPath: string | undefined,
  name: string,
  purge: boolean,
): Promise<{ name: string; outcome: string }> {
  const { operatorSigner, signedJobChange } = await signing();
  const key = await operatorSigner(keyPath);
  const { plan } = await signedJobChange(client, key, name, { kind: purge ? 'purge' : 'stop' });
  return { name, outcome: plan.outcome };
}

function rejectedSection(detail: RejectedJobDetail): string {
  return recordTable([
    ['Name', detail.name],
    ['Status', `rejected: ${detail.rejected.reason}`],
    ['Written', `${ago(detail.rejected.at, Date.now())} by ${shortId(detail.rejected.by)}`],
  ]);
}

function copiesLine(c: JobDetail['copies']): string {
  const parts = [`${c.running}/${c.wanted} running`];
  if (c.starting > 0) parts.push(`${c.starting} starting`);
  if (c.failed > 0) parts.push(`${c.failed} failed`);
  if (c.complete > 0) parts.push(`${c.complete} complete`);
  if (c.unplaced > 0) parts.push(`${c.unplaced} unplaced`);
  if (c.held) parts.push(`${c.held} held back`);
  return parts.join(', ');
}

/** The rollout as this agent derives it: target, phase, progress, and why it failed or reverted. */
function rolloutSection(placement: JobPlacement | undefined): string {
  const r = placement?.rollout;
  if (!r) return '';
  const c = r.counts;
  const lines: [string, string][] = [
    ['Target', r.target === r.latest ? `version ${r.target}` : `version ${r.target} (newest is ${r.latest})`],
    ['State', r.phase],
    [
      'Progress',
      `${c.updated}/${c.total} updated, ${c.healthy} healthy, ${c.pending} pending, ${c.unhealthy} unhealthy`,
    ],
    ['Strategy', `maxParallel ${r.maxParallel ?? 'all'}${r.canary > 0 ? `, canary ${r.canary}` : ''}`],
  ];
  if (r.wave !== undefined)
    lines.push([
      'Wave',
      `${r.wave.index}/${r.wave.total}: ${r.wave.percent}% (${r.wave.slots} of ${c.total})`,
    ]);
  const tolerated = r.wave?.tolerated ?? [];
  if (tolerated.length > 0)
    lines.push([
      'Tolerated',
      `slots ${tolerated.join(', ')} failed within maxFailureRatio: kept on the version before`,
    ]);
  if (r.phase === 'paused') lines.push(['Promotion', `awaited: meshctl job promote ${r.job}`]);
  if (r.stopFirst !== undefined && r.stopFirst.length > 0) {
    const slots = r.stopFirst.map((s) => `slot ${s.slot} (${s.reason})`).join(', ');
    lines.push(['Surge', `none for ${slots}: no room for both copies, the old stops first`]);
  }
  if (r.failure !== undefined) {
    const what =
      r.phase === 'reverted'
        ? `version ${r.failure.version} failed, reverted to version ${r.target}`
        : `version ${r.failure.version} failed`;
    lines.push(['Failure', `${what}: ${r.failure.allocId}: ${r.failure.reason}`]);
  }
  const width = Math.max(...lines.map(([k]) => k.length));
  return `\nRollout\n${lines.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('')}`;
}

/** Where this agent's placement puts each copy, and why a copy could not be placed (per dimension). */
function placementSection(placement: JobPlacement | undefined): string {
  if (!placement) return '\nPlacement\nnot computed yet on this agent\n';
  const copies =
    placement.allocs.length === 0
      ? 'no copies placed\n'
      : table(
          [...placement.allocs],
          [
            { header: 'ALLOC', value: (a) => a.allocId },
            { header: 'NODE', value: (a) => a.nodeName },
            { header: 'VERSION', value: (a) => String(a.jobVersion) },
            {
              header: 'DESIRED',
              value: (a) => (a.notReplaced ? `${a.status} (not replaced: ${a.notReplaced})` : a.status),
            },
          ],
        );
  const stops = placement.stops.map((s) => `stop ${s.allocId} on ${s.nodeName}: ${s.reason}\n`).join('');
  const unplaced = placement.unplaced
    .map((u) => `slot ${u.slot} unplaced: ${u.reasons.join('; ') || 'no eligible node'}\n`)
    .join('');
  return `\nPlacement\n${copies}${stops}${unplaced}`;
}
