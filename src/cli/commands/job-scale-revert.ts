import type { Command } from 'commander';
import type { JobDetail, JobHistoryEntry } from '../../node/api/types.js';
import { CliError } from '../api-client.js';
import { globals } from '../globals.js';
import { NO_PIN, NO_PIN_HELP } from './job-image-pin.js';
import { submitJobSource } from './job-submit.js';

const jobPath = (name: string) => `/v1/jobs/${encodeURIComponent(name)}`;

/**
 * `meshctl job scale NAME COUNT` and `job revert NAME VERSION`: each submits a new version built from a stored
 * spec (the current one with another count, or an earlier one as it was), signed and placed like `job run`, so
 * history, rollouts and signatures treat it as any other version.
 */
export function registerJobScaleRevert(job: Command): void {
  job
    .command('scale <name> <count>')
    .description('submit the current spec with another count, as a new version (rolled out as the job says)')
    .option(NO_PIN, NO_PIN_HELP)
    .action(async (name: string, countText: string, _opts, cmd: Command) => {
      if (!/^\d{1,5}$/.test(countText))
        throw new CliError(`count must be a whole number of copies, not "${countText}"`, 2);
      const { client } = globals(cmd);
      const current = await client.get<JobDetail>(jobPath(name));
      await submitSpec(cmd, name, { ...(await asInput(current.spec)), count: Number(countText) });
    });

  job
    .command('revert <name> <version>')
    .description('submit an earlier version of the job again, as its next version')
    .option(NO_PIN, NO_PIN_HELP)
    .action(async (name: string, versionText: string, _opts, cmd: Command) => {
      if (!/^[1-9]\d{0,8}$/.test(versionText))
        throw new CliError(
          `version must be a version number from meshctl job history, not "${versionText}"`,
          2,
        );
      const { client } = globals(cmd);
      const earlier = await client.get<JobHistoryEntry & { spec: unknown }>(
        `${jobPath(name)}/versions/${versionText}`,
      );
      await submitSpec(cmd, name, await asInput(earlier.spec));
    });
}

/** A stored (normalised) spec back in the form a job file has, durations as text. */
async function asInput(spec: unknown): Promise<Record<string, unknown>> {
  const [{ readJobSpec }, { jobSpecToInput }] = await Promise.all([
    import('../../crdt/job-specs.js'),
    import('../../crdt/job-spec.js'),
  ]);
  const read = readJobSpec({ spec: spec as never });
  if (!read.ok) throw new CliError(`this meshctl cannot read the stored spec: ${read.error}`);
  return jobSpecToInput(read.value) as Record<string, unknown>;
}

async function submitSpec(cmd: Command, name: string, input: Record<string, unknown>): Promise<void> {
  await submitJobSource(cmd, `${JSON.stringify(input, null, 2)}\n`, `${name}.json`);
}
