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
      if (!/^\d+$/.test(countText))
        throw new CliError(`count must be a whole number of copies, not "${countText}"`, 2);
      const { client } = globals(cmd);
      const current = await client.get<JobDetail>(jobPath(name));
      const input = await asInput(current.spec);
      const { LIMITS } = await import('../../crdt/job-spec.js');
      const refusal = scaleRefusal(name, input.type, Number(countText), LIMITS.count);
      if (refusal !== undefined) throw new CliError(refusal, 2);
      await submitSpec(cmd, name, { ...input, count: Number(countText) });
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

/**
 * Why `job scale` cannot give this job this count, said here rather than as a validation error at a line of a
 * spec file the operator never wrote.
 */
export function scaleRefusal(name: string, type: unknown, count: number, max: number): string | undefined {
  if (type === 'system')
    return `job "${name}" is a system job: it runs one copy on every eligible device and has no count to scale (its constraints choose the devices)`;
  if (type === 'periodic')
    return `job "${name}" is a periodic job: each run is one copy and it has no count to scale (its schedule says how often)`;
  if (count > max) return `count must be at most ${max}, not ${count}`;
  return undefined;
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
