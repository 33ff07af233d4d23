import type { Command } from 'commander';
import type { SubmitAnswer, TrustInfo } from '../../node/api/types.js';
import { type ApiClient, CliError, OutcomeUnknown } from '../api-client.js';
import { globals } from '../globals.js';
import { render } from '../output.js';
import { pinJobSource } from './job-image-pin.js';
import { placementFailure, placementLines, placementOfVersion } from './job-run-outcome.js';

/** In a closed mesh every job change is signed here; the signing code loads only then. */
export const signing = () => import('../signing.js');
export const meshIsClosed = async (client: ApiClient) => (await client.get<TrustInfo>('/v1/trust')).closed;

/**
 * Submits a job source as `job run` does (signed in a closed mesh), prints the version and where the local agent
 * placed it, and fails with exit 2 when some copies cannot be placed. A docker image is pinned to its digest
 * first (job-image-pin.ts) unless the command was given --no-pin. `job scale` and `job revert` submit through
 * here too, so each is one signed version like any other.
 */
export async function submitJobSource(cmd: Command, written: string, fileName: string): Promise<void> {
  const { client, format, operatorKey } = globals(cmd);
  const source = await pinJobSource(client, written, fileName, cmd.opts<{ pin?: boolean }>().pin !== false);
  const answer = await pointToStatus(
    async () => {
      const { parseJobFile } = await import('../../crdt/job-file.js');
      const parsed = parseJobFile(source, fileName);
      return parsed.ok ? parsed.spec.name : 'NAME';
    },
    async () =>
      (await meshIsClosed(client))
        ? await signedSubmit(client, operatorKey, source, fileName)
        : await client.post<SubmitAnswer>('/v1/jobs', { source, fileName }),
  );
  const placement = await placementOfVersion(client, answer.name, answer.version);
  if (format !== 'table') process.stdout.write(await render([], [], format, { ...answer, placement }));
  else {
    const how = {
      created: 'submitted',
      updated: 'submitted',
      started: 'started again',
      unchanged: 'unchanged',
    };
    process.stdout.write(
      `job "${answer.name}" version ${answer.version} ${how[answer.outcome]}\n${placementLines(answer.name, placement)}`,
    );
  }
  const failure = placementFailure(answer.name, placement);
  if (failure) throw failure;
}

/** Runs a job change; when its outcome is unknown, says where to look (resubmitting the same spec is harmless). */
export async function pointToStatus<T>(name: () => Promise<string>, change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (err) {
    if (!(err instanceof OutcomeUnknown)) throw err;
    throw new CliError(`${err.message}; check with \`meshctl job status ${await name()}\``, err.exitCode);
  }
}

/** A closed mesh: the spec is parsed here too, so the operator signs exactly the spec in the file. */
async function signedSubmit(
  client: ApiClient,
  keyPath: string | undefined,
  source: string,
  fileName: string,
): Promise<SubmitAnswer> {
  const { operatorSigner, signedJobChange } = await signing();
  const key = await operatorSigner(keyPath);
  const { parseJobFile } = await import('../../crdt/job-file.js');
  const parsed = parseJobFile(source, fileName);
  // The agent explains a bad file with the same parser; send it on so the error reads the same either way.
  const name = parsed.ok ? parsed.spec.name : '_';
  const spec = parsed.ok ? parsed.spec : undefined;
  const { plan } = await signedJobChange(client, key, name, { kind: 'submit', source, fileName, spec });
  // Devices the job makes eligible for its variables get their seals from the operator now (docs/security.md);
  // the job is submitted either way, so a seal that fails is a warning, not the command's failure.
  if (spec?.vars?.length)
    await (await import('./var-actions.js'))
      .sealPending(client, key, spec.vars)
      .catch((err: unknown) => process.stderr.write(`meshctl: warning: ${(err as Error).message}\n`));
  return { name, version: plan.version ?? 0, outcome: plan.outcome as SubmitAnswer['outcome'] };
}
