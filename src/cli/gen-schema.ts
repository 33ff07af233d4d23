/**
 * Writes the JSON Schema editors use to check and complete job files (`npm run schema`). It is generated
 * from the same zod source meshctl validates with, on the input side, so editors see the form users
 * write: durations as strings, defaults optional. Keys are sorted so the committed file diffs cleanly.
 */
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import * as z from 'zod';
import { canonicalJson } from '../crdt/canonical-json.js';
import { jobSpecSchema } from '../crdt/job-spec.js';
import { parseJson } from '../lib/json-text.js';

export const JOB_SCHEMA_PATH = 'schema/job.schema.json';

export function renderJobSchema(): string {
  const schema = z.toJSONSchema(jobSpecSchema, { io: 'input', target: 'draft-2020-12' });
  return `${JSON.stringify(parseJson(canonicalJson(schema)), null, 2)}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = process.argv[2] ?? JOB_SCHEMA_PATH;
  await writeFile(out, renderJobSchema());
  console.log(`wrote ${out}`);
}
