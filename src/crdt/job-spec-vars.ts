/**
 * The job spec's `vars:` field: the encrypted variables (`meshctl var put`) the job's copies may read, as
 * `${var:PATH:KEY}` in `env` values. Listing a path is the grant: a device is sealed a variable's key only when
 * it may run a job that lists it (node/placement/var-recipients.ts), so a reference to a path the job does not
 * list could never be filled in and is refused at submission. Optional with no default, so specs written
 * before the field existed keep their hash.
 */
import * as z from 'zod';
import { varReferences } from './interpolation.js';
import { varPathProblem } from './var-entries.js';

const VARS_LIMIT = 16;

const varPath = z.string().superRefine((path, ctx) => {
  const problem = varPathProblem(path);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: path });
});

export const varsFields = {
  vars: z
    .array(varPath)
    .max(VARS_LIMIT)
    .optional()
    .meta({
      description:
        `Paths of encrypted variables (meshctl var put) this job may read, as \${var:PATH:KEY} in env values. ` +
        'Only devices that may run the job can open them; a copy restarts when a variable it reads changes.',
    }),
};

type Issue = (path: (string | number)[], message: string) => void;

/** Every `${var:...}` is in env and names a listed path; paths are listed once. */
export function checkVarRules(
  job: {
    vars?: readonly string[] | undefined;
    env: Readonly<Record<string, string>>;
    args: readonly string[];
  },
  issue: Issue,
): void {
  const granted = new Set<string>();
  (job.vars ?? []).forEach((path, index) => {
    if (granted.has(path)) issue(['vars', index], `duplicate variable "${path}"`);
    granted.add(path);
  });
  for (const [name, value] of Object.entries(job.env)) {
    for (const ref of varReferences(value)) {
      if (!granted.has(ref.path))
        issue(
          ['env', name],
          `reads variable "${ref.path}", which the job is not granted: add it under vars (vars: [${ref.path}])`,
        );
    }
  }
  job.args.forEach((arg, index) => {
    if (varReferences(arg).length > 0)
      issue(
        ['args', index],
        'variables may be read in env only: args are visible to every user of the device (ps); pass it as an env value',
      );
  });
}
