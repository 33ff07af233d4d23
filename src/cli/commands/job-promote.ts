import type { Command } from 'commander';
import type { JobDetail } from '../../node/api/types.js';
import { CliError } from '../api-client.js';
import { globals } from '../globals.js';
import { render } from '../output.js';
import { meshIsClosed, pointToStatus, signing } from './job-submit.js';

/** What the agent answers to a promotion, signed or not. */
interface PromoteAnswer {
  readonly name: string;
  readonly outcome: string;
  readonly version?: number;
}

/**
 * `meshctl job promote NAME`: lets a rollout that waits for an operator (`update.autoPromote: false`) go past
 * its canaries or first wave. The promotion is an event in the job log (signed in a closed mesh, like `job
 * stop`), so every device's rollout derives it from its replica; a version promoted before its first wave is
 * healthy goes on as soon as it is.
 */
export function registerJobPromote(job: Command): void {
  job
    .command('promote <name>')
    .description('let a rollout that waits for promotion (update.autoPromote: false) go past its first wave')
    .action(async (name: string, _opts, cmd: Command) => {
      const { client, format, operatorKey } = globals(cmd);
      const path = `/v1/jobs/${encodeURIComponent(name)}`;
      const detail = await client.get<JobDetail>(path);
      const refusal = promoteRefusal(name, detail.version, detail.spec);
      if (refusal !== undefined) throw new CliError(refusal, 1);
      const answer = await pointToStatus<PromoteAnswer>(
        async () => name,
        async () => {
          if (!(await meshIsClosed(client))) return client.post<PromoteAnswer>(`${path}/promote`, {});
          const { operatorSigner, signedJobChange } = await signing();
          // The version this command read: an agent must not get another one's promotion signed.
          const { plan } = await signedJobChange(client, await operatorSigner(operatorKey), name, {
            kind: 'promote',
            version: detail.version,
          });
          return { name, outcome: plan.outcome };
        },
      );
      if (format !== 'table') {
        process.stdout.write(await render([], [], format, { ...answer, version: detail.version }));
        return;
      }
      process.stdout.write(
        answer.outcome === 'changed'
          ? `job "${name}" version ${detail.version} promoted: its rollout goes on once its first wave is healthy\n`
          : `job "${name}" version ${detail.version} was already promoted\n`,
      );
    });
}

/** Why promoting this version would change nothing, said before anything is signed or written. */
export function promoteRefusal(name: string, version: number, spec: unknown): string | undefined {
  const update = (spec as { update?: { autoPromote?: unknown } } | null)?.update;
  if (update?.autoPromote === false) return undefined;
  return `job "${name}" version ${version} does not wait for promotion: its update block does not set autoPromote: false`;
}
