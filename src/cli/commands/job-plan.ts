import { basename } from 'node:path';
import type { Command } from 'commander';
import type { JobPlanAnswer, SpecChange } from '../../node/api/types.js';
import { CliError } from '../api-client.js';
import { globals } from '../globals.js';
import { render } from '../output.js';
import { readJobFile } from './job-file-read.js';
import { NO_PIN, NO_PIN_HELP, pinJobSource } from './job-image-pin.js';
import { placementLines, reasonText, summarize } from './job-run-outcome.js';

/**
 * `meshctl job plan FILE`, Nomad's `job plan`: what `job run` would do, nothing submitted. The version the file
 * would become, the fields it changes, and the agent's placement of it; exit 2 when some copies cannot be placed.
 */
export function registerJobPlan(job: Command): void {
  job
    .command('plan <file>')
    .description(
      'show what job run would do without submitting: the changes against the current version and where the copies would go; exit 2 if some cannot be placed',
    )
    .option(NO_PIN, NO_PIN_HELP)
    .action(async (file: string, _opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      // Pinned as job run would pin it, so a tag moved since the current version shows as an image change.
      const source = await pinJobSource(
        client,
        await readJobFile(file),
        basename(file),
        cmd.opts<{ pin?: boolean }>().pin !== false,
      );
      const answer = await client.post<JobPlanAnswer>('/v1/job-plans', { source, fileName: basename(file) });
      const placement = summarize(answer.placement);
      if (format !== 'table')
        process.stdout.write(await render([], [], format, { ...answer, summary: placement }));
      else
        process.stdout.write(
          `${headLine(answer)}${changeLines(answer)}${placementLines(answer.name, placement)}`,
        );
      if (placement.unreadable !== undefined)
        throw new CliError(`job "${answer.name}" could not be placed: ${placement.unreadable}`, 2);
      if (placement.unplaced.length > 0)
        throw new CliError(
          `${placement.unplaced.length} of ${placement.count} copies of job "${answer.name}" could not be placed: ${reasonText(placement.unplaced[0]!.reasons)}`,
          2,
        );
    });
}

function headLine(a: JobPlanAnswer): string {
  const now = a.currentVersion === null ? 'a new job' : `now version ${a.currentVersion}`;
  const what = {
    created: `would be created as version ${a.version}`,
    updated: `would be updated to version ${a.version} (${now})`,
    started: `would be started again as version ${a.version}`,
    unchanged: `is unchanged (version ${a.version}): job run would change nothing`,
  };
  return `job "${a.name}" ${what[a.outcome]}\n`;
}

function changeLines(a: JobPlanAnswer): string {
  if (a.currentVersion === null || a.changes.length === 0) return '';
  const more = a.moreChanges > 0 ? `  ... and ${a.moreChanges} more\n` : '';
  return `changes:\n${a.changes.map((c) => `  ${change(c)}\n`).join('')}${more}`;
}

function change(c: SpecChange): string {
  const show = (v: unknown) => JSON.stringify(v);
  if (!('from' in c)) return `+ ${c.field}: ${show(c.to)}`;
  if (!('to' in c)) return `- ${c.field}: ${show(c.from)}`;
  return `~ ${c.field}: ${show(c.from)} => ${show(c.to)}`;
}
